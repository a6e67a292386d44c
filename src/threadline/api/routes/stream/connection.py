"""One WebSocket's side of a session: reading the client's frames, and sending
it a run's frames (live, stored after a re-attach, or a re-run's announcement).
"""

import contextlib
import json
from typing import Any

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect

from threadline.api import json_guard
from threadline.api.routes.common import JsonBody
from threadline.api.routes.stream.frames import is_run_id, public_error, store_of
from threadline.api.routes.stream.protocol import (
    CLOSE_INTERNAL,
    CLOSE_NORMAL,
    close_reason,
    error_frame,
)
from threadline.engine.state import MAIN_THREAD, RunState
from threadline.errors import InvalidField, ThreadlineError
from threadline.service.caller import Caller
from threadline.service.commands import TERMINAL
from threadline.service.running import broadcast
from threadline.service.running.broadcast import Stored
from threadline.service.running.streaming import Delta, Event, Failed, Frame
from threadline.settings import Settings
from threadline.store import Document


class Connection:
    """One WebSocket: the run it follows and what it sends the client."""

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
            return close_reason(error.message)
        except ValueError:
            return "a frame must be a JSON object (WorkflowRunInput + workflow_id)"
        if not isinstance(frame, dict):
            return "a frame must be a JSON object (WorkflowRunInput + workflow_id)"
        return frame

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
