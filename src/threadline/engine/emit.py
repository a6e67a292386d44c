"""Building runtime events: the common envelope, node fields and edge fields.

Event ids are derived from the run id and a per-run counter (uuid5), and timestamps
come from the clock readings the shell passes in, so a replay emits the same events.
"""

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from threadline.engine.graph import Graph
from threadline.engine.state import RunState

JsonDict = dict[str, Any]
_NAMESPACE = uuid.UUID("5b1f0c7e-2f4c-4e43-9d2e-6b8a3c1f0a11").bytes


def reference_id(thread_id: str | None) -> str | None:
    """The author-facing thread id: ``0`` for main, ``x`` for ``0_companion_x``."""
    if thread_id is None:
        return None
    return thread_id.rsplit("_companion_", 1)[-1]


def event_id(seed: str) -> str:
    """``uuid5(namespace, seed)`` as text, without building a UUID object (hot path)."""
    raw = bytearray(hashlib.sha1(_NAMESPACE + seed.encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(slots=True)
class Emitter:
    """Collects the events of one turn, in order."""

    state: RunState
    graph: Graph
    now: float
    events: list[JsonDict] = field(default_factory=list)

    def emit(self, type_: str, origin: str | None = "0", /, **fields: Any) -> JsonDict:
        """Append an event with the common envelope and return it."""
        if fields.get("llm_usage_info", ...) is None:
            del fields["llm_usage_info"]  # the wire model wants an object or nothing
        self.state.events += 1
        seed = f"{self.state.run_id}:{self.state.events}"
        event: JsonDict = {
            "type": type_,
            "logical_id": f"event_{event_id(seed)}",
            "timestamp": self.now,
            "origin_thread_id": origin,
            "thread_reference_id": reference_id(origin),
            "comments": [],
            "interrupted": False,
            **fields,
        }
        self.events.append(event)
        return event

    def node_fields(self, node_id: str, run_id: int) -> JsonDict:
        """The fields every node event carries."""
        return {
            "origin_node_logical_id": node_id,
            "origin_node_name": self.graph.name(node_id),
            "origin_node_run_id": str(run_id),
        }

    def edge(
        self,
        type_: str,
        origin: str,
        edge: JsonDict,
        source: str | None,
        destination: str | None,
        reason: str,
        **extra: Any,
    ) -> JsonDict:
        """Emit an edge event (``direct_edge``, ``conditional_edge``, ...)."""
        self.state.edge_runs += 1
        return self.emit(
            type_,
            origin,
            edge_name=edge.get("name"),
            edge_logical_id=edge.get("logical_id"),
            edge_run_id=str(self.state.edge_runs),
            source_node_logical_id=source,
            source_node_name=self.graph.name(source),
            destination_node_logical_id=destination,
            destination_node_name=self.graph.name(destination),
            reason=reason,
            **extra,
        )
