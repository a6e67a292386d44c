"""A defensive read-only view of a hydrated workflow's wire-form JSON."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Graph",
    "Problem",
    "Severity",
    "as_dict",
    "as_list",
    "entity_id",
    "is_companion",
    "text",
    "waits_for_user",
]

Severity = Literal["error", "warning"]

# Node types whose ``wait_for_user_message`` defaults to True when the field is absent.
_WAITING_BY_DEFAULT = frozenset({"say_llm", "worker_llm"})


@dataclass(frozen=True)
class Problem:
    """One validation finding; messages name logical ids with ``!r``."""

    code: str
    message: str
    severity: Severity
    node_logical_id: str | None = None
    edge_logical_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used in ``GraphInvalid.details``."""
        return {
            "code": self.code,
            "message": self.message,
            "severity": self.severity,
            "node_logical_id": self.node_logical_id,
            "edge_logical_id": self.edge_logical_id,
        }


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a dict, else an empty dict."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty list."""
    return value if isinstance(value, list) else []


def text(value: Any) -> str | None:
    """``value`` if it is a non-blank string, else None."""
    return value if isinstance(value, str) and value.strip() else None


@dataclass
class Graph:
    """Nodes and edges of a hydrated workflow, indexed for the validation rules."""

    workflow: dict[str, Any]
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    _leaving: dict[Any, list[dict[str, Any]]] | None = field(
        default=None, repr=False, compare=False
    )

    @classmethod
    def from_hydrated(cls, hydrated: Any) -> Graph:
        """Build the view; non-dict entries are dropped (reported separately)."""
        root = as_dict(hydrated)
        nodes = [n for n in as_list(root.get("node_configs")) if isinstance(n, dict)]
        edges = [e for e in as_list(root.get("edge_configs")) if isinstance(e, dict)]
        graph = cls(as_dict(root.get("workflow_config")), nodes, edges)
        for node in nodes:
            node_id = node.get("logical_id")
            if isinstance(node_id, str):
                graph.by_id.setdefault(node_id, node)
        return graph

    def outgoing(self, node_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        """Enabled edges leaving ``node_id``, optionally of one ``type``."""
        if self._leaving is None:
            # Indexed once: rules ask for every node's edges (linear, not E per ask).
            leaving: dict[Any, list[dict[str, Any]]] = {}
            for edge in self.edges:
                if not edge.get("disabled"):
                    source = edge.get("source_node_logical_id")
                    if isinstance(source, str):
                        leaving.setdefault(source, []).append(edge)
            self._leaving = leaving
        edges = self._leaving.get(node_id, [])
        return edges if kind is None else [e for e in edges if e.get("type") == kind]

    def reachable(self, roots: Iterable[str], skip: Iterable[int] = ()) -> set[str]:
        """Node ids reachable from ``roots`` over enabled edges, except edges whose
        ``id()`` is in ``skip``."""
        skipped = set(skip)
        seen: set[str] = set()
        stack = [r for r in roots if r in self.by_id]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            for edge in self.outgoing(current):
                target = edge.get("destination_node_logical_id")
                if id(edge) not in skipped and isinstance(target, str):
                    stack.append(target)
        return seen & set(self.by_id)

    def strings(self) -> Iterator[tuple[str, str | None, str | None]]:
        """Every string in the config as ``(text, node_id, edge_id)``.

        Skips ``default_dynamic_variables`` and super nodes' embedded sub-workflows.
        """
        misc = as_dict(self.workflow.get("miscellaneous"))
        kept = {k: v for k, v in misc.items() if k != "default_dynamic_variables"}
        workflow = {**self.workflow, "miscellaneous": kept}
        yield from ((s, None, None) for s in _walk(workflow))
        for node in self.nodes:
            body = {
                k: v for k, v in node.items() if k != "encapsulated_workflow_config"
            }
            yield from ((s, _id(node), None) for s in _walk(body))
        for edge in self.edges:
            yield from ((s, None, _id(edge)) for s in _walk(edge))


def _id(entity: dict[str, Any]) -> str | None:
    value = entity.get("logical_id")
    return value if isinstance(value, str) else None


def _walk(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def waits_for_user(node: dict[str, Any]) -> bool:
    """Whether ``node`` parks for a user message when entered (type-aware default)."""
    flag = node.get("wait_for_user_message")
    if flag is None:
        return node.get("type") in _WAITING_BY_DEFAULT
    return bool(flag)


def is_companion(edge: dict[str, Any]) -> bool:
    """Whether ``edge`` is a direct edge flagged as a companion-thread fork."""
    config = as_dict(edge.get("companion_thread_config"))
    return edge.get("type") == "direct" and bool(config.get("is_companion_thread"))


def entity_id(entity: dict[str, Any]) -> str | None:
    """The entity's ``logical_id`` if it is a string."""
    return _id(entity)
