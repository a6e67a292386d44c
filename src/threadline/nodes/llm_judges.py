"""``independent_llm_evaluations``: one judge call per destination.

Step 5 of :mod:`threadline.nodes.llm`: each judge answers whether its
destination's condition is met; the answer is read as JSON
(``is_condition_met``, ``message``, ``args``) or, failing that, as free text
starting with yes/true.
"""

from dataclasses import dataclass
from typing import Any

from threadline.engine.steps import Destination
from threadline.nodes import prompts
from threadline.nodes.llm_calls import parse_object, usage_info
from threadline.nodes.llm_context import JsonDict, LLMContext, ai_message
from threadline.providers.base import LLMError

__all__ = ["Verdict", "judge", "winner_args"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """One judge's answer for one destination, with its event."""

    destination: Destination
    met: bool
    reason: str
    args: JsonDict
    event: JsonDict


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "yes", "1"}
    return bool(value)


def _read_verdict(content: str) -> tuple[bool, str, JsonDict]:
    value, _ = parse_object(content, {"type": "object"})
    if value is not None:
        args = value.get("args")
        return (
            _truthy(value.get("is_condition_met")),
            str(value.get("message") or ""),
            args if isinstance(args, dict) else {},
        )
    head = content.strip().lower()
    return head.startswith(("yes", "true")), content.strip(), {}


async def judge(ctx: LLMContext, destination: Destination) -> Verdict:
    """Ask whether ``destination``'s condition is met (never raises LLMError)."""
    event: JsonDict = {
        "type": "condition_evaluator_llm",
        "destination_node_logical_id": destination.node_logical_id,
    }
    try:
        response = await ctx.log.call(
            prompts.judge_messages(ctx.task, destination, ctx.max_recent),
            response_schema=prompts.judge_schema(destination),
            purpose="condition",
        )
    except LLMError as exc:
        reason = f"evaluation failed: {exc.message}"
        event.update(is_condition_met=False, message=None, justification=reason)
        event["llm_usage_info"] = None
        return Verdict(destination, False, reason, {}, event)
    met, reason, args = _read_verdict(response.content)
    event.update(
        is_condition_met=met,
        message=ai_message(response.content),
        justification=reason,
        llm_usage_info=usage_info(response),
    )
    return Verdict(destination, met, reason, args, event)


def winner_args(verdict: Verdict) -> JsonDict:
    """The destination args of a winning verdict."""
    if verdict.destination.args_schema:
        return dict(verdict.args)
    return {"justification": verdict.reason}
