"""Prompt assembly for LLM nodes: system prompt, chat history, judge and parse prompts.

System prompt (§6.5): the workflow's ``default_prompt_prefix``, the node's
``main_response_config.prompt`` (else the workflow's), then the workflow's
``default_prompt_suffix``; a node opts out with ``ignore_default_prompt_prefix`` /
``ignore_default_prompt_suffix``. Non-empty parts are joined with a blank line and
rendered with the task scope (``{{dynamic}}``, ``[[runtime]]``, ``{{global.x}}``;
unresolved placeholders are kept verbatim).

History: LangChain-style dicts (``human``/``ai``/``tool``/``system``; OpenAI roles
are accepted too) become ``ChatMessage``s. Navigation memos stay (the model should
see them). ``truncated_max_recent_messages`` keeps the N most recent messages. The
result is repaired for the wire: tool calls without results lose their
``tool_calls``, and tool results without a preceding call are dropped.
"""

import json
from collections import OrderedDict
from typing import Any

from threadline.engine.steps import Destination, NodeTask
from threadline.engine.templates import render
from threadline.providers.base import ChatMessage, Role, ToolCall

JsonDict = dict[str, Any]

_ROLES: dict[str, Role] = {
    "human": "user",
    "user": "user",
    "ai": "assistant",
    "assistant": "assistant",
    "AIMessageChunk": "assistant",
    "tool": "tool",
    "system": "system",
}


def render_text(text: str, task: NodeTask) -> str:
    """``text`` with the task's variables substituted."""
    s = task.scope
    return render(
        text,
        dynamic=s.dynamic,
        runtime=s.runtime,
        threads=s.threads,
        globals_=s.globals_,
        limits=s.limits,
    )


def node_prompt(node: JsonDict, workflow: JsonDict) -> str:
    """The node's own prompt, else the workflow's ``main_response_config.prompt``."""
    own = (node.get("main_response_config") or {}).get("prompt")
    if own:
        return str(own)
    return str((workflow.get("main_response_config") or {}).get("prompt") or "")


def system_prompt(task: NodeTask) -> str:
    """prefix + node prompt + suffix (respecting the opt-outs), rendered."""
    node, workflow = task.node, task.workflow
    parts: list[str] = []
    if not node.get("ignore_default_prompt_prefix"):
        parts.append(str(workflow.get("default_prompt_prefix") or ""))
    parts.append(node_prompt(node, workflow))
    if not node.get("ignore_default_prompt_suffix"):
        parts.append(str(workflow.get("default_prompt_suffix") or ""))
    text = "\n\n".join(p.strip("\n") for p in parts if p and p.strip())
    return render_text(text, task)


def content_text(content: Any) -> str:
    """Message content as plain text (content-part lists are joined)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content
        )
    return json.dumps(content, default=str)


def _tool_calls(raw: Any) -> tuple[ToolCall, ...]:
    calls: list[ToolCall] = []
    for i, item in enumerate(raw or []):
        if not isinstance(item, dict):
            continue
        function = item.get("function") or {}
        name = item.get("name") or function.get("name") or ""
        args = item.get("args", function.get("arguments", {}))
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except ValueError:
                args = {"value": args}
        if not isinstance(args, dict):
            args = {"value": args}
        calls.append(
            ToolCall(id=str(item.get("id") or f"call_{i}"), name=name, arguments=args)
        )
    return tuple(calls)


def to_chat_message(message: JsonDict) -> ChatMessage | None:
    """One history dict as a ``ChatMessage`` (None for unknown types)."""
    role = _ROLES.get(str(message.get("type") or message.get("role") or ""))
    if role is None:
        return None
    text = content_text(message.get("content"))
    if role == "assistant":
        return ChatMessage(
            role=role, content=text, tool_calls=_tool_calls(message.get("tool_calls"))
        )
    if role == "tool":
        return ChatMessage(
            role=role,
            content=text,
            tool_call_id=str(message.get("tool_call_id") or ""),
            name=message.get("name"),
        )
    return ChatMessage(role=role, content=text)


def _repair(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Make tool-call / tool-result pairs consistent for the wire."""
    out: list[ChatMessage] = []
    i = 0
    while i < len(messages):
        m = messages[i]
        if m.role == "tool":
            i += 1  # orphan result (its call was truncated away or never sent)
            continue
        if m.role == "assistant" and m.tool_calls:
            j = i + 1
            results: list[ChatMessage] = []
            while j < len(messages) and messages[j].role == "tool":
                results.append(messages[j])
                j += 1
            ids = {r.tool_call_id for r in results}
            if all(c.id in ids for c in m.tool_calls):
                wanted = {c.id for c in m.tool_calls}
                out.append(m)
                out.extend(r for r in results if r.tool_call_id in wanted)
            elif m.content:
                out.append(ChatMessage(role="assistant", content=m.content))
            i = j
            continue
        out.append(m)
        i += 1
    return out


_CONVERTED: "OrderedDict[int, tuple[JsonDict, ChatMessage | None]]" = OrderedDict()
"""``to_chat_message`` of the history dicts seen last, by identity: a run's history
is the same list of dicts from one turn to the next (``service.running.run_history``
keeps it between turns), so each message is converted once, not once per call."""
_CONVERTED_MAX = 50_000


def _converted(message: JsonDict) -> ChatMessage | None:
    # The entry holds the dict itself, so its id cannot be reused while it is here.
    # History dicts are never changed in place (a redaction builds new ones).
    held = _CONVERTED.get(id(message))
    if held is not None and held[0] is message:
        return held[1]
    out = to_chat_message(message)
    _CONVERTED[id(message)] = (message, out)
    if len(_CONVERTED) > _CONVERTED_MAX:
        _CONVERTED.popitem(last=False)
    return out


def history_messages(
    history: tuple[JsonDict, ...] | list[JsonDict], max_recent: int | None
) -> list[ChatMessage]:
    """Chat history as wire-consistent messages, the last ``max_recent`` only."""
    converted = [m for m in map(_converted, history) if m is not None]
    if max_recent is not None and max_recent >= 0:
        converted = converted[-max_recent:] if max_recent else []
    return _repair(converted)


def judge_messages(
    task: NodeTask, destination: Destination, max_recent: int | None
) -> list[ChatMessage]:
    """The messages of one independent condition evaluation."""
    lines = [
        "You judge whether a routing condition holds for the conversation below.",
        f"Condition: {destination.condition}",
        'Reply with JSON only: {"is_condition_met": true or false, "message": '
        '"<one short sentence explaining why>"'
        + (
            ', "args": {<the arguments described below>}}'
            if destination.args_schema
            else "}"
        ),
    ]
    if destination.args_schema:
        lines.append(
            "When the condition holds, fill args per this JSON schema: "
            + json.dumps(destination.args_schema)
        )
    transcript = [
        f"{m.role}: {m.content}"
        for m in history_messages(task.history, max_recent)
        if m.role in ("user", "assistant") and m.content
    ]
    body = "\n".join(transcript) or "(the conversation is empty)"
    return [
        ChatMessage(role="system", content="\n".join(lines)),
        ChatMessage(role="user", content=f"Conversation:\n{body}"),
    ]


def judge_schema(destination: Destination) -> JsonDict:
    """The JSON schema a judge answer follows."""
    props: JsonDict = {
        "is_condition_met": {"type": "boolean"},
        "message": {"type": "string"},
    }
    if destination.args_schema:
        props["args"] = destination.args_schema
    return {
        "title": "condition_evaluation",
        "type": "object",
        "properties": props,
        "required": ["is_condition_met", "message"],
    }


def structured_instruction(envelope: JsonDict) -> str:
    """The user message that asks for structured output after a say reply."""
    name = envelope.get("name") or "structured_output"
    description = envelope.get("description") or ""
    schema = envelope.get("input_schema") or {}
    return (
        f"Produce the structured output '{name}' for the conversation so far."
        + (f" {description}" if description else "")
        + " Reply with a single JSON object only, following this JSON schema: "
        + json.dumps(schema)
    )


def parse_retry_instruction(error: str) -> str:
    """The user message sent after an answer that failed to parse."""
    return (
        f"Your previous answer could not be used: {error}. "
        "Reply again with a single valid JSON object only, no other text."
    )
