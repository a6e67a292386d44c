"""Structured output of an LLM node, with parse retries.

Step 7 of :mod:`threadline.nodes.llm`: workers parse their own answer, say nodes
(and workers whose final answer is empty) make a second call; an invalid answer
is re-asked up to ``max_parse_retries`` times, each re-ask a call of its own, and
the last event carries ``structured_output_retry_metadata``.
"""

from threadline.nodes import prompts
from threadline.nodes.llm_calls import parse_object, retry_metadata
from threadline.nodes.llm_context import (
    SAY,
    JsonDict,
    LLMContext,
    MainOutput,
    ai_message,
    llm_event,
)
from threadline.providers.base import ChatMessage, ChatResponse

__all__ = ["structured_output"]


async def _parse_with_retries(
    ctx: LLMContext,
    messages: list[ChatMessage],
    response: ChatResponse,
    event: JsonDict,
    events: list[JsonDict],
) -> tuple[JsonDict | None, str | None]:
    assert ctx.schema is not None
    failed: list[JsonDict] = []
    retries = 0
    while True:
        value, error = parse_object(response.content, ctx.schema)
        if value is not None:
            break
        failed.append(
            {
                "attempt_number": retries + 1,
                "error_message": error,
                "latency_milliseconds": round(response.latency_ms),
            }
        )
        if retries >= ctx.parse_retries:
            break
        retries += 1
        messages = [
            *messages,
            ChatMessage(role="assistant", content=response.content),
            ChatMessage(
                role="user", content=prompts.parse_retry_instruction(str(error))
            ),
        ]
        response = await ctx.log.call(
            messages, response_schema=ctx.schema, purpose="structured_output_retry"
        )
        event = llm_event(
            ctx, ai_message(response.content, purpose="structured_output"), response
        )
        events.append(event)
    if failed:
        event["llm_usage_info"]["structured_output_retry_metadata"] = retry_metadata(
            retries, failed
        )
    return value, error


async def structured_output(
    ctx: LLMContext, out: MainOutput, events: list[JsonDict]
) -> tuple[JsonDict | None, str | None]:
    """The structured output of a successful main flow (LLMError propagates)."""
    assert ctx.schema is not None
    assert out.final is not None
    envelope = ctx.task.node.get("structured_output_schema") or {}
    messages = list(out.messages)
    first, event = out.final, out.final_event
    if ctx.kind == SAY or not out.final.content.strip():
        if out.text:
            messages.append(ChatMessage(role="assistant", content=out.text))
        messages.append(
            ChatMessage(role="user", content=prompts.structured_instruction(envelope))
        )
        first = await ctx.log.call(
            messages, response_schema=ctx.schema, purpose="structured_output"
        )
        event = llm_event(
            ctx, ai_message(first.content, purpose="structured_output"), first
        )
        events.append(event)
    assert event is not None
    return await _parse_with_retries(ctx, messages, first, event, events)
