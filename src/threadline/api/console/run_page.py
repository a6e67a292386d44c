"""A run's record turned into what its page shows, turn by turn (pure functions).

Per turn: the user's messages and the replies, a timeline of its events (nodes
entered and left, LLM calls with model, tokens, latency and cost, tool and HTTP
calls, edges taken with their condition), the path it took on the graph, and the
runtime variables before and after it as a diff. For the run: totals by model and
the cycle of a run that ended ``aborted_looping_risk``.
"""

import json
from dataclasses import dataclass, field
from typing import Any

from threadline.api.console import graph_svg

JsonDict = dict[str, Any]
LLM_EVENTS = {
    "llm",
    "worker_llm",
    "say_llm",
    "condition_evaluator_llm",
    "discarded_main_llm",
}
HIDDEN = {
    "workflow_show_state",
    "end_workflow_iteration",
    "workflow_ready_for_input",
    "companion_step_boundary",
    "waiting_evaluation_boundary",
}
DETAIL_CHARS = 4000


@dataclass
class Item:
    """One line of a turn's timeline."""

    kind: str
    text: str
    event_id: str | None = None
    detail: str | None = None
    comments: list[JsonDict] = field(default_factory=list)
    ratings: list[JsonDict] = field(default_factory=list)


@dataclass
class TurnView:
    """Everything the page shows of one turn."""

    index: int
    user: list[str]
    replies: list[str]
    items: list[Item]
    path_nodes: list[str]
    path_edges: list[str]
    diff: list[tuple[str, str, str, str]]
    unchanged: int
    tokens: int
    comments: list[JsonDict]
    ratings: list[JsonDict]
    svg: str = ""


def _dump(value: Any) -> str:
    text = json.dumps(value, indent=1, ensure_ascii=False, default=str)
    return text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS] + "\n…"


def _contents(messages: Any, kind: str) -> list[str]:
    out = []
    for m in messages if isinstance(messages, list) else []:
        if isinstance(m, dict) and m.get("type", kind) == kind and m.get("content"):
            out.append(str(m["content"]))
    return out


def _llm(e: JsonDict) -> Item:
    u = e.get("llm_usage_info") or {}
    cost = u.get("cost_usd")
    text = (
        f"LLM call ({e['type']}) at {e.get('origin_node_logical_id')}: model "
        f"{u.get('response_model') or u.get('model')}, tokens "
        f"{u.get('input_tokens', 0)} in / {u.get('output_tokens', 0)} out / "
        f"{u.get('total_tokens', 0)} total, {u.get('response_latency_milliseconds', 0)}"
        f" ms" + (f", ${cost:.6f}" if isinstance(cost, int | float) else "")
    )
    raw = e.get("message")
    message: JsonDict = raw if isinstance(raw, dict) else {}
    calls = message.get("tool_calls") or []
    for call in calls if isinstance(calls, list) else []:
        if isinstance(call, dict):
            text += f"; calls {call.get('name')}({_dump(call.get('args'))})"
    return Item("llm", text, e.get("logical_id"), _dump(message or None))


def _edge(e: JsonDict, conditions: dict[str, str]) -> Item:
    lid = str(e.get("edge_logical_id") or "")
    text = (
        f"Edge {e.get('edge_name') or lid} taken ({e['type']}): "
        f"{e.get('source_node_logical_id')} → {e.get('destination_node_logical_id')}"
    )
    if conditions.get(lid):
        text += f"; condition: {conditions[lid]}"
    if e.get("reason"):
        text += f"; {e['reason']}"
    return Item("edge", text, e.get("logical_id"))


def item(e: JsonDict, conditions: dict[str, str]) -> Item | None:
    """The timeline line of one event (None for bookkeeping events)."""
    kind, eid = str(e.get("type")), e.get("logical_id")
    node = e.get("origin_node_name") or e.get("origin_node_logical_id")
    if kind in HIDDEN:
        return None
    if kind in LLM_EVENTS:
        return _llm(e)
    if kind.endswith("_edge") or kind == "waiting_condition_matched":
        return _edge(e, conditions)
    simple = {
        "start_node_run": ("enter", f"Entered node {node}"),
        "end_node_run": ("leave", f"Left node {node}"),
        "user_messages": (
            "user",
            "User: " + " / ".join(_contents(e.get("messages"), "human")),
        ),
        "assistant_response": ("reply", f"Reply from {node}: {e.get('content')}"),
        "busy_wait_for_user_message": ("wait", f"Waiting for the user at {node}"),
        "workflow_error": ("error", f"Error: {e.get('error_message')}"),
        "workflow_warning": ("error", f"Warning: {e.get('message') or _dump(e)}"),
    }
    if kind in simple:
        k, text = simple[kind]
        return Item(k, text, eid)
    if kind == "http_request":
        text = f"HTTP call at {node}: status {e.get('status_code')}"
        detail = {
            "request": e.get("curl_command"),
            "response": e.get("response_body"),
            "error": e.get("error"),
        }
        return Item("http", text, eid, _dump(detail))
    rest = {
        k: v
        for k, v in e.items()
        if k not in ("logical_id", "comments", "ratings", "timestamp")
    }
    return Item(
        "tool" if "tool" in kind else "other",
        f"{kind} at {node}" if node else kind,
        eid,
        _dump(rest),
    )


def _variables(events: list[JsonDict], before: JsonDict) -> JsonDict:
    after = dict(before)
    for e in events:
        if e.get("type") == "workflow_show_state":
            after.update(e.get("workflow_runtime_variables") or {})
            after.update(e.get("runtime_variables") or {})
    return after


def diff(
    before: JsonDict, after: JsonDict
) -> tuple[list[tuple[str, str, str, str]], int]:
    """Changed keys as ``(key, kind, before, after)`` and the unchanged count."""
    rows, same = [], 0
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if key in before and key in after and old == new:
            same += 1
            continue
        kind = (
            "added"
            if key not in before
            else "removed"
            if key not in after
            else "changed"
        )
        rows.append(
            (
                key,
                kind,
                "" if key not in before else _dump(old),
                "" if key not in after else _dump(new),
            )
        )
    return rows, same


def turns(run: JsonDict) -> list[TurnView]:
    """The turns of a run, each with its timeline, path and variable diff."""
    config = run.get("workflow_config_fully_hydrated") or {}
    conditions = {
        str(e.get("logical_id")): graph_svg.edge_label(e)
        for e in config.get("edge_configs") or []
        if isinstance(e, dict)
    }
    out: list[TurnView] = []
    variables: JsonDict = {}
    for index, pair in enumerate(run.get("input_output_pairs") or []):
        events = [
            e
            for e in ((pair.get("run_output") or {}).get("events") or [])
            if isinstance(e, dict)
        ]
        items = [i for i in (item(e, conditions) for e in events) if i is not None]
        for line, e in zip(
            items, [e for e in events if item(e, conditions)], strict=True
        ):
            line.comments = list(e.get("comments") or [])
            line.ratings = list(e.get("ratings") or [])
        after = _variables(events, variables)
        changes, same = diff(variables, after)
        variables = after
        out.append(
            TurnView(
                index=index,
                user=[
                    c
                    for e in events
                    if e.get("type") == "user_messages"
                    for c in _contents(e.get("messages"), "human")
                ],
                replies=[
                    str(e.get("content"))
                    for e in events
                    if e.get("type") == "assistant_response"
                ],
                items=items,
                path_nodes=[
                    str(e.get("origin_node_logical_id"))
                    for e in events
                    if e.get("type") == "start_node_run"
                ],
                path_edges=[
                    str(e.get("edge_logical_id"))
                    for e in events
                    if str(e.get("type")).endswith("_edge")
                ],
                diff=changes,
                unchanged=same,
                tokens=sum(
                    int((e.get("llm_usage_info") or {}).get("total_tokens") or 0)
                    for e in events
                    if e.get("type") in LLM_EVENTS
                ),
                comments=list(pair.get("comments") or []),
                ratings=list(pair.get("ratings") or []),
            )
        )
    return out


def cycle(run: JsonDict) -> list[str]:
    """The node ids of the loop that ended the run (empty when none)."""
    loop = run.get("loop_detected") or {}
    if not isinstance(loop, dict):
        return []
    nodes = loop.get("cycle") or loop.get("node_logical_ids") or []
    return [str(n) for n in nodes] if isinstance(nodes, list) else []


def totals(run: JsonDict) -> list[JsonDict]:
    """Tokens, calls, latency and cost by model."""
    usage = (run.get("llm_token_usage") or {}).get("breakdown_by_models") or []
    latency = (run.get("llm_latency_stats") or {}).get("breakdown_by_models") or []
    ms = {(m.get("response_model"), m.get("provider")): m for m in latency}
    return [
        {**m, "latency": ms.get((m.get("response_model"), m.get("provider")), {})}
        for m in usage
    ]
