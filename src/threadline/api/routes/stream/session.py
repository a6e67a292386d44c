"""One WebSocket session (``/workflow-runs/ws``): the run it drives, turn after turn.

Once the socket is authenticated (``websocket``), the client sends JSON frames,
each a ``WorkflowRunInput`` plus ``workflow_id`` (``command``, ``run_by``,
``version_number`` as usual). Each frame runs one turn: its
``assistant_response_delta`` frames are sent as the text is produced, then every event
of the turn in order, each carrying ``workflow_run_id`` so the client learns the run.
The socket stays open while the run waits (``workflow_ready_for_input``): the next frame
continues the same run (a frame may name ``workflow_run_id`` itself; ``workflow_id`` may
then be left out). When the run is over (a terminal status: ``end_workflow`` or
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
"""

import asyncio
import contextlib
import json
from typing import Any

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect

from threadline.api import json_guard
from threadline.api.routes.common import (
    JsonBody,
)
from threadline.api.routes.stream.frames import (
    is_run_id,
    public_error,
    runtime_of,
    store_of,
)
from threadline.engine.state import MAIN_THREAD, RunState
from threadline.engine.turn import TurnOutcome
from threadline.errors import (
    InvalidField,
    ThreadlineError,
)
from threadline.service.caller import Caller
from threadline.service.commands import TERMINAL
from threadline.service.running import broadcast, reruns, runs
from threadline.service.running.broadcast import Stored
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
from threadline.service.turns import TurnRequest
from threadline.settings import Settings
from threadline.store import Document
from threadline.telemetry import tracing

CLOSE_NORMAL = 1000


CLOSE_INVALID_DATA = 1007


MAX_CLOSE_REASON = 123


CLOSE_INTERNAL = 1011


CLOSE_UNAUTHENTICATED = 4001


CLOSE_FORBIDDEN = 4003


CLOSE_INITIAL_STATE = 4006


CLOSE_RERUN_TOKEN = 4007


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


def _close_reason(text: str) -> str:
    """``text`` cut to what a WebSocket close frame carries (123 bytes)."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= MAX_CLOSE_REASON:
        return text
    return data[: MAX_CLOSE_REASON - 3].decode("utf-8", errors="ignore") + "..."


class Session:
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
                store_of(websocket),
                caller,
                runtime_of(websocket),
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
            end = await self.frame(frame)
            if end is not None:
                return end
        return self.closing or (CLOSE_NORMAL, "")

    async def frame(self, frame: JsonBody) -> tuple[int, str] | None:
        """Handle one frame, as a span (in the trace of the socket's request)."""
        kind = (
            "rerun"
            if frame.get("rerun_token") is not None
            else "attach"
            if frame.get("type") == "attach"
            else "turn"
        )
        headers = self.websocket.headers
        with tracing.span(
            "websocket frame",
            {"threadline.frame.kind": kind},
            kind=tracing.SERVER,
            parent=tracing.parent_from(
                {k: v for k, v in headers.items() if k in ("traceparent", "tracestate")}
            ),
        ):
            if kind == "rerun":
                return await self.rerun(frame)
            if kind == "attach":
                return await self.attach(frame)
            return await self.turn(frame)

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
                store_of(websocket),
                caller,
                runtime_of(websocket),
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
                store_of(self.websocket),
                self.caller,
                runtime_of(self.websocket),
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
            await self.send(error_frame(public_error(exc), None))
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
                store_of(self.websocket), self.caller, run_id, after_seq
            )
        except ThreadlineError as exc:
            run = frame.get("workflow_run_id")
            await self.send(
                error_frame(public_error(exc), run if is_run_id(run) else None)
            )
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
                await self.send(error_frame(public_error(exc), doc.id))
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
        known = frame.run_id or (run_id if is_run_id(run_id) else None)
        if isinstance(item, Delta | Event):
            out = {**item.event, "workflow_run_id": known} if known else item.event
            await self.send({**out, "seq": seq} if seq is not None else out)
            return None
        if isinstance(item, Failed):
            error = public_error(item.error)
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
