"""What every LLM client builder does: the model name, the key (the config's own
or the server's), the guarded HTTP client of a tenant URL, and the wrapping into a
``PydanticAILLM`` (the key rules are ``providers.keys``')."""

from typing import Any

from pydantic_ai.models import Model

from threadline.providers.base import LLMError
from threadline.providers.keys import (
    _KEY_SETTING,
    OVERRIDE_HINT,
    ServerKeys,
    client_limits,
    not_configured,
    secret,
)
from threadline.providers.pai import CallDefaults, PydanticAILLM

JsonDict = dict[str, Any]


def model_name(config: JsonDict, provider: str) -> str:
    model = str(config.get("model") or "").strip()
    if not model:
        raise not_configured(
            f"{config.get('type')} (provider {provider!r}) has no model: fill "
            "llms_config.model, " + OVERRIDE_HINT
        )
    return model


def key_of(config: JsonDict, keys: ServerKeys, provider: str) -> tuple[str, bool]:
    own = secret(config.get("api_key"))
    if own:
        return own, True
    server = keys.api_keys.get(provider, "")
    if server:
        return server, False
    raise not_configured(
        f"{config.get('type')} (provider {provider!r}) has no API key: fill "
        f"llms_config.api_key (the team's key) or set {_KEY_SETTING[provider]} "
        "(the server's key), " + OVERRIDE_HINT
    )


def own_key(config: JsonDict, provider: str, field: str) -> str:
    """The config's own key, for a URL the tenant chose (never a server key)."""
    own = secret(config.get("api_key"))
    if own:
        return own
    setting = _KEY_SETTING.get(provider, "the server's key")
    raise not_configured(
        f"{config.get('type')} (provider {provider!r}) names its own {field} "
        f"{config.get(field)!r} but has no API key: fill llms_config.api_key or "
        f"store the team's {provider} credential. The server's key ({setting}) is "
        "only sent to endpoints the operator configured"
    )


def guarded_client(keys: ServerKeys, config: JsonDict, url: str) -> Any:
    """The HTTP client for a tenant URL: every connection through the SSRF guard."""
    if keys.guard is None:
        raise LLMError(
            f"{config.get('type')} names its own endpoint {url!r}, and this server "
            "checks no tenant LLM endpoints (no SSRF guard configured): refused",
            code="llm_address_refused",
        )
    timeout, _ = client_limits(config)
    return keys.guard.http_client(
        timeout=timeout, verify=config.get("verify_ssl") is not False
    )


def wrap(
    model: Model,
    config: JsonDict,
    keys: ServerKeys,
    *,
    provider: str,
    user_key: bool,
    url: str,
    secrets: tuple[str, ...],
    extra: JsonDict | None = None,
) -> PydanticAILLM:
    timeout, retries = client_limits(config)
    return PydanticAILLM(
        model,
        provider=provider,
        user_key=user_key,
        url=url,
        secrets=secrets,
        extra={"key_source": "user" if user_key else "fallback", **(extra or {})},
        defaults=CallDefaults(
            backoff=keys.backoff, max_retries=retries, timeout_s=timeout
        ),
    )
