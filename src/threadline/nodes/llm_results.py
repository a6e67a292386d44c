"""Turning an LLM node run into its ``NodeResult``: outputs and the failure policy.

See "Failure policy" and step 7 of :mod:`threadline.nodes.llm`. :func:`complete`
finishes a run whose main reply stands (structured output included);
:func:`discard` replaces it when a ``global`` destination's judge won.
"""

from threadline.engine.steps import NodeResult
from threadline.nodes import prompts
from threadline.nodes.llm_calls import usage_info
from threadline.nodes.llm_context import (
    EVALUATOR,
    SAY,
    JsonDict,
    LLMContext,
    MainOutput,
    ai_message,
    warning,
)
from threadline.nodes.llm_structured import structured_output
from threadline.providers.base import LLMError

__all__ = ["complete", "discard"]


def _fail(ctx: LLMContext, result: NodeResult, reason: str, *, spoken: bool) -> None:
    node = ctx.task.node
    default = node.get("default_error_message")
    if ctx.kind == SAY:
        if default and not spoken:
            text = prompts.render_text(str(default), ctx.task)
            result.events.append(
                {
                    "type": "assistant_response",
                    "content": text,
                    "response_metadata": {"message_type": "error", "error": reason},
                    "llm_usage_info": None,
                }
            )
            result.history.append(ai_message(text))
        else:
            result.events.append(
                warning(f"LLM node {node.get('logical_id')}: {reason}")
            )
        return
    if default:
        result.events.append(warning(f"LLM node {node.get('logical_id')}: {reason}"))
        result.output["error"] = reason
        return
    result.error = f"LLM node {node.get('logical_id')} failed: {reason}"


def _outputs(
    ctx: LLMContext,
    result: NodeResult,
    text: str,
    value: JsonDict | None,
    *,
    write: bool,
) -> None:
    structured = value or {}
    result.output["structured_output"] = structured
    result.variables.update(structured)
    if ctx.kind == SAY:
        return
    result.output["free_form_output"] = text
    if ctx.kind == EVALUATOR and write:
        name = ctx.task.node.get("output_runtime_variable_name")
        if name:
            result.variables[str(name)] = value if ctx.schema is not None else text


async def complete(ctx: LLMContext, out: MainOutput, result: NodeResult) -> None:
    """Fill ``result`` from the main flow, structured output and failures."""
    result.events.extend(out.events)
    result.history.extend(out.history)
    if out.failure is not None:
        _outputs(ctx, result, "", None, write=False)
        _fail(ctx, result, out.failure, spoken=False)
        return
    value: JsonDict | None = None
    if ctx.schema is not None:
        try:
            value, error = await structured_output(ctx, out, result.events)
        except LLMError as exc:
            value, error = None, exc.message
        if value is None:
            _fail(ctx, result, f"no valid structured output: {error}", spoken=True)
    _outputs(
        ctx, result, out.text, value, write=value is not None or ctx.schema is None
    )


def discard(out: MainOutput, result: NodeResult) -> None:
    """Replace the main reply by one ``discarded_main_llm`` event."""
    event: JsonDict = {
        "type": "discarded_main_llm",
        "reason": "global_condition_matched",
    }
    event["message"] = (out.final_event or {}).get("message")
    event["llm_usage_info"] = usage_info(out.final) if out.final is not None else None
    result.events.append(event)
    result.output["structured_output"] = {}
