"""A turn asked of a run: the request every room speaks, and how a room starts one.

``TurnRequest`` carries the Execute endpoint's parameters from the route (or from
background work) to ``service.running.runs.run_one_turn`` as one value. ``StartRun``
is that function's shape: the rooms below ``running`` (evaluations, schedules)
receive it as an argument instead of importing the room above them.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from threadline.engine.turn import TurnOutcome
from threadline.service.caller import Caller
from threadline.service.runtime import Runtime
from threadline.store import Document, Store

JsonDict = dict[str, Any]
Sink = Callable[[JsonDict], Awaitable[None]]
"""Receives a turn's live text deltas (``assistant_response_delta`` events)."""


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """One command for a workflow's run, as the caller asked for it.

    Attributes:
        workflow_id: the workflow the run belongs to.
        raw_input: the ``WorkflowRunInput`` as sent (validated by the service).
        run_id: the run to continue; None starts a new run.
        query_version: the ``?version=`` of the request (else the input's
            ``version_number``, else the active version).
        field: where the input sat in the request body, for error messages.
        idempotency_key: the ``Idempotency-Key`` header; a retry with the same key
            gets the first answer instead of a second turn.
        pump: advance background work (scheduled threads, waiting edges) without
            consuming a user turn.
        stream: receives the turn's live text deltas.
        on_run: told the run's id as soon as it is known (before the turn ends).
    """

    workflow_id: str
    raw_input: JsonDict
    run_id: str | None = None
    query_version: int | None = None
    field: str = ""
    idempotency_key: str | None = None
    pump: bool = False
    stream: Sink | None = None
    on_run: Callable[[str], None] | None = None


class StartRun(Protocol):
    """Run one requested turn and return the run and the turn once it has run
    (``service.running.runs.run_one_turn``)."""

    def __call__(
        self, store: Store, caller: Caller, runtime: Runtime, request: TurnRequest
    ) -> Awaitable[tuple[Document, TurnOutcome]]: ...
