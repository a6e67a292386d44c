"""Streaming transports: the SDK's WebSocket protocol and Server-Sent Events.

WebSocket ``/workflow-runs/ws`` (the SDK's ``client.runs.stream``)
    Authentication happens at the upgrade: ``Authorization: Bearer <api key>``, or
    a ``token`` / ``api_key`` query parameter for clients that cannot set headers;
    the SDK's ``teamid`` / ``uuid`` headers are honoured as with HTTP. A refused
    key is answered by accepting the socket and closing it at once with 4001
    (unknown, revoked or missing key) or 4003 (``teamid``/``uuid`` name another
    team or user); the reason is the error message.

    The client then sends JSON frames, each a ``WorkflowRunInput`` plus
    ``workflow_id`` (``command``, ``run_by``, ``version_number`` as usual). Each
    frame runs one turn: its ``assistant_response_delta`` frames are sent as the
    text is produced, then every event of the turn in order, each carrying
    ``workflow_run_id`` so the client learns the run. The socket stays open while
    the run waits (``workflow_ready_for_input``): the next frame continues the same
    run (a frame may name ``workflow_run_id`` itself; ``workflow_id`` may then be
    left out). When the run is over (a terminal status: ``end_workflow`` or
    ``workflow_error``, or a ``stop``) the server closes with 1000.

    A frame the service refuses (unknown workflow, a command that does not fit the
    run, invalid input...) is answered by one frame ``{"type": "workflow_error",
    "error_message", "code", "status", "details", "workflow_run_id"}`` and the socket
    stays open for a corrected frame; the SDK treats it as terminal, as it should
    for its one-frame streams. Close codes:

    ====  ==========================================================
    1000  the run is over (or the client closed)
    1007  a frame that is not a JSON object
    1011  an internal error (the run is failed or released)
    4001  authentication failed
    4003  the key may not act as the ``teamid``/``uuid`` headers say
    4006  a frame carried ``initial_state`` (a client never supplies run state)
    4007  the frame's ``rerun_token`` is unknown, expired, already redeemed, or
          minted for another workflow or version (the reason says which)
    ====  ==========================================================

    A frame with ``rerun_token`` (the SDK's ``stream(rerun_token=...)``, minted by
    ``POST /v1/workflow-runs/{id}/turns/{k}/rerun-token``) redeems it: the re-run
    is created and becomes the socket's run. If the frame also carries user input
    (non-empty ``node_run_inputs`` in ``thread_to_node_inputs``), that input runs as
    the re-run's next turn, like any turn frame. Otherwise the server answers with
    ``{"type": "workflow_ready_for_input", "workflow_run_id", "thread_id": "0",
    "active_companion_thread_ids", "status"}`` when the re-run waits for input, or
    ``end_workflow`` / ``workflow_error`` and a 1000 close when the checkpoint was
    the end of the source run. The restored turns' events are not sent again (read
    them with ``GET /v1/workflow-runs/{id}``).

    Every frame of a turn carries ``seq``, the run's frame sequence number
    (increasing; a transport may skip numbers). A client that lost its connection
    re-attaches on a new socket with ``{"type": "attach", "workflow_run_id",
    "after_seq"}`` (``after_seq`` the last ``seq`` it saw, 0 for everything still
    buffered): the server answers ``{"type": "attached", "workflow_run_id",
    "after_seq", "replay"}`` and then the frames after ``after_seq`` in order, live
    ones included, until the run's turn ends (``replay: "buffer"``). When this
    process no longer has them (the turn ran elsewhere, the buffer expired), it
    waits for the turn to end and sends the stored last segment's events, without
    ``seq`` (``replay: "stored"``). Either way the socket then drives that run as
    if it had started it. An unknown run, another team's run or a bad
    ``workflow_run_id`` / ``after_seq`` is answered with a ``workflow_error`` frame
    (``not_found`` / ``validation_error``) and the socket stays open.

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

Both transports detach the turn from the connection (``service.running.streaming``): a
client that leaves mid-turn does not fail or lose it.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request, WebSocket
from fastapi.responses import StreamingResponse
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketDisconnect

from threadline.api import json_guard
from threadline.api.deps import CallerDep, StoreDep
from threadline.api.params import SeqQuery, VersionQuery
from threadline.api.routes.common import (
    JsonBody,
    ObjectIdPath,
    WorkflowId,
    read_execute_body,
)
from threadline.api.routes.runs import turn_summary
from threadline.engine.state import MAIN_THREAD, RunState
from threadline.engine.turn import TurnOutcome
from threadline.errors import (
    Forbidden,
    InvalidField,
    NotFound,
    ThreadlineError,
    Unauthenticated,
)
from threadline.ids import is_object_id
from threadline.service.caller import Caller
from threadline.service.commands import TERMINAL
from threadline.service.running import broadcast, reruns, runs
from threadline.service.running.broadcast import Attachment, Stored
from threadline.service.running.reruns import tokens as rerun_tokens
from threadline.service.running.streaming import (
    Delta,
    Event,
    Failed,
    Finished,
    Frame,
    TurnSink,
    stream_turn,
)
from threadline.service.runtime import Runtime
from threadline.service.team import auth
from threadline.service.turns import TurnRequest
from threadline.settings import Settings
from threadline.store import Document, Store

log = logging.getLogger("threadline.api.stream")

router = APIRouter(tags=["streaming"])

CLOSE_NORMAL = 1000
CLOSE_INVALID_DATA = 1007
MAX_CLOSE_REASON = 123
CLOSE_INTERNAL = 1011
CLOSE_UNAUTHENTICATED = 4001
CLOSE_FORBIDDEN = 4003
CLOSE_INITIAL_STATE = 4006
CLOSE_RERUN_TOKEN = 4007

# A close reason is at most 123 bytes.
_MAX_REASON = 120


def _runtime(conn: HTTPConnection) -> Runtime:
    runtime: Runtime = conn.app.state.runtime
    return runtime


def _store(conn: HTTPConnection) -> Store:
    store: Store = conn.app.state.store
    return store


def _reason(text: str) -> str:
    raw = text.encode()
    if len(raw) <= _MAX_REASON:
        return text
    return raw[: _MAX_REASON - 3].decode(errors="ignore") + "..."


async def authenticate_socket(websocket: WebSocket) -> Caller:
    """The caller of a WebSocket: Bearer header, else ``?token=`` / ``?api_key=``."""
    authorization = websocket.headers.get("authorization")
    if not authorization:
        token = websocket.query_params.get("token") or websocket.query_params.get(
            "api_key"
        )
        if token:
            authorization = f"Bearer {token}"
    return await auth.authenticate(
        _store(websocket),
        authorization,
        websocket.headers.get("teamid"),
        websocket.headers.get("uuid"),
    )


def error_frame(
    error: ThreadlineError, run_id: str | None, seq: int | None = None
) -> JsonBody:
    """The ``workflow_error`` frame that answers a refused frame."""
    frame: JsonBody = {
        "type": "workflow_error",
        "error_message": error.message,
        "code": error.code,
        "status": error.status,
        "details": error.details,
        "workflow_run_id": run_id,
    }
    if seq is not None:
        frame["seq"] = seq
    return frame


def _refusal(frame: JsonBody) -> tuple[int, str] | None:
    """The close code and reason for a frame the protocol forbids, if any."""
    if frame.get("initial_state") is not None:
        return (
            CLOSE_INITIAL_STATE,
            "initial_state is never accepted from a client; "
            "the server is the only source of run state",
        )
    return None


def _public(error: Exception) -> ThreadlineError:
    """What a client may see of a turn's error (5xx details are logged only)."""
    if isinstance(error, ThreadlineError) and error.status < 500:
        return error
    log.error("streamed turn failed", exc_info=error)
    return ThreadlineError("internal server error", code="internal_error")


def _close_reason(text: str) -> str:
    """``text`` cut to what a WebSocket close frame carries (123 bytes)."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= MAX_CLOSE_REASON:
        return text
    return data[: MAX_CLOSE_REASON - 3].decode("utf-8", errors="ignore") + "..."


class _Session:
    """One WebSocket: the run it drives, turn after turn."""

    def __init__(self, websocket: WebSocket, caller: Caller) -> None:
        self.websocket = websocket
        self.caller = caller
        self.workflow_id: str | None = None
        self.run_id: str | None = None
        self.connected = True
        self.background = False
        """The run has background work the socket pumps while the client waits."""
        self.closing: tuple[int, str] | None = None

    async def send(self, frame: JsonBody) -> None:
        """Send a frame; a client that left is noted, never raised."""
        if not self.connected:
            return
        try:
            await self.websocket.send_text(json.dumps(frame, default=str))
        except (WebSocketDisconnect, OSError, RuntimeError):
            self.connected = False

    async def receive(self) -> JsonBody | str | None:
        """The next frame as an object, an error text, or None when the client left."""
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            self.connected = False
            return None
        text = message.get("text")
        if text is None:
            text = (message.get("bytes") or b"").decode(errors="replace")
        settings: Settings = self.websocket.app.state.settings
        try:
            frame = json_guard.loads(text, settings.max_json_depth)
        except InvalidField as error:
            return _close_reason(error.message)
        except ValueError:
            return "a frame must be a JSON object (WorkflowRunInput + workflow_id)"
        if not isinstance(frame, dict):
            return "a frame must be a JSON object (WorkflowRunInput + workflow_id)"
        return frame

    async def next_frame(self) -> JsonBody | str | None:
        """The client's next frame; while it waits, pump the run's background work.

        Companion threads and armed waiting edges advance with no user message (the
        WebSocket driver pumps by itself, as the spec says); a pump that changed
        nothing sends nothing.
        """
        receiving = asyncio.ensure_future(self.receive())
        try:
            while self.background and self.connected:
                done, _ = await asyncio.wait({receiving}, timeout=PUMP_INTERVAL_S)
                if done:
                    break
                end = await self.pump()
                if end is not None:
                    self.connected = False
                    self.closing = end
                    return None
            return await receiving
        finally:
            if not receiving.done():
                receiving.cancel()

    async def pump(self) -> tuple[int, str] | None:
        """One background pass of the current run."""
        workflow_id, run_id = self.workflow_id, self.run_id
        if workflow_id is None or run_id is None:
            self.background = False
            return None
        websocket, caller = self.websocket, self.caller

        async def run(sink: TurnSink) -> tuple[Document, TurnOutcome]:
            return await runs.run_one_turn(
                _store(websocket),
                caller,
                _runtime(websocket),
                TurnRequest(
                    workflow_id=workflow_id,
                    run_id=run_id,
                    raw_input={"command": "data"},
                    pump=True,
                    stream=sink,
                    on_run=sink.bind,
                ),
            )

        frames = stream_turn(run, team_id=caller.team_id, run_id=run_id, quiet=_quiet)
        async for frame in frames:
            item = frame.item
            if isinstance(item, Finished) and frame.seq is None:  # a quiet pass
                self.background = item.outcome.background
                continue
            end = await self.deliver(frame, run_id)
            if end is not None:
                return end
        return None

    async def serve(self) -> tuple[int, str]:
        """Run turns until the run is over, the client leaves or a frame is refused."""
        while self.connected:
            frame = await self.next_frame()
            if frame is None:
                break
            if isinstance(frame, str):
                return CLOSE_INVALID_DATA, frame
            refusal = _refusal(frame)
            if refusal is not None:
                return refusal
            if frame.get("rerun_token") is not None:
                end = await self.rerun(frame)
            elif frame.get("type") == "attach":
                end = await self.attach(frame)
            else:
                end = await self.turn(frame)
            if end is not None:
                return end
        return self.closing or (CLOSE_NORMAL, "")

    async def turn(self, frame: JsonBody) -> tuple[int, str] | None:
        """Run one turn; a close code and reason when the socket should close."""
        workflow_id = frame.get("workflow_id") or self.workflow_id
        if not isinstance(workflow_id, str):
            error = InvalidField("workflow_id: required on the first frame")
            await self.send(error_frame(error, self.run_id))
            return None
        run_id = frame.get("workflow_run_id") or self.run_id
        raw = {k: v for k, v in frame.items() if k not in _WS_ONLY}
        websocket, caller = self.websocket, self.caller

        async def run(sink: TurnSink) -> tuple[Document, TurnOutcome]:
            return await runs.run_one_turn(
                _store(websocket),
                caller,
                _runtime(websocket),
                TurnRequest(
                    workflow_id=workflow_id,
                    run_id=run_id,
                    raw_input=raw,
                    stream=sink,
                    on_run=sink.bind,
                ),
            )

        async for item in stream_turn(run, team_id=caller.team_id, run_id=run_id):
            end = await self.deliver(item, run_id)
            if end is not None:
                return end
        return None

    async def rerun(self, frame: JsonBody) -> tuple[int, str] | None:
        """Redeem the frame's re-run token; run the frame's input on the re-run."""
        token = frame["rerun_token"]
        if not isinstance(token, str) or not token:
            return CLOSE_RERUN_TOKEN, "rerun_token: a re-run token string"
        workflow_id = frame.get("workflow_id")
        version = frame.get("version_number")
        try:
            doc = await rerun_tokens.start_from_token(
                _store(self.websocket),
                self.caller,
                _runtime(self.websocket),
                token,
                workflow_id=workflow_id if isinstance(workflow_id, str) else None,
                version_number=(
                    version
                    if isinstance(version, int) and not isinstance(version, bool)
                    else None
                ),
            )
        except reruns.RerunTokenInvalid as exc:
            return CLOSE_RERUN_TOKEN, exc.message
        except ThreadlineError as exc:  # e.g. the source run was deleted meanwhile
            await self.send(error_frame(_public(exc), None))
            return None
        self.run_id, self.workflow_id = doc.id, doc.workflow_id
        if _has_user_input(frame):
            rest = {k: v for k, v in frame.items() if k not in _WS_ONLY}
            return await self.turn({**rest, "workflow_run_id": doc.id})
        return await self.announce(doc)

    async def announce(self, doc: Document) -> tuple[int, str] | None:
        """Tell the client a run that starts parked (a re-run) is ready, or over."""
        status = doc.status
        if status in TERMINAL:
            kind = "end_workflow" if status == "completed" else "workflow_error"
            await self.send({"type": kind, "workflow_run_id": doc.id, "status": status})
            return CLOSE_NORMAL, f"the run is {status}"
        state = RunState.from_json(doc.body["state"])
        active = [t for t in state.active_thread_ids() if t != MAIN_THREAD]
        await self.send(
            {
                "type": "workflow_ready_for_input",
                "workflow_run_id": doc.id,
                "thread_id": MAIN_THREAD,
                "active_companion_thread_ids": active,
                "status": status,
            }
        )
        # Whether background work is left is not stored: one pass finds out.
        self.background = status == "waiting_for_user_input"
        return None

    async def attach(self, frame: JsonBody) -> tuple[int, str] | None:
        """Re-attach to a run: the frames after ``after_seq``, then live ones."""
        try:
            run_id = broadcast.check_run_id(frame.get("workflow_run_id"))
            after_seq = broadcast.check_after_seq(frame.get("after_seq", 0))
            attachment = await broadcast.attach(
                _store(self.websocket), self.caller, run_id, after_seq
            )
        except ThreadlineError as exc:
            run = frame.get("workflow_run_id")
            await self.send(error_frame(_public(exc), run if _is_id(run) else None))
            return None
        doc = attachment.doc
        self.run_id, self.workflow_id = doc.id, doc.workflow_id
        self.background = False
        await self.send(
            {
                "type": "attached",
                "workflow_run_id": doc.id,
                "after_seq": after_seq,
                "replay": attachment.source,
            }
        )
        async with contextlib.aclosing(attachment.frames) as frames:
            try:
                async for item in frames:
                    if isinstance(item, Stored):
                        end = await self.deliver_stored(item)
                    else:
                        end = await self.deliver(item, doc.id)
                    if end is not None:
                        return end
            except ThreadlineError as exc:  # gave up waiting for another process
                await self.send(error_frame(_public(exc), doc.id))
        return None

    async def deliver_stored(self, stored: Stored) -> tuple[int, str] | None:
        """The stored end of the run's last turn (no sequence numbers)."""
        doc = stored.doc
        for event in stored.outcome.events:
            await self.send({**event, "workflow_run_id": doc.id})
        if doc.status in TERMINAL:
            return CLOSE_NORMAL, f"the run is {doc.status}"
        # Whether background work is left is not stored: one pass finds out.
        self.background = doc.status == "waiting_for_user_input"
        return None

    async def deliver(self, frame: Frame, run_id: Any) -> tuple[int, str] | None:
        """Forward one frame of a turn to the client."""
        item, seq = frame.item, frame.seq
        known = frame.run_id or (run_id if _is_id(run_id) else None)
        if isinstance(item, Delta | Event):
            out = {**item.event, "workflow_run_id": known} if known else item.event
            await self.send({**out, "seq": seq} if seq is not None else out)
            return None
        if isinstance(item, Failed):
            error = _public(item.error)
            await self.send(error_frame(error, known, seq))
            if error.status >= 500:
                return CLOSE_INTERNAL, "internal server error"
            return None
        doc, outcome = item.doc, item.outcome
        self.run_id, self.workflow_id = doc.id, doc.workflow_id
        self.background = outcome.background
        if doc.status in TERMINAL:
            return CLOSE_NORMAL, f"the run is {doc.status}"
        return None


PUMP_INTERVAL_S = 0.5


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and is_object_id(value)


def _has_user_input(frame: JsonBody) -> bool:
    """Whether a frame carries node run inputs (a user message) for some thread."""
    threads = frame.get("thread_to_node_inputs")
    if not isinstance(threads, dict):
        return False
    return any(
        isinstance(t, dict) and bool(t.get("node_run_inputs")) for t in threads.values()
    )


def _quiet(outcome: TurnOutcome) -> bool:
    """A background pass that ran no node and took no edge."""
    return not outcome.outputs and not any(
        e["type"].endswith("_edge") for e in outcome.events
    )


# Protocol fields that are not part of the turn's input.
_WS_ONLY = frozenset({"initial_state", "rerun_token", "workflow_run_id"})


@router.websocket("/workflow-runs/ws")
async def run_socket(websocket: WebSocket) -> None:
    """Drive a run over a WebSocket (the SDK's ``runs.stream`` protocol)."""
    await websocket.accept()
    try:
        caller = await authenticate_socket(websocket)
    except (Unauthenticated, Forbidden) as exc:
        code = CLOSE_FORBIDDEN if isinstance(exc, Forbidden) else CLOSE_UNAUTHENTICATED
        await websocket.close(code, _reason(exc.message))
        return
    session = _Session(websocket, caller)
    code, reason = await session.serve()
    if session.connected:
        with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
            await websocket.close(code, _reason(reason))


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
    error = _public(item.error)
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
    runtime = _runtime(request)

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
