"""What a replay changed, read from the events of the recording and the replay.

- the *path* of a turn: the node runs it started, in order (``start_node_run``:
  thread and node); a run diverged at the first turn and position where the two
  paths differ;
- *errors*: ``workflow_error`` events (node and message); a replayed error the
  recording does not have (same node, same message) is new;
- *tool calls*: the calls the model made (``tool_calls`` of the LLM events, not
  destination choices) and the side-effect nodes run, by their call key; calls
  are compared as multisets, those only in the replay are ``added``, those only
  in the recording ``removed``.
"""

import json
from collections import Counter
from typing import Any

JsonDict = dict[str, Any]
_LLM_EVENTS = frozenset({"say_llm", "worker_llm"})
_DESTINATION = "Destination_Node__"


def path(events: list[JsonDict]) -> list[tuple[str, str]]:
    """``(thread, node)`` of each node run a turn started, in order."""
    return [
        (str(e.get("origin_thread_id")), str(e.get("origin_node_logical_id")))
        for e in events
        if e.get("type") == "start_node_run"
    ]


def divergence(
    turn_index: int, recorded: list[JsonDict], replayed: list[JsonDict]
) -> JsonDict | None:
    """Where a turn's replayed path leaves the recorded one (None: it does not)."""
    before, after = path(recorded), path(replayed)
    for position in range(max(len(before), len(after))):
        old = before[position] if position < len(before) else None
        new = after[position] if position < len(after) else None
        if old != new:
            return {
                "turn_index": turn_index,
                "position": position,
                "thread_id": (new or old or ("", ""))[0],
                "node_logical_id": new[1] if new else None,
                "recorded_node_logical_id": old[1] if old else None,
            }
    return None


def errors(turn_index: int, events: list[JsonDict]) -> list[JsonDict]:
    return [
        {
            "turn_index": turn_index,
            "node_logical_id": e.get("origin_node_logical_id")
            or e.get("node_logical_id"),
            "message": str(e.get("error_message") or ""),
        }
        for e in events
        if e.get("type") == "workflow_error"
    ]


def new_errors(recorded: list[JsonDict], replayed: list[JsonDict]) -> list[JsonDict]:
    """Replayed errors the recording does not have (compared by node and text)."""
    known = Counter((e["node_logical_id"], e["message"]) for e in recorded)
    out = []
    for error in replayed:
        key = (error["node_logical_id"], error["message"])
        if known[key] > 0:
            known[key] -= 1
        else:
            out.append(error)
    return out


def llm_tool_calls(events: list[JsonDict]) -> list[JsonDict]:
    """The tools the model called, per LLM event (destinations left out)."""
    calls = []
    for event in events:
        if event.get("type") not in _LLM_EVENTS:
            continue
        message = event.get("message") or {}
        for call in (
            message.get("tool_calls") if isinstance(message, dict) else None
        ) or []:
            name = str(call.get("name") or "") if isinstance(call, dict) else ""
            if not name or name.startswith(_DESTINATION):
                continue
            calls.append(
                {
                    "kind": "llm_tool",
                    "node_logical_id": event.get("origin_node_logical_id"),
                    "name": name,
                    "args": call.get("args") or {},
                }
            )
    return calls


def _key(call: JsonDict) -> str:
    shown = {k: v for k, v in call.items() if k != "not_executed"}
    return json.dumps(shown, sort_keys=True, default=str)


def changed_calls(recorded: list[JsonDict], replayed: list[JsonDict]) -> JsonDict:
    """``{changed, added, removed}`` of two lists of tool calls."""
    before = Counter(_key(c) for c in recorded)
    after = Counter(_key(c) for c in replayed)
    added, removed = [], []
    for call in replayed:
        key = _key(call)
        if before[key] > 0:
            before[key] -= 1
        else:
            added.append(call)
    for call in recorded:
        key = _key(call)
        if after[key] > 0:
            after[key] -= 1
        else:
            removed.append(call)
    return {"changed": bool(added or removed), "added": added, "removed": removed}


def summary(runs: list[JsonDict], requested: int) -> JsonDict:
    """The check's totals over its per-run reports."""
    done = [r for r in runs if r.get("outcome") == "replayed"]
    return {
        "runs": requested,
        "replayed": len(done),
        "incomplete": sum(1 for r in runs if r.get("outcome") == "incomplete"),
        "same_path": sum(1 for r in done if r.get("same_path")),
        "diverged": sum(1 for r in done if not r.get("same_path")),
        "diverged_run_ids": [
            r["workflow_run_id"] for r in done if not r.get("same_path")
        ],
        "with_new_errors": sum(1 for r in runs if r.get("new_errors")),
        "new_errors": sum(len(r.get("new_errors") or []) for r in runs),
        "with_changed_tool_calls": sum(
            1 for r in runs if (r.get("tool_calls") or {}).get("changed")
        ),
        "with_changed_status": sum(1 for r in done if r.get("status_changed")),
    }
