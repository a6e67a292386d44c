"""Which key, endpoint and model serve an LLM config; builds its pydantic-ai client.

``ServerKeys`` holds what the server brings (``THREADLINE_*`` settings): a fallback
key per provider, the Azure endpoint, the AWS region, the default model for
``global_default_llm`` and the override endpoint. ``build_client(config, keys)``
turns one single (non-group) LLM config into a ``PydanticAILLM``:

===================== ===================================== ===========================
config ``type``       endpoint                              key (user / fallback)
===================== ===================================== ===========================
``openai_llm``        config ``base_url``, else OpenAI      ``api_key`` /
                                                            ``THREADLINE_OPENAI_API_KEY``
``azure_openai_llm``  config ``endpoint``, else             ``api_key`` /
                      ``THREADLINE_AZURE_OPENAI_ENDPOINT``  ``THREADLINE_AZURE_OPENAI_
                      (``api_version`` from the config)     API_KEY``
``anthropic_llm``     Anthropic                             ``api_key`` /
                                                            ``THREADLINE_ANTHROPIC_API_KEY``
``google_llm``        Gemini API                            ``api_key`` /
                                                            ``THREADLINE_GOOGLE_API_KEY``
``bedrock_llm``       config ``region``, else               ``api_key`` (bearer) or
                      ``THREADLINE_AWS_REGION``             access keys / AWS chain
``custom_llm``        config ``base_url`` (OpenAI-style)    ``api_key`` / server custom
                                                            key / none (Ollama, vLLM)
``global_default_llm`` ``THREADLINE_DEFAULT_LLM``           as the provider it names
``no_llm``            none: ``llm_not_configured``
===================== ===================================== ===========================

A config's own ``api_key`` makes the call a user-key call (``user_key=True``);
otherwise the server's key is used and it counts as a fallback-key call. A missing
key, endpoint, region or model raises ``LLMError`` (``llm_not_configured``) naming
the provider and the setting to fill.

Override: with ``override_url`` (``THREADLINE_LLM_OVERRIDE_URL``) every config,
whatever its type or key, goes to that OpenAI-compatible endpoint with
``override_model`` (else the config's ``model``, else ``"default"``) and the
``override_api_key``. Accounting records such calls with provider ``"override"``
and ``user_key=False`` (``extra["key_source"] == "override"``, and
``extra["configured_provider"]`` keeps what the config asked for).

SDK clients are built with their own retries off: ``PydanticAILLM`` retries (one
accounting record per call). ``endpoints`` points a provider at another base URL
(the fake provider server in tests, a proxy in production).
"""

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic_ai.models import Model

from threadline.providers.base import LLMError
from threadline.providers.pai import DEFAULT_MAX_RETRIES, Backoff, PydanticAILLM

if TYPE_CHECKING:
    from threadline.settings import Settings

JsonDict = dict[str, Any]
DEFAULT_TIMEOUT_S = 60.0
AZURE_API_VERSION = "2024-10-21"
OVERRIDE_HINT = (
    "or set THREADLINE_LLM_OVERRIDE_URL (and THREADLINE_LLM_OVERRIDE_MODEL) to send "
    "every call to one OpenAI-compatible endpoint"
)
PROVIDER_TYPES = {
    "openai": "openai_llm",
    "azure_openai": "azure_openai_llm",
    "azure": "azure_openai_llm",
    "anthropic": "anthropic_llm",
    "google": "google_llm",
    "gemini": "google_llm",
    "google-gla": "google_llm",
    "bedrock": "bedrock_llm",
    "custom": "custom_llm",
}
_KEY_SETTING = {
    "openai": "THREADLINE_OPENAI_API_KEY",
    "azure_openai": "THREADLINE_AZURE_OPENAI_API_KEY",
    "anthropic": "THREADLINE_ANTHROPIC_API_KEY",
    "google": "THREADLINE_GOOGLE_API_KEY",
}
_NODE_PARAMS = ("temperature", "max_tokens", "seed", "request_timeout_ms")


def secret(value: Any) -> str:
    """The plain text of a key (``SecretStr`` or ``str``); ``""`` for None."""
    if value is None:
        return ""
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if callable(getter) else value)


@dataclass(frozen=True)
class ServerKeys:
    """What the server brings to LLM calls (keys are fallbacks for configs)."""

    api_keys: dict[str, str] = field(default_factory=dict)
    """Fallback key per provider: ``openai``, ``azure_openai``, ``anthropic``,
    ``google``, ``custom``; ``override`` is the override endpoint's key."""
    azure_openai_endpoint: str | None = None
    aws_region: str | None = None
    default_llm: str | None = None
    """``THREADLINE_DEFAULT_LLM``: ``provider:model`` or an LLM config as JSON."""
    override_url: str | None = None
    override_model: str | None = None
    endpoints: dict[str, str] = field(default_factory=dict)
    """Base URL per provider (``anthropic``, ``google``, ``bedrock``, ``openai``)."""
    backoff: Backoff = field(default_factory=Backoff)

    @classmethod
    def from_settings(cls, settings: "Settings", **overrides: Any) -> "ServerKeys":
        """The server's keys from ``Settings`` (empty values left out)."""
        named = {
            "openai": settings.openai_api_key,
            "azure_openai": settings.azure_openai_api_key,
            "anthropic": settings.anthropic_api_key,
            "google": settings.google_api_key,
        }
        values: JsonDict = {
            "api_keys": {k: secret(v) for k, v in named.items() if secret(v)},
            "azure_openai_endpoint": settings.azure_openai_endpoint,
            "aws_region": settings.aws_region,
            "default_llm": settings.default_llm,
            "override_url": settings.llm_override_url,
            "override_model": settings.llm_override_model,
        }
        values.update(overrides)
        return cls(**values)


def not_configured(message: str) -> LLMError:
    """The ``llm_not_configured`` error (no stack trace reaches the user)."""
    return LLMError(message, code="llm_not_configured")


def parse_default_llm(value: str | None) -> JsonDict:
    """``THREADLINE_DEFAULT_LLM`` as a config: ``provider:model`` or JSON."""
    text = (value or "").strip()
    if not text:
        raise not_configured(
            "no LLM is configured: the node uses the default LLM "
            "(llms_config type 'global_default_llm') and the server has none; set "
            "THREADLINE_DEFAULT_LLM (e.g. 'openai:gpt-4o-mini'), give the workflow "
            "an llms_config, " + OVERRIDE_HINT
        )
    if text.startswith("{"):
        try:
            config = json.loads(text)
        except ValueError as exc:
            raise not_configured(
                f"THREADLINE_DEFAULT_LLM is not valid JSON: {exc}"
            ) from exc
        if not isinstance(config, dict) or not config.get("type"):
            raise not_configured("THREADLINE_DEFAULT_LLM JSON needs a 'type'")
        return config
    provider, _, model = text.partition(":")
    kind = PROVIDER_TYPES.get(provider.strip().lower())
    if kind is None or not model.strip():
        known = ", ".join(sorted(PROVIDER_TYPES))
        raise not_configured(
            f"THREADLINE_DEFAULT_LLM={text!r} is not 'provider:model' with a provider "
            f"among {known}"
        )
    return {"type": kind, "model": model.strip()}


def resolve_default(config: JsonDict, keys: ServerKeys) -> JsonDict:
    """A ``global_default_llm`` config as the server default, keeping node params.

    Team defaults (a saved LLM config per team) are not looked up here: the engine
    resolves a workflow's config before the call; a team hook needs the team id on
    ``ChatRequest`` first.
    """
    resolved = parse_default_llm(keys.default_llm)
    for name in _NODE_PARAMS:
        if config.get(name) is not None:
            resolved[name] = config[name]
    for name in ("streaming", "model_kwargs"):
        if config.get(name):
            resolved[name] = config[name]
    if "max_retries" in config and "max_retries" not in resolved:
        resolved["max_retries"] = config["max_retries"]
    return resolved


def client_limits(config: JsonDict) -> tuple[float, int]:
    """(timeout in seconds, max retries) of a config."""
    timeout_ms = config.get("request_timeout_ms")
    timeout = timeout_ms / 1000.0 if timeout_ms else DEFAULT_TIMEOUT_S
    retries = config.get("max_retries")
    return timeout, DEFAULT_MAX_RETRIES if retries is None else int(retries)


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
        backoff=keys.backoff,
        max_retries=retries,
        timeout_s=timeout,
        extra={"key_source": "user" if user_key else "fallback", **(extra or {})},
    )


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
) -> PydanticAILLM:
    import httpx2
    from openai import AsyncOpenAI
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.profiles.openai import OpenAIModelProfile
    from pydantic_ai.providers.openai import OpenAIProvider

    timeout, _ = client_limits(config)
    headers = {str(k): str(v) for k, v in (config.get("default_headers") or {}).items()}
    http_client = None
    if config.get("verify_ssl") is False:
        http_client = httpx2.AsyncClient(verify=False, timeout=timeout)
    client = AsyncOpenAI(
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
    return _wrap(
        model_obj,
        config,
        keys,
        provider=provider,
        user_key=user_key,
        url=url,
        secrets=(key,),
        extra=extra,
    )


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
    key, user_key = _key(config, keys, "openai")
    base_url = config.get("base_url") or keys.endpoints.get("openai")
    return _openai_compatible(
        config,
        keys,
        base_url=base_url,
        key=key,
        model=model,
        provider="openai",
        user_key=user_key,
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
    return _openai_compatible(
        config,
        keys,
        base_url=base_url,
        key=own or keys.api_keys.get("custom", ""),
        model=str(config.get("model") or "default"),
        provider="custom",
        user_key=bool(own),
    )


def _azure(config: JsonDict, keys: ServerKeys) -> PydanticAILLM:
    from openai import AsyncAzureOpenAI
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.azure import AzureProvider

    model = _model_name(config, "azure_openai")
    endpoint = str(config.get("endpoint") or keys.azure_openai_endpoint or "")
    if not endpoint:
        raise not_configured(
            "azure_openai_llm (provider 'azure_openai') has no endpoint: fill "
            "llms_config.endpoint or set THREADLINE_AZURE_OPENAI_ENDPOINT, "
            + OVERRIDE_HINT
        )
    key, user_key = _key(config, keys, "azure_openai")
    timeout, _ = client_limits(config)
    client = AsyncAzureOpenAI(
        azure_endpoint=endpoint,
        api_version=str(config.get("api_version") or AZURE_API_VERSION),
        api_key=key,
        max_retries=0,
        timeout=timeout,
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
