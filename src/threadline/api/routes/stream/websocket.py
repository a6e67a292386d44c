"""The WebSocket endpoint ``/workflow-runs/ws`` (the SDK's ``client.runs.stream``).

Authentication happens at the upgrade: ``Authorization: Bearer <api key>``, or
a ``token`` / ``api_key`` query parameter for clients that cannot set headers, or
the console's session cookie from a page of the same origin (the playground);
the SDK's ``teamid`` / ``uuid`` headers are honoured as with HTTP. A refused
key is answered by accepting the socket and closing it at once with 4001
(unknown, revoked or missing key) or 4003 (``teamid``/``uuid`` name another
team or user); the reason is the error message.

What the socket then carries, and its close codes, is in ``protocol``; the
``session`` carries it.
"""

import contextlib

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from threadline.api.console.web import socket_caller
from threadline.api.routes.stream.frames import (
    store_of,
)
from threadline.api.routes.stream.protocol import (
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHENTICATED,
)
from threadline.api.routes.stream.session import Session
from threadline.errors import (
    Forbidden,
    Unauthenticated,
)
from threadline.service.caller import Caller
from threadline.service.team import auth

router = APIRouter(tags=["streaming"])


# A close reason is at most 123 bytes.
_MAX_REASON = 120


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
        else:
            signed_in = await socket_caller(websocket)
            if signed_in is not None:
                return signed_in
    return await auth.authenticate(
        store_of(websocket),
        authorization,
        websocket.headers.get("teamid"),
        websocket.headers.get("uuid"),
    )


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
    session = Session(websocket, caller)
    code, reason = await session.serve()
    if session.connected:
        with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
            await websocket.close(code, _reason(reason))
