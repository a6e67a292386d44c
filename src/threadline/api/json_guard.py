"""The JSON every client sends is checked once, before any route reads it.

Request bodies (the ``JsonGuard`` middleware) and WebSocket frames (``loads``) that
break the rules of :mod:`threadline.jsoncheck` (nesting deeper than
``THREADLINE_MAX_JSON_DEPTH``, an integer outside ±(2**53 - 1), a lone surrogate or
a NUL in text) get a 422 with a stable code (``json_too_deep``,
``integer_out_of_range``, ``invalid_text``) naming the field. A large body is
checked on a worker thread so the event loop keeps serving.
"""

import json
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadline.api.errors import error_response
from threadline.api.lean_routes import PARSED_BODY
from threadline.errors import InvalidField
from threadline.jsoncheck import find_problem

THREAD_ABOVE_BYTES = 64 * 1024
"""Bodies larger than this are parsed and walked off the event loop."""
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _refusal(field: str, message: str, code: str) -> InvalidField:
    return InvalidField(
        f"{field}: {message}",
        code=code,
        details=[{"field": field, "message": message, "type": code}],
    )


def loads(text: str | bytes, max_depth: int) -> Any:
    """Decode and check JSON: ``InvalidField`` when it breaks a rule, ``ValueError``
    when it is not JSON at all."""
    try:
        value = json.loads(text)
    except RecursionError:
        message = f"JSON nested deeper than {max_depth} levels"
        raise _refusal("body", message, "json_too_deep") from None
    problem = find_problem(value, max_depth)
    if problem is not None:
        raise _refusal(problem.field, problem.message, problem.code)
    return value


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers") or []:
        if name == b"content-type":
            kind = value.split(b";")[0].strip().lower()
            return bool(kind == b"application/json" or kind.endswith(b"+json"))
    return True  # FastAPI may read a body without a content type as JSON


async def _read_all(receive: Receive) -> tuple[bytes, list[Message]]:
    chunks: list[bytes] = []
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


class JsonGuard:
    """Refuse JSON request bodies that :func:`loads` rejects, with a 422."""

    def __init__(self, app: ASGIApp, max_depth: int) -> None:
        self.app = app
        self.max_depth = max_depth

    def _verdict(self, body: bytes) -> tuple[InvalidField | None, Any]:
        """(refusal, decoded body); the body is None when it is not JSON."""
        try:
            return None, loads(body, self.max_depth)
        except InvalidField as error:
            return error, None
        except ValueError:
            return None, None  # not JSON: the route answers json_invalid itself

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") not in _BODY_METHODS
            or not _is_json(scope)
        ):
            await self.app(scope, receive, send)
            return
        body, messages = await _read_all(receive)
        if len(body) > THREAD_ABOVE_BYTES:
            error, value = await anyio.to_thread.run_sync(self._verdict, body)
        else:
            error, value = self._verdict(body)
        if error is not None:
            response = error_response(422, error.code, error.message, error.details)
            await response(scope, receive, send)
            return
        if value is not None:
            # Decoded as FastAPI would (json.loads of the same bytes): the lean
            # routes (api/lean_routes.py) read it instead of decoding it again.
            scope[PARSED_BODY] = value
        pending = iter(messages)

        async def replay() -> Message:
            message = next(pending, None)
            return message if message is not None else await receive()

        await self.app(scope, replay, send)
