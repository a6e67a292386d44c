"""Streaming one turn: live text deltas first, then the turn's result.

``stream_turn`` runs a turn in a task of its own and yields, in order, a ``Frame``
holding a ``Delta`` for each ``assistant_response_delta`` a streaming LLM node
produces, then one ``Event`` frame per event of the finished turn and a ``Finished``
frame (the saved run and the turn's outcome), or one ``Failed`` frame (the error the
service raised).

Every frame is also published to the run's broadcast channel
(``service.running.broadcast``) with the run's next sequence number, so a client that
lost its connection can re-attach to the turn and receive what it missed.

The turn is detached from its consumer on purpose: a client that goes away
mid-turn (a closed WebSocket, a dropped SSE connection) neither fails the run nor
loses the turn. The turn runs to its end and is persisted; the client can attach
again, read it back (``GET /v1/workflow-runs/{id}``) and continue the run. The delta
sink never raises for the same reason: an exception from it would fail the
streaming node.
"""

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from threadline.engine.turn import TurnOutcome
from threadline.errors import ThreadlineError
from threadline.ids import is_object_id
from threadline.service.running.broadcast_channels import (
    REGISTRY,
    Registry,
    TurnPublisher,
)
from threadline.service.running.stream_frames import (
    Delta,
    Event,
    Failed,
    Finished,
    Frame,
    Item,
)
from threadline.store import Document

__all__ = [
    "Delta",
    "Event",
    "Failed",
    "Finished",
    "Frame",
    "Item",
    "Sink",
    "TurnRunner",
    "TurnSink",
    "stream_turn",
    "wait_detached",
]

log = logging.getLogger("threadline.service.running.streaming")

JsonDict = dict[str, Any]
Sink = Callable[[JsonDict], Awaitable[None]]


class TurnSink:
    """The delta sink handed to ``run_one_turn``: publishes each delta.

    ``bind(run_id)`` tells the broadcast which run a turn that creates its run
    belongs to, as soon as it is known (otherwise at the end of the turn).
    """

    def __init__(self, publisher: TurnPublisher, queue: asyncio.Queue[Frame]) -> None:
        self._publisher = publisher
        self._queue = queue

    async def __call__(self, event: JsonDict) -> None:
        try:
            self._queue.put_nowait(self._publisher.publish(Delta(dict(event))))
        except Exception:  # never fail the streaming node
            log.exception("could not publish a delta")

    def bind(self, run_id: str) -> None:
        self._publisher.bind(run_id)


TurnRunner = Callable[[TurnSink], Awaitable[tuple[Document, TurnOutcome]]]

# Turns whose consumer left: referenced here so they are not garbage-collected.
_DETACHED: set[asyncio.Task[None]] = set()


async def stream_turn(
    run: TurnRunner,
    *,
    team_id: str,
    run_id: Any = None,
    quiet: Callable[[TurnOutcome], bool] | None = None,
    registry: Registry = REGISTRY,
) -> AsyncGenerator[Frame, None]:
    """Run ``run(sink)`` in its own task; yield its frames up to its end.

    ``run_id`` names the run the turn continues (None: the turn creates it); a
    finished turn for which ``quiet`` is true (a background pass that changed
    nothing) is not published to other subscribers.
    """
    queue: asyncio.Queue[Frame] = asyncio.Queue()
    known = run_id if isinstance(run_id, str) and is_object_id(run_id) else None
    publisher = registry.turn(team_id, known)
    sink = TurnSink(publisher, queue)

    async def body() -> None:
        try:
            doc, outcome = await run(sink)
        except Exception as exc:  # handed to the consumer, never lost in the task
            queue.put_nowait(publisher.fail(exc))
        except BaseException:
            # Cancelled (shutdown): end the turn for whoever follows it.
            queue.put_nowait(publisher.fail(ThreadlineError("the turn was cancelled")))
            raise
        else:
            is_quiet = quiet is not None and quiet(outcome)
            for frame in publisher.finish(doc, outcome, is_quiet):
                queue.put_nowait(frame)
        finally:
            publisher.close()

    task = asyncio.create_task(body())
    _DETACHED.add(task)
    task.add_done_callback(_DETACHED.discard)
    while True:
        frame = await queue.get()
        yield frame
        if frame.ends_turn:
            return


async def wait_detached() -> None:
    """Wait for every turn still running without a consumer (shutdown, tests)."""
    while _DETACHED:
        await asyncio.gather(*list(_DETACHED), return_exceptions=True)
