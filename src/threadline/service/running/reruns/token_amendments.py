"""Amending a re-run token's projection: edited, appended and deleted messages and
changed variables, checked against the displayed transcript before the edit."""

import copy
from typing import Any

from threadline.errors import InvalidField
from threadline.service.running.reruns.history import displayed
from threadline.service.running.reruns.token_records import Token

JsonDict = dict[str, Any]


_AMEND_KEYS = (
    "dynamic_variables",
    "runtime_variables",
    "message_edits",
    "message_appends",
    "message_deletes",
)


def _items(body: JsonDict, key: str, fields: tuple[str, ...]) -> list[JsonDict]:
    raw = body.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(i, dict) for i in raw):
        raise InvalidField(f"{key}: a list of objects")
    for i, item in enumerate(raw):
        extra = sorted(set(item) - set(fields))
        if extra:
            raise InvalidField(f"{key}[{i}].{extra[0]}: unknown field")
        for name in fields:
            if name not in item:
                raise InvalidField(f"{key}[{i}].{name}: required")
    return list(raw)


def _slot(state: JsonDict, key: str, i: int, item: JsonDict) -> tuple[str, int]:
    """The stored history position of a displayed message."""
    thread_id = str(item["thread_id"])
    thread = (state.get("threads") or {}).get(thread_id)
    if thread is None:
        raise InvalidField(f"{key}[{i}].thread_id: no thread {thread_id!r}")
    shown = [p for p, m in enumerate(thread.get("history") or []) if displayed(m)]
    index = item["index"]
    if (
        not isinstance(index, int)
        or isinstance(index, bool)
        or not 0 <= index < len(shown)
    ):
        raise InvalidField(f"{key}[{i}].index: no displayed message {index!r}")
    return thread_id, shown[index]


def _check_amend(body: JsonDict, threads: JsonDict) -> None:
    """Reject unknown keys and malformed verbs (422 naming the field)."""
    unknown = sorted(set(body) - set(_AMEND_KEYS))
    if unknown:
        raise InvalidField(f"{unknown[0]}: unknown field")
    dynamic = body.get("dynamic_variables")
    if dynamic is not None and not isinstance(dynamic, dict):
        raise InvalidField("dynamic_variables: an object")
    runtime_vars = body.get("runtime_variables")
    if runtime_vars is not None and not (
        isinstance(runtime_vars, dict)
        and all(isinstance(v, dict) for v in runtime_vars.values())
    ):
        raise InvalidField("runtime_variables: an object of thread id → variables")
    for thread_id in runtime_vars or {}:
        if thread_id not in threads:
            raise InvalidField(f"runtime_variables.{thread_id}: no such thread")
    for key, items in (
        (
            "message_edits",
            _items(body, "message_edits", ("thread_id", "index", "text")),
        ),
        (
            "message_appends",
            _items(body, "message_appends", ("thread_id", "role", "text")),
        ),
    ):
        for i, item in enumerate(items):
            if not isinstance(item.get("text"), str):
                raise InvalidField(f"{key}[{i}].text: text")
    for i, item in enumerate(body.get("message_appends") or []):
        if item["role"] not in ("user", "assistant"):
            raise InvalidField(f"message_appends[{i}].role: user or assistant")
        if str(item["thread_id"]) not in threads:
            raise InvalidField(f"message_appends[{i}].thread_id: no such thread")
    _items(body, "message_deletes", ("thread_id", "index"))


def _delete(history: list[JsonDict], pos: int) -> None:
    """Remove a message and the tool traffic that answered it."""
    end = pos + 1
    while end < len(history) and (
        history[end].get("type") == "tool"
        or (history[end].get("tool_calls") and not displayed(history[end]))
    ):
        end += 1
    del history[pos:end]


def amend(found: Token, body: JsonDict) -> None:
    """Apply an amendment to ``found`` (indexes address the transcript before it)."""
    state = copy.deepcopy(found.state)
    threads = state.get("threads") or {}
    _check_amend(body, threads)
    edits = [
        (_slot(state, "message_edits", i, e), e)
        for i, e in enumerate(body.get("message_edits") or [])
    ]
    deletes = {
        _slot(state, "message_deletes", i, d)
        for i, d in enumerate(body.get("message_deletes") or [])
    }
    for (thread_id, pos), item in edits:
        threads[thread_id]["history"][pos]["content"] = item["text"]
    for thread_id, pos in sorted(deletes, key=lambda s: -s[1]):
        _delete(threads[thread_id]["history"], pos)
    for item in body.get("message_appends") or []:
        kind = "human" if item["role"] == "user" else "ai"
        threads[str(item["thread_id"])]["history"].append(
            {"type": kind, "content": item["text"]}
        )
    state.setdefault("dynamic", {}).update(body.get("dynamic_variables") or {})
    for thread_id, values in (body.get("runtime_variables") or {}).items():
        threads[thread_id].setdefault("variables", {}).update(values)
    found.state = state
    found.removed_message_count += len(deletes)
    if any(body.get(k) for k in _AMEND_KEYS):
        found.edited = True
