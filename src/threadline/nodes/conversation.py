"""Conversation nodes: ``start_conversation`` (a vendor) and ``end_conversation``.

start_conversation calls the ``conversations`` vendor: with a ``conversation_id``
(rendered) it polls that conversation (operation ``poll_conversation``, payload
``conversation_id``, ``polling_interval_seconds``, ``bearer_token``); otherwise it
starts one (``start_conversation`` with every rendered node field; a voice outbound
call needs ``user_number``). The reply gives ``conversation_id`` and
``conversation_status``. Event ``start_conversation{conversation_status,
conversation_id}``, output ``{conversation_id}``; writes ``conversation_id`` and
``start_conversation_result/_success/_error``. A missing vendor or field is a
``workflow_warning`` plus failure variables; the run continues.

end_conversation builds the transcript from ``task.history`` (``human`` -> "User: ",
``ai`` -> "Assistant: "; navigation memos, tool and system messages skipped) and
writes it to ``conversation_transcript``. With a ``process_transcript_prompt`` the
LLM (``process_transcript_llms_config``, else the workflow's ``llms_config``, else
the global default) gets the rendered prompt as system message and the transcript as
user message; its answer is ``processed_transcript`` (the call is accounted in
``llm_calls``). Without a prompt ``processed_transcript`` is the transcript itself.
Event ``end_conversation{processed_transcript}``; output ``{}``; writes
``end_conversation_success/_error``. An LLM failure is reported (warning event,
``end_conversation_success=False``, ``processed_transcript=None``), never fatal. The
node does not end the run: the graph ends where it has no outgoing edge.
"""

from typing import Any

from threadline.engine.filters import to_text
from threadline.engine.steps import NodeResult, NodeTask
from threadline.engine.templates import render
from threadline.nodes.base import Ports
from threadline.nodes.vendors import (
    VendorReply,
    call_vendor,
    missing_field,
    record,
    rendered_fields,
)
from threadline.providers.base import ChatMessage, ChatRequest
from threadline.providers.groups import call_records
from threadline.tools.runner import redact, scope_vars

__all__ = ["build_transcript", "execute_end_conversation", "execute_start_conversation"]

JsonDict = dict[str, Any]
DEFAULT_LLM = {"type": "global_default_llm", "provider": "default_provider"}
_SPEAKERS = {"human": "User", "ai": "Assistant"}


async def execute_start_conversation(task: NodeTask, ports: Ports) -> NodeResult:
    """Start (or poll) a conversation through the ``conversations`` vendor."""
    fields = rendered_fields(task)
    conversation_id = str(fields.get("conversation_id") or "").strip()
    reply: VendorReply
    if conversation_id:
        payload = {
            "conversation_id": conversation_id,
            "polling_interval_seconds": fields.get("polling_interval_seconds"),
            "bearer_token": fields.get("bearer_token"),
        }
        reply = await call_vendor(
            ports, "conversations", "poll_conversation", payload, "start_conversation"
        )
    elif (
        fields.get("is_voice_conversation", False)
        and fields.get("is_outbound_call", True)
        and not fields.get("user_number")
    ):
        reply = missing_field("start_conversation", "user_number")
    else:
        payload = {k: v for k, v in fields.items() if k != "conversation_id"}
        reply = await call_vendor(
            ports, "conversations", "start_conversation", payload, "start_conversation"
        )
    found = reply.response.get("conversation_id") or conversation_id or None
    status = reply.response.get("conversation_status")
    result = NodeResult()
    result.events.append(
        {
            "type": "start_conversation",
            "conversation_status": status or (None if reply.success else "failed"),
            "conversation_id": found,
        }
    )
    record(result, "start_conversation", reply)
    result.variables["conversation_id"] = found
    result.output = {"conversation_id": found}
    return result


def build_transcript(history: tuple[JsonDict, ...] | list[JsonDict]) -> str:
    """``User: ...`` / ``Assistant: ...`` lines of the human and ai messages."""
    lines: list[str] = []
    for message in history:
        speaker = _SPEAKERS.get(str(message.get("type")))
        metadata = message.get("response_metadata") or {}
        if speaker is None or str(metadata.get("navigation_message")) == "true":
            continue
        text = to_text(message.get("content")).strip()
        if text:
            lines.append(f"{speaker}: {text}")
    return "\n".join(lines)


def _llm_config(task: NodeTask) -> JsonDict:
    for candidate in (
        task.node.get("process_transcript_llms_config"),
        task.workflow.get("llms_config"),
    ):
        if isinstance(candidate, dict) and candidate.get("type") not in (
            None,
            "no_llm",
            "global_default_llm",
        ):
            return candidate
    return dict(DEFAULT_LLM)


async def execute_end_conversation(task: NodeTask, ports: Ports) -> NodeResult:
    """Record the transcript and optionally post-process it with an LLM."""
    transcript = build_transcript(task.history)
    result = NodeResult()
    result.variables["conversation_transcript"] = transcript
    prompt = (task.node.get("process_transcript_prompt") or {}).get("prompt")
    processed: str | None = transcript
    error: str | None = None
    if prompt:
        request = ChatRequest(
            llm_config=_llm_config(task),
            messages=(
                ChatMessage("system", render(prompt, **scope_vars(task.scope))),
                ChatMessage("user", transcript or "(empty conversation)"),
            ),
            purpose="process_transcript",
        )
        try:
            response = await ports.llm.chat(request)
        except Exception as exc:
            processed = None
            error = redact(
                f"end_conversation: processing the transcript failed: {exc}",
                ports.secret_values,
            )
            result.events.append({"type": "workflow_warning", "warning_message": error})
        else:
            processed = response.content
            result.llm_calls.extend(call_records(response))
    result.events.append(
        {"type": "end_conversation", "processed_transcript": processed}
    )
    result.variables.update(
        {
            "processed_transcript": processed,
            "end_conversation_success": error is None,
            "end_conversation_error": error,
        }
    )
    return result
