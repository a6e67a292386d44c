"""Builders of OpenAI-wire clients: OpenAI, Azure OpenAI, any OpenAI-compatible
server (``custom_llm``) and the operator's override URL, all on the fast lane's
clients (``openai_wire``, ``openai_fast``)."""

from typing import Any

from threadline.providers.client_parts import (
    guarded_client,
    key_of,
    model_name,
    own_key,
    wrap,
)
from threadline.providers.keys import (
    AZURE_API_VERSION,
    OVERRIDE_HINT,
    ServerKeys,
    client_limits,
    not_configured,
    secret,
)
from threadline.providers.pai import PydanticAILLM

JsonDict = dict[str, Any]


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


def openai_compatible(
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
        http_client = guarded_client(keys, config, str(base_url))
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
    llm = wrap(
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


def build_override(config: JsonDict, keys: ServerKeys) -> PydanticAILLM:
    model = keys.override_model or str(config.get("model") or "") or "default"
    configured = str(config.get("provider") or config.get("type") or "")
    llm = openai_compatible(
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


def build_openai(config: JsonDict, keys: ServerKeys) -> PydanticAILLM:
    model = model_name(config, "openai")
    own_url = config.get("base_url")
    if keys.is_tenant_url(own_url):
        key, user_key = own_key(config, "openai", "base_url"), True
    else:
        key, user_key = key_of(config, keys, "openai")
    return openai_compatible(
        config,
        keys,
        base_url=own_url or keys.endpoints.get("openai"),
        key=key,
        model=model,
        provider="openai",
        user_key=user_key,
        tenant_url=keys.is_tenant_url(own_url),
    )


def build_custom(config: JsonDict, keys: ServerKeys) -> PydanticAILLM:
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
    return openai_compatible(
        config,
        keys,
        base_url=base_url,
        key=own or server,
        model=str(config.get("model") or "default"),
        provider="custom",
        user_key=bool(own),
        tenant_url=tenant,
    )


def build_azure(config: JsonDict, keys: ServerKeys) -> PydanticAILLM:
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.azure import AzureProvider

    from threadline.providers.openai_wire import FastAsyncAzureOpenAI

    model = model_name(config, "azure_openai")
    endpoint = str(config.get("endpoint") or keys.azure_openai_endpoint or "")
    if not endpoint:
        raise not_configured(
            "azure_openai_llm (provider 'azure_openai') has no endpoint: fill "
            "llms_config.endpoint or set THREADLINE_AZURE_OPENAI_ENDPOINT, "
            + OVERRIDE_HINT
        )
    tenant = keys.is_tenant_url(config.get("endpoint"))
    if tenant:
        key, user_key = own_key(config, "azure_openai", "endpoint"), True
    else:
        key, user_key = key_of(config, keys, "azure_openai")
    timeout, _ = client_limits(config)
    client = FastAsyncAzureOpenAI(
        azure_endpoint=endpoint,
        api_version=str(config.get("api_version") or AZURE_API_VERSION),
        api_key=key,
        max_retries=0,
        timeout=timeout,
        http_client=guarded_client(keys, config, endpoint) if tenant else None,
    )
    model_obj = OpenAIChatModel(model, provider=AzureProvider(openai_client=client))
    url = f"{endpoint.rstrip('/')}/openai/deployments/{model}/chat/completions"
    return wrap(
        model_obj,
        config,
        keys,
        provider="azure_openai",
        user_key=user_key,
        url=url,
        secrets=(key,),
    )
