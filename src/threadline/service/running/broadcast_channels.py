"""The channels of the runs streaming in this process: buffered frames, subscribers.

Each run streaming here (or lately ended) has a ``Channel``: its published frames,
numbered by the run's next sequence number and kept in a bounded buffer, and the
subscribers they are fanned out to. A ``TurnPublisher`` publishes one turn's frames
into its run's channel; the ``Registry`` drops a channel ``LINGER_S`` seconds after
the run's last turn ended.
"""

import asyncio
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import replace

from threadline.engine.turn import TurnOutcome
from threadline.errors import ThreadlineError
from threadline.service.running.stream_frames import (
    Event,
    Failed,
    Finished,
    Frame,
    Item,
)
from threadline.store import Document

BUFFER_FRAMES = 2000
"""Frames kept per run; older ones are dropped (an attach behind them is served
from the stored run)."""
LINGER_S = 60.0
"""How long a run's buffer outlives its last turn."""


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
