"""Choosing the edge a thread follows after a node ran.

Precedence: an LLM's choice among the freeform candidates it was offered, then direct
edges, then conditional edges whose ``condition_expression`` holds (in config order),
then global nodes' expression conditions, then a global node's reverse edge.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from threadline.engine.expressions import evaluate, parse_expression
from threadline.engine.graph import Graph
from threadline.engine.placeholders import Placeholder
from threadline.engine.state import ThreadState
from threadline.engine.steps import Destination
from threadline.engine.supernode import reverse_origin
from threadline.engine.templates import render

JsonDict = dict[str, Any]
Resolver = Callable[[Placeholder], Any]
_TRUE = frozenset({"true", "1", "yes", "on"})


def flag(misc: JsonDict, key: str, default: bool) -> bool:
    """Read a boolean ``miscellaneous`` knob given as a bool or a string."""
    value = misc.get(key, default)
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return bool(value)


@dataclass(frozen=True, slots=True)
class Route:
    """The transition a thread takes."""

    edge: JsonDict
    destination: str
    event_type: str
    reason: str
    args: JsonDict
    kind: str


def is_companion(edge: JsonDict) -> bool:
    """A direct edge that forks a companion thread."""
    return bool((edge.get("companion_thread_config") or {}).get("is_companion_thread"))


def _condition(edge_or_node: JsonDict, key: str = "condition") -> JsonDict:
    return edge_or_node.get(key) or {}


def _blocked(graph: Graph, source: str, destination: str) -> bool:
    """Guardrail rule: no conditional hop from one guardrail node to another."""
    if source == destination or not flag(
        graph.misc, "no_hopping_between_guardrail_nodes", True
    ):
        return False
    return bool(
        graph.node(source).get("is_guardrail_node")
        and graph.nodes.get(destination, {}).get("is_guardrail_node")
    )


def _global_edge(graph: Graph, target: str, source: str) -> JsonDict:
    node = graph.node(target)
    return {
        "logical_id": f"global_edge_{source}_to_{target}",
        "name": f"Global edge to {graph.name(target)}",
        "type": "conditional",
        "source_node_logical_id": source,
        "destination_node_logical_id": target,
        "condition": _condition(node.get("global_node_config") or {}),
    }


def _reverse_edge(graph: Graph, source: str, caller: str) -> JsonDict:
    gnc = graph.node(source).get("global_node_config") or {}
    return {
        "logical_id": f"reverse_edge_{source}_to_{caller}",
        "name": f"Return from {graph.name(source)}",
        "type": "conditional",
        "source_node_logical_id": source,
        "destination_node_logical_id": caller,
        "condition": gnc.get("reverse_conditional_edge") or {},
    }


def candidate_edges(
    graph: Graph, thread: ThreadState, node_id: str
) -> list[tuple[JsonDict, str]]:
    """Conditional, global and reverse candidates as ``(edge, kind)``, in order."""
    out: list[tuple[JsonDict, str]] = [
        (e, "conditional")
        for e in graph.edges_from(node_id)
        if e.get("type") == "conditional"
        and not _blocked(graph, node_id, e["destination_node_logical_id"])
    ]
    for target in graph.global_nodes:
        if target != node_id and not _blocked(graph, node_id, target):
            out.append((_global_edge(graph, target, node_id), "global"))
    returns = node_id in graph.global_nodes or reverse_origin(graph.node(node_id))
    if thread.global_callers and returns:
        out.append(
            (_reverse_edge(graph, node_id, thread.global_callers[-1]), "reverse")
        )
    return [
        (e, k)
        for e, k in out
        if _condition(e).get("condition_expression")
        or _condition(e).get("condition_freeform")
    ]


def has_direct_edge(graph: Graph, node_id: str) -> bool:
    """Whether a (non-companion) direct edge leaves the node."""
    return any(
        e.get("type", "direct") == "direct" and not is_companion(e)
        for e in graph.edges_from(node_id)
    )


def destinations(
    graph: Graph, thread: ThreadState, node_id: str, scope: dict[str, Any]
) -> tuple[Destination, ...]:
    """Freeform candidates an LLM node is offered (none when a direct edge wins)."""
    if has_direct_edge(graph, node_id):
        return ()
    out = []
    for edge, kind in candidate_edges(graph, thread, node_id):
        cond = _condition(edge)
        if cond.get("condition_expression") or not cond.get("condition_freeform"):
            continue
        out.append(
            Destination(
                edge=edge,
                node_logical_id=edge["destination_node_logical_id"],
                condition=render(cond["condition_freeform"], **scope),
                args_schema=cond.get("args_schema"),
                kind=kind,
            )
        )
    return tuple(out)


_EVENT = {
    "conditional": "conditional_edge",
    "global": "conditional_edge",
    "reverse": "reverse_conditional_edge",
}


def choose(
    graph: Graph,
    thread: ThreadState,
    node_id: str,
    chosen: str | None,
    chosen_args: JsonDict,
    resolve: Resolver,
) -> Route | None:
    """Pick the route after ``node_id`` ran (expression errors propagate)."""
    candidates = candidate_edges(graph, thread, node_id)
    if chosen is not None:
        for edge, kind in candidates:
            if edge["destination_node_logical_id"] == chosen:
                reason = (
                    f"Conditional edge to node {chosen} triggered due to tool call "
                    f"with args filled: {chosen_args}"
                )
                return Route(edge, chosen, _EVENT[kind], reason, chosen_args, kind)
    for edge in graph.edges_from(node_id):
        if edge.get("type", "direct") == "direct" and not is_companion(edge):
            dest = edge["destination_node_logical_id"]
            return Route(
                edge, dest, "direct_edge", f"Direct edge to node {dest}", {}, "direct"
            )
    for edge, kind in candidates:
        text = _condition(edge).get("condition_expression")
        if text and evaluate(parse_expression(text), resolve):
            dest = edge["destination_node_logical_id"]
            reason = f"Condition expression {text!r} evaluated to true"
            return Route(edge, dest, _EVENT[kind], reason, {}, kind)
    return None
