"""Placeholder checks: unknown ``{{dynamic}}`` variables, filters and thread ids."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from threadline.engine._graph import Graph, Problem, as_dict
from threadline.engine._rules_threads import declared_thread_ids
from threadline.engine.filters import KNOWN_FILTERS
from threadline.engine.placeholders import Kind, Placeholder, find_placeholders

__all__ = ["BUILTIN_DYNAMIC_VARIABLES", "check_variables"]

BUILTIN_DYNAMIC_VARIABLES: Final = frozenset(
    {
        "now", "date", "time", "year", "month", "day", "hour", "minute", "second",
        "iso_datetime", "day_of_week", "timestamp", "timestamp_ms", "rand_int",
        "rand_str", "rand_float", "rand_uuid", "rand_bool", "uuid", "workflow_run_id",
    }
)  # fmt: skip


def _known_dynamic(hydrated: Any, graph: Graph) -> set[str]:
    misc = as_dict(graph.workflow.get("miscellaneous"))
    defaults = as_dict(misc.get("default_dynamic_variables"))
    supplied = as_dict(as_dict(hydrated).get("dynamic_variables"))
    return set(BUILTIN_DYNAMIC_VARIABLES) | set(defaults) | set(supplied)


def _where(node_id: str | None, edge_id: str | None) -> str:
    if node_id is not None:
        return f"node {node_id!r}"
    if edge_id is not None:
        return f"edge {edge_id!r}"
    return "the workflow config"


def _findings(
    placeholder: Placeholder, known: set[str], threads: set[str]
) -> Iterator[tuple[str, str]]:
    if (
        placeholder.kind is Kind.DYNAMIC
        and placeholder.root not in known
        and not placeholder.has_default
    ):
        yield (
            "unknown_dynamic_variable",
            f"{{{{{placeholder.root}}}}} has no value in default_dynamic_variables "
            "and no '| default' filter",
        )
    if placeholder.kind is Kind.THREAD and placeholder.thread_id not in threads:
        yield (
            "unknown_thread_reference",
            f"{placeholder.raw} reads thread {placeholder.thread_id!r}, which no "
            "companion edge declares as its thread_id",
        )
    for f in placeholder.filters:
        if f.name not in KNOWN_FILTERS:
            yield (
                "unknown_filter",
                f"{placeholder.raw} uses unknown filter {f.name!r}",
            )


def check_variables(hydrated: Any, graph: Graph) -> Iterator[Problem]:
    """Warn once per (finding, entity) about placeholders that cannot resolve."""
    known = _known_dynamic(hydrated, graph)
    threads = declared_thread_ids(graph)
    reported: set[tuple[str, str, str | None, str | None]] = set()
    for value, node_id, edge_id in graph.strings():
        for placeholder in find_placeholders(value):
            for code, message in _findings(placeholder, known, threads):
                key = (code, message, node_id, edge_id)
                if key in reported:
                    continue
                reported.add(key)
                where = _where(node_id, edge_id)
                yield Problem(code, f"{where}: {message}", "warning", node_id, edge_id)
