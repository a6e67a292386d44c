"""Pick the provider client for an LLM config.

Two entry points:

- ``build_llm(config, ...)`` builds the client for one config (wire JSON);
- ``ConfigurableLLM`` is an ``LLM`` that dispatches every request by its
  ``request.llm_config``, building (and caching) clients through ``build_llm``. This
  is what the service puts into ``Ports.llm``: executors pass the resolved config
  with each request and never pick providers themselves.

Rules (full provider clients come later):

1. ``override_url`` set (``THREADLINE_LLM_OVERRIDE_URL``): every config, whatever
   its ``type``, goes to ``OpenAICompatibleLLM(override_url)`` with the model
   ``override_model`` (``THREADLINE_LLM_OVERRIDE_MODEL``), else the config's
   ``model``, else ``"default"``; the key is ``api_keys["override"]`` if given.
2. ``custom_llm`` with a ``base_url``: ``OpenAICompatibleLLM(base_url)`` with its
   ``model``, ``default_headers``, ``verify_ssl``; key = the config's ``api_key``
   (counted as the team's own key) else ``api_keys["custom"]``.
3. Anything else raises ``LLMError`` (code ``llm_not_configured``) naming the
   provider and the setting to fill.

Groups: ``llm_group`` uses its first member, ``llm_group_with_backchannel`` the first
member of ``main_llm_config`` (no proactive/parallel fallback yet). The member's
``max_retries`` and ``request_timeout_ms`` set the client's retries and timeout.
"""

from dataclasses import replace
from typing import Any

import httpx

from threadline.providers.base import LLM, ChatRequest, ChatResponse, LLMError
from threadline.providers.openai_compat import OpenAICompatibleLLM

JsonDict = dict[str, Any]
DEFAULT_TIMEOUT_S = 60.0
_HINT = (
    "set THREADLINE_LLM_OVERRIDE_URL (and THREADLINE_LLM_OVERRIDE_MODEL) to an "
    "OpenAI-compatible endpoint, or use a custom_llm config with a base_url"
)


def primary_config(llm_config: JsonDict | None) -> JsonDict:
    """The single LLM config a (possibly grouped) config resolves to."""
    config = llm_config or {}
    for _ in range(4):  # groups nest at most twice
        kind = config.get("type")
        if kind == "llm_group_with_backchannel":
            config = config.get("main_llm_config") or {}
        elif kind == "llm_group":
            members = config.get("llms") or []
            config = members[0] if members else {}
        else:
            break
    return config


def _secret(value: Any) -> str:
    if value is None:
        return ""
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if callable(getter) else value)


def _client_settings(config: JsonDict) -> tuple[float, int]:
    timeout_ms = config.get("request_timeout_ms")
    timeout = timeout_ms / 1000.0 if timeout_ms else DEFAULT_TIMEOUT_S
    retries = config.get("max_retries")
    return timeout, 3 if retries is None else int(retries)


def build_llm(
    llm_config: JsonDict | None,
    *,
    override_url: str | None = None,
    override_model: str | None = None,
    api_keys: dict[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> OpenAICompatibleLLM:
    """The client for ``llm_config`` (see the module docstring for the rules)."""
    keys = api_keys or {}
    config = primary_config(llm_config)
    timeout, retries = _client_settings(config)
    if override_url:
        return OpenAICompatibleLLM(
            override_url,
            keys.get("override"),
            override_model or config.get("model") or "default",
            timeout_s=timeout,
            max_retries=retries,
            transport=transport,
            provider=str(config.get("provider") or "openai_compatible"),
        )
    kind = config.get("type") or "no_llm"
    if kind == "custom_llm" and config.get("base_url"):
        own_key = _secret(config.get("api_key"))
        return OpenAICompatibleLLM(
            str(config["base_url"]),
            own_key or keys.get("custom"),
            str(config.get("model") or "default"),
            timeout_s=timeout,
            max_retries=retries,
            transport=transport,
            provider="custom",
            headers={
                k: str(v) for k, v in (config.get("default_headers") or {}).items()
            },
            user_key=bool(own_key),
            verify_ssl=bool(config.get("verify_ssl", True)),
        )
    if kind == "custom_llm":
        raise LLMError(
            "custom_llm config has no base_url: fill llms_config.base_url, or " + _HINT,
            code="llm_not_configured",
        )
    if kind in ("no_llm", "global_default_llm"):
        raise LLMError(
            f"no LLM is configured (llms_config type {kind!r}): set the workflow's "
            "llms_config, or " + _HINT,
            code="llm_not_configured",
        )
    provider = config.get("provider") or kind
    raise LLMError(
        f"LLM provider {provider!r} ({kind}) is not supported yet: " + _HINT,
        code="llm_not_configured",
    )


class ConfigurableLLM:
    """An ``LLM`` choosing its client per request from ``request.llm_config``.

    Clients are cached by their effective settings, so equal configs share one.
    The request passed down carries the resolved single config (group members are
    unwrapped), which is where ``temperature``/``max_tokens``/``seed`` come from.
    """

    def __init__(
        self,
        *,
        override_url: str | None = None,
        override_model: str | None = None,
        api_keys: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.override_url = override_url
        self.override_model = override_model
        self._api_keys = dict(api_keys or {})
        self._transport = transport
        self._clients: dict[tuple[Any, ...], LLM] = {}

    def _key(self, config: JsonDict) -> tuple[Any, ...]:
        return (
            config.get("type"),
            config.get("base_url"),
            config.get("model"),
            config.get("provider"),
            _secret(config.get("api_key")),
            tuple(sorted((config.get("default_headers") or {}).items())),
            config.get("verify_ssl", True),
            *_client_settings(config),
        )

    def client_for(self, llm_config: JsonDict | None) -> LLM:
        """The (cached) client that serves ``llm_config``."""
        config = primary_config(llm_config)
        key = self._key(config)
        client = self._clients.get(key)
        if client is None:
            client = build_llm(
                config,
                override_url=self.override_url,
                override_model=self.override_model,
                api_keys=self._api_keys,
                transport=self._transport,
            )
            self._clients[key] = client
        return client

    async def chat(self, request: ChatRequest) -> ChatResponse:
        config = primary_config(request.llm_config)
        client = self.client_for(config)
        return await client.chat(replace(request, llm_config=config))
