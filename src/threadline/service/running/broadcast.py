"""An in-process broadcast of streamed turns, so a reconnecting client can re-attach.

While a turn streams, every frame it produces (its live text deltas, then each event
of the finished turn and the end of the turn, or the error that ended it) is given
the run's next sequence number, kept in a bounded buffer of the run's ``Channel``
and fanned out to the channel's subscribers. A client that lost its connection
re-attaches with the last sequence number it saw (``attach``) and receives exactly
the frames after it, then the live ones until no turn of the run is running.

The buffer lives in this process only and is dropped ``LINGER_S`` seconds after the
run's last turn ended. When it cannot answer (the turn ran in another process, the
buffer is gone, or the asked-for frames fell out of it), ``attach`` waits for the
run's turn to end and answers from the stored run: the recorded last segment's
events, which end with ``workflow_ready_for_input`` / ``end_workflow``.

Sequence numbers increase by one per published frame of a run within one process
(a run's first turn starts at 1); a transport may not show every frame (the
WebSocket sends no frame for the end of a turn), so a client sees gaps. Frames for
the turn's own client only have no number: a refused command (nothing ran) and a
background pass that changed nothing.

The frames are ``stream_frames.py``'s; the channels, their buffers and the turns'
publishers are ``broadcast_channels.py``'s (re-exported here); this module attaches.
"""

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, Literal

from threadline.engine.turn import TurnOutcome
from threadline.errors import Conflict, InvalidField, NotFound
from threadline.ids import is_object_id
from threadline.service.caller import Caller
from threadline.service.running.broadcast_channels import (
    BUFFER_FRAMES,
    LINGER_S,
    REGISTRY,
    Channel,
    Registry,
    TurnPublisher,
)
from threadline.service.running.run_records import full_run
from threadline.service.running.stream_frames import (
    Delta,
    Event,
    Failed,
    Finished,
    Frame,
    Item,
    Stored,
)
from threadline.store import Document, Store

__all__ = [
    "BUFFER_FRAMES",
    "LINGER_S",
    "MAX_SEQ",
    "PATIENCE_S",
    "POLL_S",
    "REGISTRY",
    "Attachment",
    "Channel",
    "Delta",
    "Event",
    "Failed",
    "Finished",
    "Frame",
    "Item",
    "Registry",
    "Stored",
    "TurnPublisher",
    "attach",
    "check_after_seq",
    "check_run_id",
    "stored_end",
]

JsonDict = dict[str, Any]

POLL_S = 0.25
"""How often ``attach`` looks at a run whose turn runs elsewhere."""
PATIENCE_S = 900.0
"""How long ``attach`` waits for such a turn before giving up."""

# A turn of the run is in progress (commands.py refuses commands in these).
_BUSY = frozenset({"started", "running"})


@dataclass(frozen=True, slots=True)
class Attachment:
    """What an attach answers: frames from the buffer, or the stored run's end."""

    doc: Document
    source: Literal["buffer", "stored"]
    frames: AsyncGenerator[Frame | Stored, None]


def check_run_id(value: Any, field: str = "workflow_run_id") -> str:
    if not isinstance(value, str) or not is_object_id(value):
        raise InvalidField(f"{field}: must be a 24-hex workflow run id")
    return value


MAX_SEQ = 2**31 - 1
"""Largest sequence number a run's stream can reach (an ``INTEGER`` column)."""


def check_after_seq(value: Any, field: str = "after_seq") -> int:
    """``value`` as a stream position: an integer from 0 to ``MAX_SEQ``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidField(f"{field}: must be an integer from 0 to {MAX_SEQ}")
    if not 0 <= value <= MAX_SEQ:
        raise InvalidField(f"{field}: must be an integer from 0 to {MAX_SEQ}")
    return value


async def _load(store: Store, team_id: str, run_id: str) -> Document:
    async with store.begin() as tx:
        doc = await tx.documents("workflow_runs").get(team_id, run_id)
    if doc is None:
        raise NotFound(f"workflow run {run_id!r} not found")
    return doc


async def attach(
    store: Store,
    caller: Caller,
    run_id: str,
    after_seq: int,
    *,
    registry: Registry = REGISTRY,
    poll_s: float = POLL_S,
    patience_s: float = PATIENCE_S,
) -> Attachment:
    """Re-attach the caller to a run of its team after frame ``after_seq``.

    Raises ``NotFound`` for a run the caller's team does not have.
    """
    doc = await _load(store, caller.team_id, run_id)
    channel = registry.get(caller.team_id, run_id)
    if channel is not None and channel.covers(after_seq):
        return Attachment(doc, "buffer", channel.follow(after_seq))

    async def stored() -> AsyncGenerator[Frame | Stored, None]:
        if channel is not None:
            await channel.idle()
        yield await stored_end(store, caller.team_id, run_id, poll_s, patience_s)

    return Attachment(doc, "stored", stored())


async def stored_end(
    store: Store, team_id: str, run_id: str, poll_s: float, patience_s: float
) -> Stored:
    """The run's last recorded turn, once no turn of it is in progress."""
    waited = 0.0
    while True:
        async with store.begin() as tx:
            doc = await tx.documents("workflow_runs").get(team_id, run_id)
            pairs = await tx.turns().list(team_id, run_id) if doc else []
        if doc is None:
            raise NotFound(f"workflow run {run_id!r} not found")
        if doc.status not in _BUSY:
            break
        if waited >= patience_s:
            raise Conflict(
                "a turn of this run is still in progress; attach again later",
                code="turn_in_progress",
            )
        await asyncio.sleep(poll_s)
        waited += poll_s
    run = full_run(doc, pairs)  # secrets masked, as in GET
    segments = run.get("input_output_pairs") or []
    output = (segments[-1].get("run_output") or {}) if segments else {}
    state = doc.body.get("state") or {}
    outcome = TurnOutcome(
        status=str(doc.status),
        events=list(output.get("events") or []),
        outputs=dict(output.get("thread_to_node_outputs") or {}),
        error=state.get("error"),
    )
    return Stored(doc, outcome)
