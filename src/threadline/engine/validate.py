"""Whole-graph validation of a hydrated workflow in its wire (JSON) form.

``validate_workflow`` reports EVERY problem at once and never raises, whatever the
input shape. The same function serves save and activation; the caller decides what
blocks: any ``error`` blocks both save and activation (raise ``GraphInvalid`` with
``[p.to_dict() for p in problems]``), ``warning``s never block and are returned to
the author. ``blocking(problems)`` selects the errors.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from threadline.engine._graph import Graph, Problem, Severity, as_dict, as_list, text
from threadline.engine._rules_threads import check_companions
from threadline.engine._rules_variables import (
    BUILTIN_DYNAMIC_VARIABLES,
    check_variables,
)
from threadline.engine._rules_waiting import check_waiting
from threadline.engine.expressions import ExpressionSyntaxError, parse_expression

__all__ = [
    "BUILTIN_DYNAMIC_VARIABLES",
    "Problem",
    "Severity",
    "blocking",
    "validate_workflow",
]

_EDGE_TYPES = frozenset({"direct", "conditional", "companion"})


def validate_workflow(hydrated: dict[str, Any]) -> list[Problem]:
    """Return every problem of ``{"workflow_config", "node_configs", "edge_configs"}``.

    Errors come first in check order (ids, start node, endpoints, conditions,
    evaluate-while-waiting, companion threads), then warnings; within a check,
    problems follow the order of the config.
    """
    graph = Graph.from_hydrated(hydrated)
    problems = [
        *_check_entities(hydrated),
        *_check_start(graph),
        *_check_endpoints(graph),
        *_check_conditions(graph),
        *check_waiting(graph),
        *check_companions(graph),
        *_check_guardrails(graph),
        *check_variables(hydrated, graph),
    ]
    return sorted(problems, key=lambda p: p.severity != "error")


def blocking(problems: list[Problem]) -> list[Problem]:
    """The problems that block save and activation (severity ``error``)."""
    return [p for p in problems if p.severity == "error"]


def _check_entities(hydrated: Any) -> Iterator[Problem]:
    root = as_dict(hydrated)
    for kind, key in (("node", "node_configs"), ("edge", "edge_configs")):
        entries = as_list(root.get(key))
        ids: list[str] = []
        for index, entry in enumerate(entries):
            logical_id = as_dict(entry).get("logical_id")
            if not isinstance(entry, dict) or text(logical_id) is None:
                yield Problem(
                    "missing_logical_id",
                    f"{key}[{index}] is not a {kind} object with a logical_id",
                    "error",
                )
            else:
                ids.append(str(logical_id))
        for logical_id, count in Counter(ids).items():
            if count > 1:
                yield Problem(
                    f"duplicate_{kind}_id",
                    f"{kind} logical_id {logical_id!r} is used {count} times",
                    "error",
                    logical_id if kind == "node" else None,
                    logical_id if kind == "edge" else None,
                )


def _check_start(graph: Graph) -> Iterator[Problem]:
    starts = [n.get("logical_id") for n in graph.nodes if n.get("is_start")]
    if not starts:
        yield Problem("no_start_node", "no node has is_start=true", "error")
    elif len(starts) > 1:
        names = ", ".join(repr(s) for s in starts)
        yield Problem(
            "multiple_start_nodes",
            f"{len(starts)} nodes have is_start=true: {names}; exactly one may",
            "error",
        )


def _check_endpoints(graph: Graph) -> Iterator[Problem]:
    for edge in graph.edges:
        edge_id = edge.get("logical_id")
        edge_type = edge.get("type")
        if edge_type not in _EDGE_TYPES:
            yield Problem(
                "unknown_edge_type",
                f"edge {edge_id!r} has unknown type {edge_type!r}",
                "error",
                edge_logical_id=edge_id,
            )
        for end in ("source", "destination"):
            node_id = edge.get(f"{end}_node_logical_id")
            if node_id is None:
                yield Problem(
                    "missing_endpoint",
                    f"edge {edge_id!r} has no {end} node",
                    "error",
                    edge_logical_id=edge_id,
                )
            elif not isinstance(node_id, str) or node_id not in graph.by_id:
                yield Problem(
                    "unknown_node",
                    f"edge {edge_id!r}: {end} {node_id!r} is not a node of this "
                    "workflow",
                    "error",
                    edge_logical_id=edge_id,
                )


def _expression_problem(
    condition: dict[str, Any], where: str, node_id: str | None, edge_id: str | None
) -> Iterator[Problem]:
    expression = condition.get("condition_expression")
    if text(expression) is None:
        return
    try:
        parse_expression(str(expression))
    except ExpressionSyntaxError as err:
        yield Problem(
            "invalid_condition_expression",
            f"{where}: condition_expression {expression!r} is malformed: "
            f"{err.message} at position {err.position}",
            "error",
            node_id,
            edge_id,
        )


def _has_condition(condition: dict[str, Any]) -> bool:
    return any(
        text(condition.get(k)) for k in ("condition_freeform", "condition_expression")
    )


def _check_conditions(graph: Graph) -> Iterator[Problem]:
    for edge in graph.edges:
        if edge.get("type") != "conditional":
            continue
        edge_id = edge.get("logical_id")
        condition = as_dict(edge.get("condition"))
        if not _has_condition(condition):
            yield Problem(
                "conditional_edge_without_condition",
                f"conditional edge {edge_id!r} has neither a condition_freeform "
                "nor a condition_expression",
                "error",
                edge_logical_id=edge_id,
            )
        yield from _expression_problem(condition, f"edge {edge_id!r}", None, edge_id)
    for node in graph.nodes:
        yield from _check_global_node(node)


def _check_global_node(node: dict[str, Any]) -> Iterator[Problem]:
    node_id = node.get("logical_id")
    config = as_dict(node.get("global_node_config"))
    condition = as_dict(config.get("condition"))
    reverse = as_dict(config.get("reverse_conditional_edge"))
    where = f"global node {node_id!r}"
    yield from _expression_problem(condition, where, node_id, None)
    yield from _expression_problem(reverse, f"{where} reverse edge", node_id, None)
    if config.get("is_global") and not _has_condition(condition):
        yield Problem(
            "global_node_without_condition",
            f"{where} has no condition, so it can never be entered globally",
            "warning",
            node_id,
        )


def _check_guardrails(graph: Graph) -> Iterator[Problem]:
    strikes = as_dict(graph.workflow.get("guardrail_strikes_config"))
    target = strikes.get("escalation_node_logical_id")
    if target is not None and (
        not isinstance(target, str) or target not in graph.by_id
    ):
        yield Problem(
            "unknown_escalation_node",
            f"guardrail escalation node {target!r} is not a node of the workflow; "
            "on escalation the run would finish instead",
            "warning",
            node_logical_id=str(target),
        )
