"""Companion-thread rules (spec §6.10): thread ids and the four graph rules."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from threadline.engine._graph import (
    Graph,
    Problem,
    as_dict,
    entity_id,
    is_companion,
    waits_for_user,
)

__all__ = ["check_companions", "declared_thread_ids"]

_THREAD_ID_RE = re.compile(r"[A-Za-z0-9_-]+")
_DELIMITER = "_companion_"


def declared_thread_ids(graph: Graph) -> set[str]:
    """Ids that ``[[thread_<id>.x]]`` may name: ``"0"`` and companions' thread ids."""
    ids = {"0"}
    for edge in graph.edges:
        thread_id = as_dict(edge.get("companion_thread_config")).get("thread_id")
        if is_companion(edge) and isinstance(thread_id, str):
            ids.add(thread_id)
    return ids


def check_companions(graph: Graph) -> Iterator[Problem]:
    """Thread-id rules, then fan-out, interactivity, nesting and convergence rules."""
    yield from _check_thread_ids(graph)
    forks: list[dict[str, Any]] = []
    for node_id in graph.by_id:
        direct = graph.outgoing(node_id, "direct")
        if len(direct) == 1 and is_companion(direct[0]):
            yield Problem(
                "companion_flag_ignored",
                f"edge {entity_id(direct[0])!r} is the only direct edge of node "
                f"{node_id!r}, so it continues the main thread; its companion flag "
                "is ignored",
                "warning",
                node_id,
                entity_id(direct[0]),
            )
        if len(direct) < 2:
            continue
        forks.extend(e for e in direct if is_companion(e))
        mains = [entity_id(e) for e in direct if not is_companion(e)]
        if len(mains) != 1:
            yield Problem(
                "companion_fanout_needs_one_main_edge",
                f"node {node_id!r} fans out into {len(direct)} direct edges of which "
                f"{len(mains)} are main ({mains!r}); exactly one must not be a "
                "companion thread",
                "error",
                node_id,
            )
    yield from _check_subgraphs(graph, forks)


def _check_thread_ids(graph: Graph) -> Iterator[Problem]:
    seen: dict[str, str | None] = {}
    for edge in graph.edges:
        thread_id = as_dict(edge.get("companion_thread_config")).get("thread_id")
        if not is_companion(edge) or thread_id is None:
            continue
        edge_id = entity_id(edge)
        reason = _thread_id_error(thread_id)
        if reason is not None:
            yield Problem(
                "companion_thread_id_invalid",
                f"edge {edge_id!r}: companion thread_id {thread_id!r} {reason}",
                "error",
                edge_logical_id=edge_id,
            )
        elif thread_id in seen:
            yield Problem(
                "duplicate_companion_thread_id",
                f"edges {seen[thread_id]!r} and {edge_id!r} both use companion "
                f"thread_id {thread_id!r}; thread ids must be unique",
                "error",
                edge_logical_id=edge_id,
            )
        else:
            seen[thread_id] = edge_id


def _thread_id_error(thread_id: Any) -> str | None:
    if not isinstance(thread_id, str) or not _THREAD_ID_RE.fullmatch(thread_id):
        return "must be non-empty and use only [A-Za-z0-9_-] (no dots)"
    if _DELIMITER in thread_id:
        return f"must not contain {_DELIMITER!r}"
    if thread_id == "0":
        return "is reserved for the main thread"
    return None


def _forks_here(graph: Graph, node_id: str) -> bool:
    direct = graph.outgoing(node_id, "direct")
    return len(direct) >= 2 and any(is_companion(e) for e in direct)


def _check_subgraphs(graph: Graph, forks: list[dict[str, Any]]) -> Iterator[Problem]:
    starts = [i for i, n in graph.by_id.items() if n.get("is_start")]
    globals_ = [
        i
        for i, n in graph.by_id.items()
        if as_dict(n.get("global_node_config")).get("is_global")
    ]
    main = graph.reachable(starts + globals_, skip=[id(e) for e in forks])
    for fork in forks:
        fork_id = entity_id(fork)
        reach = graph.reachable([str(fork.get("destination_node_logical_id"))])
        for node_id in sorted(reach):
            yield from _check_companion_node(graph, node_id, fork_id, node_id in main)


def _check_companion_node(
    graph: Graph, node_id: str, fork_id: str | None, on_main: bool
) -> Iterator[Problem]:
    prefix = f"node {node_id!r}, reached by companion edge {fork_id!r},"
    if waits_for_user(graph.by_id[node_id]):
        yield Problem(
            "companion_reaches_interactive_node",
            f"{prefix} waits for user input; companion threads never receive "
            "user messages",
            "error",
            node_id,
            fork_id,
        )
    if _forks_here(graph, node_id):
        yield Problem(
            "nested_companion_fork",
            f"{prefix} forks companion threads of its own; companions may only "
            "fork from the main thread",
            "error",
            node_id,
            fork_id,
        )
    if on_main:
        yield Problem(
            "companion_converges_on_main_thread",
            f"{prefix} is also reached by the main thread; keep companion "
            "sub-graphs separate and share state through variables",
            "error",
            node_id,
            fork_id,
        )
