"""Every LLM call of a turn, counted and spanned (the executors' ``llm`` port).

``ObservedLLM`` wraps the team's LLM: each ``chat`` is a client span named
``chat <model>`` with the OpenTelemetry GenAI conventions (``gen_ai.system``,
``gen_ai.request.model``, ``gen_ai.response.model``, ``gen_ai.usage.*``,
``gen_ai.response.finish_reasons``), and feeds the ``threadline_llm_*`` counters
(calls, errors, retries, tokens, cost) by provider and model. An LLM group's
answer counts each member call it made. Prompts and completions go into the span
only with ``THREADLINE_TRACE_CONTENT=1``, scrubbed of the turn's secrets.
"""

import json
from typing import Any

from threadline.providers.base import LLM, ChatRequest, ChatResponse, LLMError
from threadline.providers.groups import call_records
from threadline.providers.prices import price
from threadline.telemetry import metrics, tracing

JsonDict = dict[str, Any]


def _provider_of(config: JsonDict) -> str:
    kind = str(config.get("type") or "")
    return kind.removesuffix("_llm") or "unknown"


def _finish_reason(response: ChatResponse) -> str:
    given = response.extra.get("finish_reason")
    if isinstance(given, str) and given:
        return given
    return "tool_calls" if response.tool_calls else "stop"


def _count(record: JsonDict, team_id: str) -> None:
    model = str(record.get("response_model") or "")
    provider = str(record.get("provider") or "")
    tokens_in = int(record.get("input_tokens") or 0)
    tokens_out = int(record.get("output_tokens") or 0)
    metrics.count_llm_call(
        metrics.LlmCall(
            provider=provider,
            model=model,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            attempts=int(record.get("attempts") or 1),
            cost_usd=price(model, provider, tokens_in, tokens_out),
            team_id=team_id,
        )
    )


class ObservedLLM:
    """An ``LLM`` whose calls are spanned and counted (see the module docstring)."""

    def __init__(self, inner: LLM, team_id: str = "") -> None:
        self.inner = inner
        self.team_id = team_id

    async def chat(self, request: ChatRequest) -> ChatResponse:
        config = request.llm_config or {}
        provider = _provider_of(config)
        model = str(config.get("model") or config.get("deployment_name") or "")
        with tracing.span(
            f"chat {model}".strip(),
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.system": provider,
                "gen_ai.request.model": model,
                "threadline.llm.purpose": request.purpose,
            },
            kind=tracing.CLIENT,
        ) as span:
            if tracing.capture_content():
                span.content(
                    "gen_ai.prompt",
                    json.dumps([[m.role, m.content] for m in request.messages]),
                )
            try:
                response = await self.inner.chat(request)
            except LLMError as exc:
                code = exc.code
                span.fail(exc.message, code)
                metrics.count_llm_call(
                    metrics.LlmCall(provider, model, error=code, team_id=self.team_id)
                )
                raise
            span.set_many(
                {
                    "gen_ai.system": response.provider or provider,
                    "gen_ai.response.model": response.model,
                    "gen_ai.usage.input_tokens": response.usage.input_tokens,
                    "gen_ai.usage.output_tokens": response.usage.output_tokens,
                    "gen_ai.response.finish_reasons": _finish_reason(response),
                    "threadline.llm.attempts": response.extra.get("attempts"),
                }
            )
            span.content("gen_ai.completion", response.content)
        for record in call_records(response):
            if "attempts" not in record and "group_calls" not in response.extra:
                record["attempts"] = response.extra.get("attempts") or 1
            _count(record, self.team_id)
        return response
