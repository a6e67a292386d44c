"""The mark an applied upgrade leaves for the run's next turn.

``service.running.upgrades`` stores the upgrade as ``PENDING`` in the run's body;
the turn driver turns it into a ``workflow_version_upgraded`` event at the start
of the next turn (``mark``) and the recorded run no longer carries it
(``without_mark``). A turn that fails or is interrupted keeps the mark for the
turn after it.
"""

from dataclasses import replace
from typing import Any

from threadline.engine.emit import Emitter
from threadline.engine.graph import Graph
from threadline.engine.state import MAIN_THREAD, RunState
from threadline.store import Document

JsonDict = dict[str, Any]
PENDING = "pending_version_upgrade"
EVENT = "workflow_version_upgraded"


def mark(doc: Document, state: RunState, graph: Graph, now: float) -> JsonDict | None:
    """The upgrade event of ``doc``'s pending upgrade (counted in ``state``)."""
    pending = doc.body.get(PENDING)
    if not isinstance(pending, dict):
        return None
    emitter = Emitter(state, graph, now)
    return emitter.emit(
        EVENT,
        MAIN_THREAD,
        from_version_number=pending.get("from_version_number"),
        to_version_number=pending.get("to_version_number"),
        upgraded_at=pending.get("upgraded_at"),
        upgraded_by=pending.get("upgraded_by"),
    )


def without_mark(doc: Document) -> Document:
    if PENDING not in doc.body:
        return doc
    return replace(doc, body={k: v for k, v in doc.body.items() if k != PENDING})
