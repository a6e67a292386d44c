"""An ``LLM`` over a pydantic-ai model: pydantic-ai is our wire layer, not our loop.

``PydanticAILLM(model, provider=..., user_key=...)`` turns one ``ChatRequest`` into one
``pydantic_ai.direct.model_request`` (or ``model_request_stream``) and maps the
``ModelResponse`` back onto ``ChatResponse``:

- messages (``pai_messages``): system/user/tool messages become request parts,
  assistant messages become ``ModelResponse``s with ``TextPart``/``ToolCallPart``s;
- ``tools`` become function ``ToolDefinition``s, ``tool_choice`` the ``tool_choice``
  setting;
- ``response_schema`` becomes native structured output where the model's profile
  has it (OpenAI ``response_format: json_schema``, Gemini ``responseSchema``) and an
  output tool otherwise (Anthropic, Bedrock); either way the answer comes back as
  JSON text in ``content``;
- from ``request.llm_config``: ``temperature``, ``max_tokens``, ``seed``,
  ``request_timeout_ms`` (the per-attempt ``timeout``) and ``model_kwargs`` (sent
  as the provider's extra body).

Streaming: when ``llm_config.streaming`` is on and ``request.on_text`` is set (and
no structured output is asked for), text deltas go to ``on_text`` as they arrive and
``ttft_ms`` is the time to the first one.

Retries live in this adapter, not in the SDKs (their clients are built with
retries off, see ``keys``; which errors, how long, what error: ``pai_retries``):
408/409/429/5xx answers, timeouts and connection errors are retried up to
``llm_config.max_retries`` times (default 3) with exponential backoff, honouring a
provider's ``retry-after`` within the cap. A streamed call is not retried once text
reached ``on_text``. Whatever the attempts, one ``chat`` returns one ``ChatResponse``
(one accounting record; ``extra["attempts"]`` says how many were made) and
``latency_ms`` covers them all. Failures raise ``LLMError`` (``llm_error``,
``llm_timeout``, ``llm_auth_error``) naming provider, URL and model; key values are
redacted from every message.
"""

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from pydantic_ai.direct import model_request, model_request_stream
from pydantic_ai.messages import (
    ModelMessage,
    ModelResponse,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
)
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.settings import ModelSettings

from threadline.providers.base import (
    ChatRequest,
    ChatResponse,
    ToolCall,
    Usage,
)
from threadline.providers.pai_messages import (
    OUTPUT_TOOL,
    request_parameters,
    response_parts,
    to_model_messages,
)
from threadline.providers.pai_retries import DEFAULT_MAX_RETRIES, Backoff, failure_of

if TYPE_CHECKING:
    from threadline.providers.openai_fast import FastLane

JsonDict = dict[str, Any]


@dataclass
class _Attempt:
    """What one ``chat`` call learnt on its way (across attempts)."""

    started: float
    ttft_ms: float | None = None
    streamed: bool = False
    attempts: int = 0
    extra: JsonDict = field(default_factory=dict)


class _CallbackFailed(Exception):
    """``on_text`` raised: re-raised as is, never retried or wrapped."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True, slots=True)
class CallDefaults:
    """How a client's calls go when the request's config says nothing.

    Attributes:
        native_output: force structured output native (True) or tool-based
            (False); None: ask the model's profile.
        backoff: the delays between retries (None: ``Backoff()``).
        max_retries: retries when the request's config names none.
        timeout_s: per-attempt timeout when the request's config names none.
    """

    native_output: bool | None = None
    backoff: Backoff | None = None
    max_retries: int = DEFAULT_MAX_RETRIES
    timeout_s: float | None = None


class PydanticAILLM:
    """One provider model behind our ``LLM`` interface.

    Args:
        model: the pydantic-ai model (built with SDK retries off).
        provider: what accounting records as the provider (``openai``, ...,
            ``override``).
        user_key: the call uses the team's own key (else the server's).
        url: the endpoint, for error messages.
        secrets: values to redact from error messages (keys).
        extra: copied into every ``ChatResponse.extra`` (e.g. ``key_source``).
        defaults: retries, timeout, backoff and structured-output mode.
    """

    def __init__(
        self,
        model: Model,
        *,
        provider: str,
        user_key: bool,
        url: str = "",
        secrets: Sequence[str] = (),
        extra: JsonDict | None = None,
        defaults: CallDefaults | None = None,
    ) -> None:
        given = defaults or CallDefaults()
        self.pai_model = model
        self.model = model.model_name
        self.provider = provider
        self.max_retries = max(0, given.max_retries)
        self.timeout_s = given.timeout_s
        self.user_key = user_key
        self.url = url
        self.backoff = given.backoff or Backoff()
        self.extra = dict(extra or {})
        self._secrets = tuple(s for s in secrets if s)
        native_output = given.native_output
        if native_output is None:
            native_output = bool(model.profile.get("supports_json_schema_output"))
        self.native_output = native_output
        self.fast: FastLane | None = None
        """Plain calls straight to the wire (OpenAI-compatible clients, see
        ``providers.openai_fast``); set by the builder."""
        # OpenAI's strict mode rejects ordinary schemas (optional fields), so it
        # stays off; Anthropic refuses an explicit ``strict=False``: leave it unset.
        self._strict_output = None if model.system == "anthropic" else False

    def __repr__(self) -> str:
        return (
            f"PydanticAILLM(provider={self.provider!r}, "
            f"model={self.model!r}, url={self.url!r})"
        )

    async def chat(self, request: ChatRequest) -> ChatResponse:
        config = request.llm_config or {}
        retries = config.get("max_retries")
        max_retries = self.max_retries if retries is None else max(0, int(retries))
        streaming = bool(config.get("streaming")) and request.on_text is not None
        lane = self.fast if self.fast and self.fast.takes(request, streaming) else None
        messages: list[ModelMessage] = []
        params: ModelRequestParameters | None = None
        if lane is None:
            messages = to_model_messages(request.messages)
            params = request_parameters(
                request, native_output=self.native_output, strict=self._strict_output
            )
        settings = model_settings(request)
        if "timeout" not in settings and self.timeout_s:
            settings["timeout"] = self.timeout_s
        # Settings the provider has no field for (Anthropic ``seed``, Gemini extra
        # body, Bedrock ``timeout``) are dropped: pydantic-ai would warn per call.
        # (cast: a comprehension over a TypedDict loses its type.)
        ignored = self.pai_model.unsupported_settings
        settings = cast(
            ModelSettings, {k: v for k, v in settings.items() if k not in ignored}
        )
        state = _Attempt(started=time.perf_counter())
        while True:
            state.attempts += 1
            try:
                if lane is not None or params is None:
                    assert lane is not None
                    answer = await lane.call(request, cast(JsonDict, settings))
                    return self._answer(*answer, state)
                response = await self._attempt(
                    request, messages, settings, params, state
                )
            except _CallbackFailed as exc:
                raise exc.error from None
            except Exception as exc:  # every provider failure becomes an LLMError
                failure, retryable, retry_after = failure_of(
                    exc, self.provider, self.url, self.model, self._redact
                )
                if not retryable or state.streamed or state.attempts > max_retries:
                    if state.attempts > 1:
                        failure.message += f" (after {state.attempts} attempts)"
                        failure.args = (failure.message,)
                    raise failure from exc
                await asyncio.sleep(self.backoff.delay(state.attempts - 1, retry_after))
                continue
            return self._map(response, state)

    async def _attempt(
        self,
        request: ChatRequest,
        messages: list[ModelMessage],
        settings: ModelSettings,
        params: ModelRequestParameters,
        state: _Attempt,
    ) -> ModelResponse:
        streaming = bool((request.llm_config or {}).get("streaming"))
        on_text = request.on_text
        if not streaming or on_text is None or request.response_schema is not None:
            return await model_request(
                self.pai_model,
                messages,
                model_settings=settings,
                model_request_parameters=params,
                instrument=False,
            )
        async with model_request_stream(
            self.pai_model,
            messages,
            model_settings=settings,
            model_request_parameters=params,
            instrument=False,
        ) as stream:
            async for event in stream:
                delta = _text_delta(event)
                if not delta:
                    continue
                if state.ttft_ms is None:
                    state.ttft_ms = (time.perf_counter() - state.started) * 1000.0
                state.streamed = True
                try:
                    await on_text(delta)
                except Exception as exc:  # the caller's error, not the provider's
                    raise _CallbackFailed(exc) from exc
            return stream.get()

    def _answer(
        self,
        text: str,
        calls: tuple[ToolCall, ...],
        usage: Usage,
        model: str,
        state: _Attempt,
    ) -> ChatResponse:
        """A fast-lane answer (``providers.openai_fast``) as a ``ChatResponse``."""
        return ChatResponse(
            content=text,
            tool_calls=calls,
            usage=usage,
            model=model,
            provider=self.provider,
            latency_ms=(time.perf_counter() - state.started) * 1000.0,
            user_key=self.user_key,
            extra={**self.extra, "attempts": state.attempts},
        )

    def _map(self, response: ModelResponse, state: _Attempt) -> ChatResponse:
        text, calls, structured = response_parts(response)
        usage = response.usage
        extra = {**self.extra, "attempts": state.attempts}
        if structured is not None:
            extra["structured_output_via"] = OUTPUT_TOOL
        return ChatResponse(
            content=structured if structured is not None else text,
            tool_calls=calls,
            usage=Usage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                total_tokens=usage.input_tokens + usage.output_tokens,
            ),
            model=response.model_name or self.model,
            provider=self.provider,
            latency_ms=(time.perf_counter() - state.started) * 1000.0,
            ttft_ms=state.ttft_ms,
            user_key=self.user_key,
            extra=extra,
        )

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def model_settings(request: ChatRequest) -> ModelSettings:
    """The pydantic-ai settings for ``request`` (from its ``llm_config``)."""
    config = request.llm_config or {}
    settings: ModelSettings = {}
    if config.get("temperature") is not None:
        settings["temperature"] = float(config["temperature"])
    if config.get("max_tokens") is not None:
        settings["max_tokens"] = int(config["max_tokens"])
    if config.get("seed") is not None:
        settings["seed"] = int(config["seed"])
    if config.get("request_timeout_ms"):
        settings["timeout"] = float(config["request_timeout_ms"]) / 1000.0
    if config.get("model_kwargs"):
        settings["extra_body"] = dict(config["model_kwargs"])
    if request.tools and request.tool_choice is not None:
        settings["tool_choice"] = request.tool_choice
    return settings


def _text_delta(event: object) -> str:
    if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
        return event.part.content
    if isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
        return event.delta.content_delta
    return ""
