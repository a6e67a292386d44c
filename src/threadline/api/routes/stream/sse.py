"""Server-Sent Events: a turn as an event stream, and re-attaching to one.

SSE ``POST /workflows/{workflow_id}/execute/stream``
    The execute body (``{run_input, run_id}`` or the flat legacy input) and
    ``?version=``; the answer is ``text/event-stream``: ``event: delta`` frames as
    text is produced, one ``event: event`` per event of the turn, then ``event:
    done`` with the execute response (``turn_summary``). A refusal before any output
    is an ordinary JSON error with its HTTP status; a failure after output began is
    a final ``event: error`` frame ``{code, message}``. Each frame whose run is known
    has ``id: <workflow_run_id>:<seq>``; sending the request again with the standard
    ``Last-Event-ID`` header re-attaches instead of running a turn (as the WebSocket
    ``attach`` frame does; stored replays carry no ``id``).

SSE ``GET /workflow-runs/{run_id}/stream``
    Re-attach to a run without a body (what ``EventSource`` reconnects with): after
    ``Last-Event-ID`` (``<run_id>:<seq>`` or ``<seq>``) or ``?after_seq=`` (default 0).
"""

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request
from fastapi.responses import StreamingResponse

from threadline.api.deps import CallerDep, StoreDep
from threadline.api.params import SeqQuery, VersionQuery
from threadline.api.routes.common import (
    JsonBody,
    ObjectIdPath,
    WorkflowId,
    read_execute_body,
)
from threadline.api.routes.runs import turn_summary
from threadline.api.routes.stream.frames import (
    public_error,
    runtime_of,
)
from threadline.engine.turn import TurnOutcome
from threadline.errors import (
    InvalidField,
    NotFound,
    ThreadlineError,
)
from threadline.service.caller import Caller
from threadline.service.running import broadcast, runs
from threadline.service.running.broadcast import Attachment, Stored
from threadline.service.running.streaming import (
    Delta,
    Event,
    Failed,
    Finished,
    Frame,
    TurnSink,
    stream_turn,
)
from threadline.service.turns import TurnRequest
from threadline.store import Document, Store

router = APIRouter(tags=["streaming"])


def sse(event: str, data: Any, event_id: str | None = None) -> str:
    """One Server-Sent Events frame."""
    payload = json.dumps(data, default=str, separators=(",", ":"))
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {payload}\n\n"


def _sse_frame(frame: Frame) -> str:
    item = frame.item
    event_id = None
    if frame.run_id is not None and frame.seq is not None:
        event_id = f"{frame.run_id}:{frame.seq}"
    if isinstance(item, Delta):
        return sse("delta", item.event, event_id)
    if isinstance(item, Event):
        return sse("event", item.event, event_id)
    if isinstance(item, Finished):
        return sse("done", turn_summary(item.doc, item.outcome), event_id)
    error = public_error(item.error)
    return sse("error", {"code": error.code, "message": error.message}, event_id)


async def _sse_frames(
    first: Frame | Stored, frames: AsyncGenerator[Frame | Stored, None]
) -> AsyncIterator[str]:
    async with contextlib.aclosing(frames):
        item: Frame | Stored | None = first
        while item is not None:
            if isinstance(item, Stored):
                for event in item.outcome.events:
                    yield sse("event", event)
                yield sse("done", turn_summary(item.doc, item.outcome))
            else:
                yield _sse_frame(item)
            try:
                item = await anext(frames, None)
            except ThreadlineError as exc:  # gave up waiting for another process
                yield sse("error", {"code": exc.code, "message": exc.message})
                return


_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _event_stream(
    first: Frame | Stored, frames: AsyncGenerator[Frame | Stored, None]
) -> StreamingResponse:
    return StreamingResponse(
        _sse_frames(first, frames), media_type="text/event-stream", headers=_SSE_HEADERS
    )


def parse_last_event_id(value: str, run_id: str | None = None) -> tuple[str, int]:
    """``<run_id>:<seq>`` (or ``<seq>`` when the run is known) as (run id, seq)."""
    field = "Last-Event-ID"
    text = value.strip()
    head, sep, tail = text.rpartition(":")
    named = head if sep else run_id
    try:
        seq = int(tail)
    except ValueError:
        raise InvalidField(f"{field}: expected '<workflow_run_id>:<seq>'") from None
    if named is None:
        raise InvalidField(f"{field}: expected '<workflow_run_id>:<seq>'")
    named = broadcast.check_run_id(named, field)
    if run_id is not None and named != run_id:
        raise InvalidField(f"{field}: names another run than the request")
    return named, broadcast.check_after_seq(seq, field)


async def _sse_attach(
    store: Store, caller: Caller, run_id: str, after_seq: int, workflow_id: str | None
) -> StreamingResponse:
    attachment: Attachment = await broadcast.attach(store, caller, run_id, after_seq)
    if workflow_id is not None and attachment.doc.workflow_id != workflow_id:
        raise NotFound(
            f"workflow run {run_id!r} not found for workflow {workflow_id!r}"
        )
    frames = attachment.frames
    first = await anext(frames, None)
    if first is None:  # nothing was missed
        await frames.aclose()
        return StreamingResponse(
            iter(()), media_type="text/event-stream", headers=_SSE_HEADERS
        )
    return _event_stream(first, frames)


@router.post("/workflows/{workflow_id}/execute/stream")
async def execute_stream(
    request: Request,
    store: StoreDep,
    caller: CallerDep,
    workflow_id: WorkflowId,
    body: Annotated[JsonBody, Body()],
    version: VersionQuery = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """Execute one turn as Server-Sent Events: deltas, events, then ``done``.

    With ``Last-Event-ID`` the request re-attaches to the run it names instead.
    """
    if last_event_id is not None:
        run_id, after_seq = parse_last_event_id(last_event_id)
        return await _sse_attach(store, caller, run_id, after_seq, workflow_id)
    parsed = read_execute_body(body)
    runtime = runtime_of(request)

    async def run(sink: TurnSink) -> tuple[Document, TurnOutcome]:
        return await runs.run_one_turn(
            store,
            caller,
            runtime,
            TurnRequest(
                workflow_id=workflow_id,
                run_id=parsed.run_id,
                raw_input=parsed.raw_input,
                query_version=version,
                field=parsed.field,
                stream=sink,
                on_run=sink.bind,
            ),
        )

    frames = stream_turn(run, team_id=caller.team_id, run_id=parsed.run_id)
    first = await anext(frames)
    if isinstance(first.item, Failed) and first.seq is None:
        # Nothing was sent yet: an ordinary error response with its status.
        raise first.item.error
    return _event_stream(first, frames)


@router.get("/workflow-runs/{run_id}/stream")
async def attach_stream(
    store: StoreDep,
    caller: CallerDep,
    run_id: ObjectIdPath,
    after_seq: SeqQuery = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """Re-attach to a run's stream as Server-Sent Events (``EventSource``)."""
    seq = after_seq or 0
    if last_event_id is not None:
        _, seq = parse_last_event_id(last_event_id, run_id)
    return await _sse_attach(store, caller, run_id, seq, None)
