"""A thread's chat history as model messages, converted incrementally.

LangChain-style dicts (``human``/``ai``/``tool``/``system``; OpenAI roles are
accepted too) become ``ChatMessage``s. Navigation memos stay (the model should see
them). ``truncated_max_recent_messages`` keeps the N most recent messages. The
result is repaired for the wire: tool calls without results lose their
``tool_calls``, and tool results without a preceding call are dropped.

A conversation's history is the same dicts from one call to the next, one turn
longer each time (``service.running.run_history`` keeps them between turns). So
this module keeps, per history, what it converted and repaired last
(``providers.prefix_memo``), and a call only converts and repairs what was added
since: a turn's Python work does not grow with the conversation's length.
"""

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from threadline.providers.base import ChatMessage, Role, ToolCall
from threadline.providers.prefix_memo import PrefixMemo

JsonDict = dict[str, Any]
History = tuple[JsonDict, ...] | list[JsonDict]

_ROLES: dict[str, Role] = {
    "human": "user",
    "user": "user",
    "ai": "assistant",
    "assistant": "assistant",
    "AIMessageChunk": "assistant",
    "tool": "tool",
    "system": "system",
}


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


def _repair_unit(messages: list[ChatMessage], i: int, out: list[ChatMessage]) -> int:
    """Repair the unit starting at ``messages[i]`` (a message, or an assistant
    message with tool calls and the tool results after it) into ``out``; the index
    of the next unit. A unit's outcome depends on nothing before it."""
    m = messages[i]
    if m.role == "tool":
        return i + 1  # orphan result (its call was truncated away or never sent)
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
        return j
    out.append(m)
    return i + 1


def _repair_from(
    messages: list[ChatMessage], i: int, out: list[ChatMessage]
) -> tuple[int, int]:
    """Repair ``messages`` from the unit starting at ``i`` onto ``out``; where the
    last unit starts and ``len(out)`` before it (only the last unit can change when
    messages are appended: it may have reached the end)."""
    head, kept = i, len(out)
    while i < len(messages):
        head, kept = i, len(out)
        i = _repair_unit(messages, i, out)
    return head, kept


def repair(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Make tool-call / tool-result pairs consistent for the wire."""
    out: list[ChatMessage] = []
    _repair_from(messages, 0, out)
    return out


_CONVERTED: "OrderedDict[int, tuple[JsonDict, ChatMessage | None]]" = OrderedDict()
"""``to_chat_message`` of the history dicts seen last, by identity, for histories
converted again from the start (a new process's first turn of a run, a history
that diverged): each message is converted once, not once per call."""
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


@dataclass(slots=True)
class _Converted:
    """One history as converted so far: ``messages`` (its dicts' conversions,
    unknown types left out), ``repaired`` (``repair(messages)``) and where
    ``repaired``'s last unit starts (``head`` in ``messages``, after ``kept``
    repaired messages): only that unit can change when messages are added."""

    messages: list[ChatMessage] = field(default_factory=list)
    repaired: list[ChatMessage] = field(default_factory=list)
    head: int = 0
    kept: int = 0

    def extend(self, added: tuple[JsonDict, ...]) -> None:
        self.messages.extend(m for m in map(_converted, added) if m is not None)
        del self.repaired[self.kept :]
        self.head, self.kept = _repair_from(self.messages, self.head, self.repaired)


_HISTORIES: PrefixMemo[_Converted] = PrefixMemo()
"""The histories converted last (a history dict is never changed in place: a
redaction builds new ones, which ends the kept prefix there)."""


def history_messages(history: History, max_recent: int | None) -> list[ChatMessage]:
    """Chat history as wire-consistent messages, the last ``max_recent`` only."""
    if not history:
        return []
    held = _HISTORIES.extended(history, _Converted)
    if max_recent is not None and max_recent >= 0:
        if not max_recent:
            return []
        if len(held.messages) > max_recent:
            return repair(held.messages[-max_recent:])
    return list(held.repaired)
