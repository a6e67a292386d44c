"""What a re-run carries over of the conversation: the history modes, and the
messages and variables a person would see."""

from typing import Any

JsonDict = dict[str, Any]


def _is_memo(message: JsonDict) -> bool:
    metadata = message.get("response_metadata") or {}
    return metadata.get("navigation_message") == "true"


def displayed(message: Any) -> bool:
    """A user or assistant line a person would see (no memos, no tool traffic)."""
    if not isinstance(message, dict) or _is_memo(message):
        return False
    if message.get("tool_calls") or message.get("type") not in ("human", "ai"):
        return False
    content = message.get("content")
    return isinstance(content, str) and bool(content.strip())


def apply_history_mode(state: JsonDict, mode: str) -> None:
    for thread in (state.get("threads") or {}).values():
        if mode == "NONE":
            thread["history"] = []
        elif mode == "USER_AND_ASSISTANT_ONLY":
            thread["history"] = [m for m in thread.get("history") or [] if displayed(m)]


def restored_count(state: JsonDict) -> int:
    return sum(
        1
        for thread in (state.get("threads") or {}).values()
        for m in thread.get("history") or []
        if displayed(m)
    )


def variable_count(state: JsonDict) -> int:
    threads = state.get("threads") or {}
    return (
        len(state.get("dynamic") or {})
        + len(state.get("workflow_variables") or {})
        + sum(len(t.get("variables") or {}) for t in threads.values())
    )


def threads_view(state: JsonDict) -> list[JsonDict]:
    out: list[JsonDict] = []
    for thread_id, thread in (state.get("threads") or {}).items():
        shown = [m for m in thread.get("history") or [] if displayed(m)]
        out.append(
            {
                "thread_id": thread_id,
                "node_logical_id": thread.get("node"),
                "status": thread.get("status"),
                "resumable": thread_id == "0" and thread.get("status") != "ended",
                "messages": [
                    {
                        "index": i,
                        "role": "user" if m["type"] == "human" else "assistant",
                        "text": m["content"],
                        "editable": True,
                    }
                    for i, m in enumerate(shown)
                ],
                "runtime_variables": dict(thread.get("variables") or {}),
            }
        )
    return out
