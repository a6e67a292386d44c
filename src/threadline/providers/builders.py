"""Builds the pydantic-ai client that serves one LLM config (see ``keys``).

One builder per config ``type``; ``build_client(config, keys)`` dispatches. The key,
endpoint and accounting rules are described in ``providers.keys``.
"""

from typing import Any

from pydantic_ai.models import Model

from threadline.providers.base import LLMError
from threadline.providers.keys import (
    _KEY_SETTING,
    AZURE_API_VERSION,
    OVERRIDE_HINT,
    ServerKeys,
    client_limits,
    not_configured,
    resolve_default,
    secret,
)
from threadline.providers.pai import CallDefaults, PydanticAILLM

JsonDict = dict[str, Any]


def build_client(config: JsonDict, keys: ServerKeys) -> PydanticAILLM:
    """The client serving one single LLM config (see the module docstring)."""
    if keys.override_url:
        return _override(config, keys)
    kind = str(config.get("type") or "no_llm")
    if kind == "global_default_llm":
        config = resolve_default(config, keys)
        kind = str(config.get("type"))
        if kind == "global_default_llm":
            raise not_configured("THREADLINE_DEFAULT_LLM may not be global_default_llm")
    if kind == "no_llm":
        raise not_configured(
            "no LLM is configured: this node has no LLM (llms_config type 'no_llm'); "
            "set the node's or the workflow's llms_config, " + OVERRIDE_HINT
        )
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise not_configured(
            f"LLM config type {kind!r} (provider {config.get('provider')!r}) is not "
            "known: use openai_llm, azure_openai_llm, anthropic_llm, google_llm, "
            "bedrock_llm or custom_llm, " + OVERRIDE_HINT
        )
    return builder(config, keys)


def _model_name(config: JsonDict, provider: str) -> str:
    model = str(config.get("model") or "").strip()
    if not model:
        raise not_configured(
            f"{config.get('type')} (provider {provider!r}) has no model: fill "
            "llms_config.model, " + OVERRIDE_HINT
        )
    return model


def _key(config: JsonDict, keys: ServerKeys, provider: str) -> tuple[str, bool]:
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


def _own_key(config: JsonDict, provider: str, field: str) -> str:
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


def _guarded_client(keys: ServerKeys, config: JsonDict, url: str) -> Any:
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


def _wrap(
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


def warm_up() -> None:
    """Import the OpenAI-compatible client stack now, at start-up.

    Imported lazily inside a running service, it blocks the event loop for seconds
    (heartbeats included) on the first LLM call.
    """
    import httpx2  # noqa: F401
    from pydantic_ai.models.openai import OpenAIChatModel  # noqa: F401
    from pydantic_ai.profiles.openai import OpenAIModelProfile  # noqa: F401
    from pydantic_ai.providers.openai import OpenAIProvider  # noqa: F401

    from threadline.providers import openai_fast, openai_wire  # noqa: F401


def _openai_compatible(
    config: JsonDict,
    keys: ServerKeys,
    *,
    base_url: str | None,
    key: str,
    model: str,
    provider: str,
    user_key: bool,
    extra: JsonDict | None = None,
    tenant_url: bool = False,
) -> PydanticAILLM:
    import httpx2
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.profiles.openai import OpenAIModelProfile
    from pydantic_ai.providers.openai import OpenAIProvider

    from threadline.providers.openai_fast import FastLane
    from threadline.providers.openai_wire import FastAsyncOpenAI

    timeout, _ = client_limits(config)
    headers = {str(k): str(v) for k, v in (config.get("default_headers") or {}).items()}
    http_client = None
    if tenant_url:
        http_client = _guarded_client(keys, config, str(base_url))
    elif config.get("verify_ssl") is False:
        http_client = httpx2.AsyncClient(verify=False, timeout=timeout)
    client = FastAsyncOpenAI(
        api_key=key or "none",
        base_url=base_url,
        organization=config.get("organization") or None,
        default_headers=headers or None,
        max_retries=0,
        timeout=timeout,
        http_client=http_client,
    )
    profile = None
    if provider != "openai":
        # Generic OpenAI-compatible servers (Ollama, vLLM, llama.cpp) know
        # ``max_tokens`` but not always ``max_completion_tokens`` or strict tools.
        profile = OpenAIModelProfile(
            openai_chat_supports_max_completion_tokens=False,
            openai_supports_strict_tool_definition=False,
        )
    model_obj = OpenAIChatModel(
        model, provider=OpenAIProvider(openai_client=client), profile=profile
    )
    url = str(client.base_url).rstrip("/") + "/chat/completions"
    llm = _wrap(
        model_obj,
        config,
        keys,
        provider=provider,
        user_key=user_key,
        url=url,
        secrets=(key,),
        extra=extra,
    )
    llm.fast = FastLane(client, model_obj, url, own_client=http_client is None)
    return llm


def _override(config: JsonDict, keys: ServerKeys) -> PydanticAILLM:
    model = keys.override_model or str(config.get("model") or "") or "default"
    configured = str(config.get("provider") or config.get("type") or "")
    llm = _openai_compatible(
        config,
        keys,
        base_url=keys.override_url,
        key=keys.api_keys.get("override", ""),
        model=model,
        provider="override",
        user_key=False,
        extra={"configured_provider": configured},
    )
    llm.extra["key_source"] = "override"
    return llm


def _openai(config: JsonDict, keys: ServerKeys) -> PydanticAILLM:
    model = _model_name(config, "openai")
    own_url = config.get("base_url")
    if keys.is_tenant_url(own_url):
        key, user_key = _own_key(config, "openai", "base_url"), True
    else:
        key, user_key = _key(config, keys, "openai")
    return _openai_compatible(
        config,
        keys,
        base_url=own_url or keys.endpoints.get("openai"),
        key=key,
        model=model,
        provider="openai",
        user_key=user_key,
        tenant_url=keys.is_tenant_url(own_url),
    )


def _custom(config: JsonDict, keys: ServerKeys) -> PydanticAILLM:
    base_url = str(config.get("base_url") or "")
    if not base_url:
        raise not_configured(
            "custom_llm (provider 'custom') has no base_url: fill llms_config.base_url "
            "with an OpenAI-compatible endpoint (e.g. http://localhost:11434/v1), "
            + OVERRIDE_HINT
        )
    own = secret(config.get("api_key"))
    tenant = keys.is_tenant_url(base_url)
    # A tenant's gateway gets its own key or none (Ollama, vLLM), never ours.
    server = "" if tenant else keys.api_keys.get("custom", "")
    return _openai_compatible(
        config,
        keys,
        base_url=base_url,
        key=own or server,
        model=str(config.get("model") or "default"),
        provider="custom",
        user_key=bool(own),
        tenant_url=tenant,
    )


def _azure(config: JsonDict, keys: ServerKeys) -> PydanticAILLM:
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.azure import AzureProvider

    from threadline.providers.openai_wire import FastAsyncAzureOpenAI

    model = _model_name(config, "azure_openai")
    endpoint = str(config.get("endpoint") or keys.azure_openai_endpoint or "")
    if not endpoint:
        raise not_configured(
            "azure_openai_llm (provider 'azure_openai') has no endpoint: fill "
            "llms_config.endpoint or set THREADLINE_AZURE_OPENAI_ENDPOINT, "
            + OVERRIDE_HINT
        )
    tenant = keys.is_tenant_url(config.get("endpoint"))
    if tenant:
        key, user_key = _own_key(config, "azure_openai", "endpoint"), True
    else:
        key, user_key = _key(config, keys, "azure_openai")
    timeout, _ = client_limits(config)
    client = FastAsyncAzureOpenAI(
        azure_endpoint=endpoint,
        api_version=str(config.get("api_version") or AZURE_API_VERSION),
        api_key=key,
        max_retries=0,
        timeout=timeout,
        http_client=_guarded_client(keys, config, endpoint) if tenant else None,
    )
    model_obj = OpenAIChatModel(model, provider=AzureProvider(openai_client=client))
    url = f"{endpoint.rstrip('/')}/openai/deployments/{model}/chat/completions"
    return _wrap(
        model_obj,
        config,
        keys,
        provider="azure_openai",
        user_key=user_key,
        url=url,
        secrets=(key,),
    )


def _anthropic(config: JsonDict, keys: ServerKeys) -> PydanticAILLM:
    from anthropic import AsyncAnthropic
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider

    model = _model_name(config, "anthropic")
    key, user_key = _key(config, keys, "anthropic")
    timeout, _ = client_limits(config)
    client = AsyncAnthropic(
        api_key=key,
        base_url=keys.endpoints.get("anthropic"),
        max_retries=0,
        timeout=timeout,
    )
    model_obj = AnthropicModel(
        model, provider=AnthropicProvider(anthropic_client=client)
    )
    url = str(client.base_url).rstrip("/") + "/v1/messages"
    return _wrap(
        model_obj,
        config,
        keys,
        provider="anthropic",
        user_key=user_key,
        url=url,
        secrets=(key,),
    )


def _google(config: JsonDict, keys: ServerKeys) -> PydanticAILLM:
    from pydantic_ai.models.google import GoogleModel
    from pydantic_ai.providers.google import GoogleProvider

    model = _model_name(config, "google")
    key, user_key = _key(config, keys, "google")
    # The google-genai client does not retry unless told to: ours retries.
    provider = GoogleProvider(api_key=key, base_url=keys.endpoints.get("google"))
    model_obj = GoogleModel(model, provider=provider)
    url = f"{model_obj.base_url.rstrip('/')}/v1beta/models/{model}:generateContent"
    return _wrap(
        model_obj,
        config,
        keys,
        provider="google",
        user_key=user_key,
        url=url,
        secrets=(key,),
    )


def _bedrock(config: JsonDict, keys: ServerKeys) -> PydanticAILLM:
    from pydantic_ai.models.bedrock import BedrockConverseModel
    from pydantic_ai.providers.bedrock import BedrockProvider

    model = _model_name(config, "bedrock")
    region = str(config.get("region") or keys.aws_region or "")
    if not region:
        raise not_configured(
            "bedrock_llm (provider 'bedrock') has no region: fill llms_config.region "
            "or set THREADLINE_AWS_REGION, " + OVERRIDE_HINT
        )
    token = secret(config.get("api_key"))
    access = str(config.get("aws_access_key_id") or "")
    secret_key = secret(config.get("aws_secret_access_key"))
    timeout, _ = client_limits(config)
    base_url = keys.endpoints.get("bedrock")
    if token:
        provider = BedrockProvider(
            api_key=token,
            region_name=region,
            base_url=base_url,
            aws_read_timeout=timeout,
        )
    else:
        provider = BedrockProvider(
            bedrock_client=_boto_client(region, access, secret_key, base_url, timeout)
        )
    model_obj = BedrockConverseModel(model, provider=provider)
    url = f"{model_obj.base_url.rstrip('/')}/model/{model}/converse"
    return _wrap(
        model_obj,
        config,
        keys,
        provider="bedrock",
        user_key=bool(token or (access and secret_key)),
        url=url,
        secrets=(token, secret_key),
    )


def _boto_client(
    region: str, access: str, secret_key: str, base_url: str | None, timeout: float
) -> Any:
    # boto3 ships no type information (no py.typed, no stubs installed).
    import boto3  # type: ignore[import-untyped]
    from botocore.config import Config  # type: ignore[import-untyped]

    session = boto3.Session(
        aws_access_key_id=access or None,
        aws_secret_access_key=secret_key or None,
        region_name=region,
    )
    config = Config(
        read_timeout=timeout,
        connect_timeout=min(timeout, 10.0),
        retries={"total_max_attempts": 1},
    )
    return session.client("bedrock-runtime", config=config, endpoint_url=base_url)


_BUILDERS = {
    "openai_llm": _openai,
    "azure_openai_llm": _azure,
    "anthropic_llm": _anthropic,
    "google_llm": _google,
    "bedrock_llm": _bedrock,
    "custom_llm": _custom,
}
