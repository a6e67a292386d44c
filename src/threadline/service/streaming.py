"""Streaming one turn: live text deltas first, then the turn's result.

``stream_turn`` runs a turn in a task of its own and yields, in order, a ``Delta``
for each ``assistant_response_delta`` a streaming LLM node produces, then exactly
one ``Finished`` (the saved run and the turn's outcome) or ``Failed`` (the error
the service raised).

The turn is detached from its consumer on purpose: a client that goes away
mid-turn (a closed WebSocket, a dropped SSE connection) neither fails the run nor
loses the turn. The turn runs to its end and is persisted; the client can read it
back (``GET /v1/workflow-runs/{id}``) and continue the run. The delta sink never
raises for the same reason: an exception from it would fail the streaming node.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from threadline.engine.turn import TurnOutcome
from threadline.store import Document

JsonDict = dict[str, Any]
Sink = Callable[[JsonDict], Awaitable[None]]
TurnRunner = Callable[[Sink], Awaitable[tuple[Document, TurnOutcome]]]

# Turns whose consumer left: referenced here so they are not garbage-collected.
_DETACHED: set[asyncio.Task[None]] = set()


@dataclass(frozen=True, slots=True)
class Delta:
    """A live ``assistant_response_delta`` event."""

    event: JsonDict


@dataclass(frozen=True, slots=True)
class Finished:
    """The turn ran and was saved."""

    doc: Document
    outcome: TurnOutcome


@dataclass(frozen=True, slots=True)
class Failed:
    """The service refused or failed the turn (nothing was persisted for it)."""

    error: Exception


Item = Delta | Finished | Failed


async def stream_turn(run: TurnRunner) -> AsyncIterator[Item]:
    """Run ``run(sink)`` in its own task; yield its deltas, then its end."""
    queue: asyncio.Queue[Item] = asyncio.Queue()

    async def sink(event: JsonDict) -> None:
        queue.put_nowait(Delta(dict(event)))

    async def body() -> None:
        try:
            doc, outcome = await run(sink)
        except Exception as exc:  # handed to the consumer, never lost in the task
            queue.put_nowait(Failed(exc))
        else:
            queue.put_nowait(Finished(doc, outcome))

    task = asyncio.create_task(body())
    _DETACHED.add(task)
    task.add_done_callback(_DETACHED.discard)
    while True:
        item = await queue.get()
        yield item
        if not isinstance(item, Delta):
            return


async def wait_detached() -> None:
    """Wait for every turn still running without a consumer (shutdown, tests)."""
    while _DETACHED:
        await asyncio.gather(*list(_DETACHED), return_exceptions=True)
