"""The nine evaluate-while-waiting save rules (spec §3.8)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from threadline.engine._graph import (
    Graph,
    Problem,
    as_dict,
    as_list,
    entity_id,
    text,
    waits_for_user,
)

__all__ = ["check_waiting"]

_ON_COMPLETION = "on_node_completion"
_ON_TICK = "on_every_background_tick"


def check_waiting(graph: Graph) -> Iterator[Problem]:
    """Check every enabled ``evaluate_while_waiting_config`` (edges, reverse edges)."""
    for edge in graph.edges:
        config = as_dict(edge.get("evaluate_while_waiting_config"))
        if edge.get("type") == "conditional" and config.get("enabled"):
            yield from _check_edge(graph, edge, config)
    for node in graph.nodes:
        reverse = as_dict(
            as_dict(node.get("global_node_config")).get("reverse_conditional_edge")
        )
        if as_dict(reverse.get("evaluate_while_waiting_config")).get("enabled"):
            node_id = entity_id(node)
            yield Problem(
                "ewaw_on_reverse_edge",
                f"global node {node_id!r}: evaluate-while-waiting is not allowed on a "
                "reverse conditional edge",
                "error",
                node_logical_id=node_id,
            )


def _check_edge(
    graph: Graph, edge: dict[str, Any], config: dict[str, Any]
) -> Iterator[Problem]:
    edge_id = entity_id(edge)
    where = f"edge {edge_id!r}: evaluate while waiting for user input"

    def problem(code: str, message: str, node_id: str | None = None) -> Problem:
        return Problem(code, f"{where} {message}", "error", node_id, edge_id)

    condition = as_dict(edge.get("condition"))
    if text(condition.get("condition_expression")) is None:
        yield problem("ewaw_requires_expression", "requires a condition_expression")
    if text(condition.get("condition_freeform")) is not None:
        yield problem("ewaw_freeform_rejected", "cannot use a condition_freeform")
    for code, message, node_id in _check_trigger(graph, config):
        yield problem(code, message, node_id)
    source_id = edge.get("source_node_logical_id")
    source = graph.by_id.get(source_id) if isinstance(source_id, str) else None
    if source is None:
        return  # reported as unknown_node / missing_endpoint
    if source.get("type") == "super_node":
        yield problem(
            "ewaw_on_super_node_exit_edge",
            f"is not allowed on an exit edge of super node {source_id!r}",
            source_id,
        )
    if not waits_for_user(source):
        yield problem(
            "ewaw_source_must_wait_for_user",
            f"needs source node {source_id!r} to wait for user input",
            source_id,
        )
    direct = [entity_id(e) for e in graph.outgoing(str(source_id), "direct")]
    if direct:
        yield problem(
            "ewaw_source_has_direct_edges",
            f"needs source node {source_id!r} to have no outgoing direct edges, "
            f"but it has {direct!r}",
            source_id,
        )


def _check_trigger(
    graph: Graph, config: dict[str, Any]
) -> Iterator[tuple[str, str, str | None]]:
    mode = config.get("trigger_mode") or _ON_COMPLETION
    triggers = as_list(config.get("trigger_node_logical_ids"))
    if mode == _ON_COMPLETION and not triggers:
        yield (
            "ewaw_requires_trigger_nodes",
            f"with trigger_mode {mode!r} needs trigger_node_logical_ids",
            None,
        )
    elif mode == _ON_TICK:
        debounce = config.get("min_seconds_between_evaluations")
        if (
            isinstance(debounce, bool)
            or not isinstance(debounce, int | float)
            or debounce <= 0
        ):
            yield (
                "ewaw_requires_debounce",
                f"with trigger_mode {mode!r} needs min_seconds_between_evaluations > 0",
                None,
            )
    elif mode != _ON_COMPLETION:
        yield (
            "ewaw_invalid_trigger_mode",
            f"has an unknown trigger_mode {mode!r}",
            None,
        )
    for trigger in triggers:
        node = graph.by_id.get(trigger) if isinstance(trigger, str) else None
        if node is None:
            yield (
                "ewaw_unknown_trigger_node",
                f"names trigger nodes that do not exist in the workflow: {trigger!r}",
                None,
            )
        elif waits_for_user(node):
            yield (
                "ewaw_trigger_node_waits_for_user",
                f"trigger node {trigger!r} would wait for user input; name a "
                "non-interactive node",
                trigger,
            )
