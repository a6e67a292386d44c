"""One WebSocket session (``/workflow-runs/ws``): the run it drives, turn after turn.

The session reads the client's frames (``connection``) and handles each as a
span: a turn, a re-run token redeemed, or a re-attach; while the client waits it
pumps the run's background work. The protocol, frames and close codes, is
described in ``protocol``.
"""

import asyncio

from threadline.api.routes.common import JsonBody
from threadline.api.routes.stream.connection import Connection
from threadline.api.routes.stream.frames import public_error, runtime_of, store_of
from threadline.api.routes.stream.protocol import (
    CLOSE_INVALID_DATA,
    CLOSE_NORMAL,
    CLOSE_RERUN_TOKEN,
    WS_ONLY,
    error_frame,
    has_user_input,
    refusal,
)
from threadline.engine.turn import TurnOutcome
from threadline.errors import InvalidField, ThreadlineError
from threadline.service.running import reruns, runs
from threadline.service.running.reruns import tokens as rerun_tokens
from threadline.service.running.streaming import Finished, TurnSink, stream_turn
from threadline.service.turns import TurnRequest
from threadline.store import Document
from threadline.telemetry import tracing

PUMP_INTERVAL_S = 0.5


class Session(Connection):
    """One WebSocket: the run it drives, turn after turn."""

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
            refused = refusal(frame)
            if refused is not None:
                return refused
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
        raw = {k: v for k, v in frame.items() if k not in WS_ONLY}
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
        if has_user_input(frame):
            rest = {k: v for k, v in frame.items() if k not in WS_ONLY}
            return await self.turn({**rest, "workflow_run_id": doc.id})
        return await self.announce(doc)


def _quiet(outcome: TurnOutcome) -> bool:
    """A background pass that ran no node and took no edge."""
    return not outcome.outputs and not any(
        e["type"].endswith("_edge") for e in outcome.events
    )
