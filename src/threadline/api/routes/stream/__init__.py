"""Streaming transports: the SDK's WebSocket protocol and Server-Sent Events.

- ``websocket``: the ``/workflow-runs/ws`` endpoint, its authentication and close;
- ``protocol``: what one socket carries, its frames and close codes;
- ``session``: one socket's run, turn after turn (turns, re-run tokens,
  pumping background work), on ``connection``: reading the client's frames and
  sending it the run's (live, re-attached, stored);
- ``sse``: ``POST /workflows/{id}/execute/stream`` and ``GET
  /workflow-runs/{id}/stream`` (re-attach with ``Last-Event-ID``);
- ``frames``: what they share.

Both transports detach the turn from the connection (``service.running.streaming``):
a client that leaves mid-turn does not fail or lose it.
"""

from fastapi import APIRouter

from threadline.api.routes.stream import sse, websocket

router = APIRouter()
router.include_router(websocket.router)
router.include_router(sse.router)
