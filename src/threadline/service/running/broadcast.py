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
"""

import asyncio
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass, replace
from typing import Any, Literal

from threadline.engine.turn import TurnOutcome
from threadline.errors import Conflict, InvalidField, NotFound, ThreadlineError
from threadline.ids import is_object_id
from threadline.service.caller import Caller
from threadline.service.running.run_records import full_run
from threadline.store import Document, Store

JsonDict = dict[str, Any]

BUFFER_FRAMES = 2000
"""Frames kept per run; older ones are dropped (an attach behind them is served
from the stored run)."""
LINGER_S = 60.0
"""How long a run's buffer outlives its last turn."""
POLL_S = 0.25
"""How often ``attach`` looks at a run whose turn runs elsewhere."""
PATIENCE_S = 900.0
"""How long ``attach`` waits for such a turn before giving up."""

# A turn of the run is in progress (commands.py refuses commands in these).
_BUSY = frozenset({"started", "running"})


@dataclass(frozen=True, slots=True)
class Delta:
    """A live ``assistant_response_delta`` event."""

    event: JsonDict


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a finished turn, in the turn's order."""

    event: JsonDict


@dataclass(frozen=True, slots=True)
class Finished:
    """The turn ran and was saved (follows the turn's ``Event`` frames)."""

    doc: Document
    outcome: TurnOutcome


@dataclass(frozen=True, slots=True)
class Failed:
    """The service refused or failed the turn."""

    error: Exception


Item = Delta | Event | Finished | Failed


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of a run: its sequence number (None: the turn's own client only)."""

    seq: int | None
    run_id: str | None
    item: Item

    @property
    def ends_turn(self) -> bool:
        return isinstance(self.item, Finished | Failed)


@dataclass(frozen=True, slots=True)
class Stored:
    """The end of the run's last recorded turn, read back from the store."""

    doc: Document
    outcome: TurnOutcome


class Channel:
    """The frames of one run in this process and their subscribers."""

    def __init__(self, team_id: str, run_id: str | None, size: int) -> None:
        self.team_id = team_id
        self.run_id = run_id
        self.frames: deque[Frame] = deque(maxlen=size)
        self.next_seq = 1
        self.live = 0
        """Turns of the run streaming now."""
        self.subscribers: set[asyncio.Queue[Frame | None]] = set()
        """Each gets every published frame, and None when the run fell idle."""
        self.expiry: asyncio.TimerHandle | None = None

    def publish(self, item: Item) -> Frame:
        frame = Frame(self.next_seq, self.run_id, item)
        self.next_seq += 1
        self.frames.append(frame)
        for queue in self.subscribers:
            queue.put_nowait(frame)
        return frame

    def covers(self, after_seq: int) -> bool:
        """Whether every frame after ``after_seq`` is still buffered here."""
        first = self.frames[0].seq if self.frames else self.next_seq
        assert first is not None
        return first - 1 <= after_seq < self.next_seq

    async def follow(self, after_seq: int) -> AsyncGenerator[Frame, None]:
        """The buffered frames after ``after_seq``, then live ones, until a turn's
        end leaves the run with no turn streaming."""
        queue: asyncio.Queue[Frame | None] = asyncio.Queue()
        for frame in self.frames:
            if frame.seq is not None and frame.seq > after_seq:
                queue.put_nowait(frame)
        if queue.empty() and self.live == 0:
            return
        self.subscribers.add(queue)
        try:
            while True:
                got = await queue.get()
                if got is not None:
                    yield got
                    if not got.ends_turn:
                        continue
                # A turn ended, or one ended without a frame (a quiet pass).
                if queue.empty() and self.live == 0:
                    return
        finally:
            self.subscribers.discard(queue)

    async def idle(self) -> None:
        """Wait until no turn of the run is streaming."""
        async for _ in self.follow(self.next_seq - 1):
            pass


class Registry:
    """The channels of the runs streaming in this process (or lately ended)."""

    def __init__(self, size: int = BUFFER_FRAMES, linger_s: float = LINGER_S) -> None:
        self.size = size
        self.linger_s = linger_s
        self._channels: dict[tuple[str, str], Channel] = {}

    def get(self, team_id: str, run_id: str) -> Channel | None:
        return self._channels.get((team_id, run_id))

    def discard(self, team_id: str, run_id: str) -> None:
        """Forget a run's buffer (its expiry; tests)."""
        self._channels.pop((team_id, run_id), None)

    def turn(self, team_id: str, run_id: str | None) -> "TurnPublisher":
        """A publisher for one turn; ``run_id`` None until the run is known."""
        return TurnPublisher(self, team_id, run_id)

    def _open(self, channel: Channel) -> None:
        channel.live += 1
        if channel.expiry is not None:
            channel.expiry.cancel()
            channel.expiry = None

    def _acquire(self, team_id: str, run_id: str) -> Channel:
        channel = self._channels.get((team_id, run_id))
        if channel is None:
            channel = Channel(team_id, run_id, self.size)
            self._channels[(team_id, run_id)] = channel
        self._open(channel)
        return channel

    def _release(self, channel: Channel) -> None:
        channel.live -= 1
        if channel.live > 0:
            return
        for queue in channel.subscribers:
            queue.put_nowait(None)
        if channel.run_id is None:
            return
        key = (channel.team_id, channel.run_id)

        def expire() -> None:
            if channel.live == 0 and self._channels.get(key) is channel:
                del self._channels[key]

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: nobody can attach anyway
            expire()
            return
        channel.expiry = loop.call_later(self.linger_s, expire)


class TurnPublisher:
    """Publishes the frames of one turn into its run's channel."""

    def __init__(self, registry: Registry, team_id: str, run_id: str | None) -> None:
        self._registry = registry
        self._team_id = team_id
        self._bound = run_id is not None
        if run_id is not None:
            self._channel = registry._acquire(team_id, run_id)
        else:
            # A new run: frames are numbered from 1 here and the channel is
            # registered once the run's id is known.
            self._channel = Channel(team_id, None, registry.size)
            registry._open(self._channel)
        self._published = False
        self._closed = False

    @property
    def run_id(self) -> str | None:
        return self._channel.run_id

    def bind(self, run_id: str) -> None:
        """The turn's run is ``run_id``: make its frames attachable."""
        if self._bound or self._closed:
            return
        self._bound = True
        pending = self._channel
        existing = self._registry.get(self._team_id, run_id)
        if existing is None:
            pending.run_id = run_id
            pending.frames = deque(
                (replace(f, run_id=run_id) for f in pending.frames),
                maxlen=pending.frames.maxlen,
            )
            self._registry._channels[(self._team_id, run_id)] = pending
            return
        # Not a new run after all: carry the frames over to its channel.
        self._registry._open(existing)
        pending.live -= 1
        self._channel = existing
        for frame in pending.frames:
            existing.publish(frame.item)

    def publish(self, item: Item) -> Frame:
        self._published = True
        return self._channel.publish(item)

    def finish(self, doc: Document, outcome: TurnOutcome, quiet: bool) -> list[Frame]:
        """The turn's events and its end; a quiet pass is kept from subscribers."""
        self.bind(doc.id)
        if quiet and not self._published:
            frames = [Frame(None, doc.id, Finished(doc, outcome))]
        else:
            frames = [self.publish(Event(dict(e))) for e in outcome.events]
            frames.append(self.publish(Finished(doc, outcome)))
        self.close()
        return frames

    def fail(self, error: Exception) -> Frame:
        """The turn's error; a refusal before any output is for its client only."""
        refused = isinstance(error, ThreadlineError) and error.status < 500
        if refused and not self._published:
            frame = Frame(None, self.run_id, Failed(error))
        else:
            frame = self.publish(Failed(error))
        self.close()
        return frame

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._registry._release(self._channel)


REGISTRY = Registry()


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
