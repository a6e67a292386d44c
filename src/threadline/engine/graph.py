"""The compiled graph a run executes: nodes by logical id, edges by source.

Built from a fully hydrated config (plain JSON, validated on save). Disabled edges
are dropped here, so nothing downstream can traverse them.
"""

from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Graph:
    """Read-only view of one workflow version for the engine."""

    workflow: JsonDict
    nodes: dict[str, JsonDict]
    outgoing: dict[str, tuple[JsonDict, ...]]
    global_nodes: tuple[str, ...]
    start: str | None
    misc: JsonDict = field(default_factory=dict)

    def node(self, logical_id: str) -> JsonDict:
        """The node config with this logical id (KeyError when unknown)."""
        return self.nodes[logical_id]

    def edges_from(self, logical_id: str) -> tuple[JsonDict, ...]:
        """Enabled edges leaving a node, in config order."""
        return self.outgoing.get(logical_id, ())

    def name(self, logical_id: str | None) -> str | None:
        """A node's display name (its logical id when unnamed)."""
        if logical_id is None:
            return None
        node = self.nodes.get(logical_id, {})
        return node.get("name") or logical_id


def compile_graph(hydrated: JsonDict) -> Graph:
    """Index a hydrated config for execution."""
    workflow = hydrated.get("workflow_config") or {}
    nodes = {n["logical_id"]: n for n in hydrated.get("node_configs") or []}
    outgoing: dict[str, list[JsonDict]] = {}
    for edge in hydrated.get("edge_configs") or []:
        if edge.get("disabled"):
            continue
        outgoing.setdefault(edge.get("source_node_logical_id", ""), []).append(edge)
    starts = [lid for lid, n in nodes.items() if n.get("is_start")]
    global_nodes = tuple(
        lid
        for lid, n in nodes.items()
        if (n.get("global_node_config") or {}).get("is_global")
        and not n.get("disabled")
    )
    return Graph(
        workflow=workflow,
        nodes=nodes,
        outgoing={k: tuple(v) for k, v in outgoing.items()},
        global_nodes=global_nodes,
        start=starts[0] if starts else None,
        misc=workflow.get("miscellaneous") or {},
    )
