"""The lean routes answered straight from ASGI, past Starlette's stack and router.

A request to ``execute`` crosses about twenty layers before its endpoint runs:
FastAPI's and Starlette's middlewares (server errors, FastAPI's telemetry and body
limit, exceptions, an exit stack), ours (tracing, body limit, JSON guard), the
router's walk to the hot route and FastAPI's request wrapper (two exit stacks, the
exception wrapper again). Each adds a coroutine, a closure around ``send`` or a
scope lookup: ~0.2 ms of CPU a turn under load. :class:`App` serves the lean
routes (``api/lean_routes.py``) itself when a request is plainly valid, doing what
those layers would have done for it, in the same order:

1. the route by method and path, with Starlette's own path regex (only a route
   whose reader accepts the path parameters is served here, and the router's
   table puts these routes first: ``api/hot_routes.py``);
2. the body limit (a ``content-length`` within ``THREADLINE_MAX_BODY_BYTES``) and
   the JSON guard (:func:`json_guard.loads`, the same decoding and rules);
3. the reader (authentication last) and the endpoint; a raised error goes to the
   handler the app registered for it, an unexpected one gets the app's 500 answer
   and is raised again for uvicorn to log, as ``ServerErrorMiddleware`` does.

Anything else (tracing on, FastAPI's own telemetry on, dependency overrides, a
``root_path``, no or a wrong content type or length, a body the guard refuses, a
request the reader leaves to FastAPI) goes through the whole app, with the body
already read handed over as it came: so every refusal keeps its status, code,
message and headers. ``tests/api/test_hot_path.py`` sends requests both ways.
"""

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from re import Pattern
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadline.api.json_guard import THREAD_ABOVE_BYTES, loads
from threadline.api.lean_routes import PARSED_BODY, Reader, reader_of
from threadline.errors import InvalidField
from threadline.telemetry import tracing

Handler = Any
"""An exception handler as Starlette keeps them (``ExceptionHandler``)."""


@dataclass(frozen=True)
class HotRoute:
    """One lean route under one prefix."""

    regex: Pattern[str]
    reader: Reader
    endpoint: Callable[..., Awaitable[Response]]
    body: bool
    """A JSON body is read and checked before the reader runs."""


@dataclass(frozen=True)
class Limits:
    """What ``BodyLimit`` and ``JsonGuard`` enforce (``create_app`` passes both)."""

    max_body_bytes: int
    max_json_depth: int


class _Declined(Exception):
    """The request is not plainly valid: the whole app answers it."""


def hot_routes(
    routes: Iterable[BaseRoute], prefixes: Iterable[str]
) -> dict[str, list[HotRoute]]:
    """The lean ``routes`` (those with a reader), under each prefix, by method."""
    table: dict[str, list[HotRoute]] = {}
    prefixes = tuple(prefixes)
    for route in routes:
        reader = reader_of(route.endpoint) if isinstance(route, APIRoute) else None
        if reader is None or not isinstance(route, APIRoute):
            continue
        for method in sorted(route.methods or ()):
            for prefix in prefixes:
                regex, _, _ = compile_path(prefix + route.path)
                hot = HotRoute(regex, reader, route.endpoint, method == "POST")
                table.setdefault(method, []).append(hot)
    return table


class App(FastAPI):
    """FastAPI, with the lean routes served from ``__call__`` (see the module)."""

    hot_table: dict[str, list[HotRoute]] = {}  # replaced by serve_hot, never mutated
    hot_limits: Limits | None = None
    _handlers: dict[Any, Handler]
    _status_handlers: dict[int, Handler]
    _error_handler: Handler | None

    def serve_hot(self, table: dict[str, list[HotRoute]], limits: Limits) -> None:
        """Serve ``table``'s routes directly, under ``limits``."""
        self.hot_table = table
        self.hot_limits = limits

    def build_middleware_stack(self) -> ASGIApp:
        # The handlers the stack's ExceptionMiddleware and ServerErrorMiddleware
        # get, split the way Starlette splits them.
        self._handlers, self._status_handlers, self._error_handler = {}, {}, None
        for key, value in self.exception_handlers.items():
            if key in (500, Exception):
                self._error_handler = value
            elif isinstance(key, int):
                self._status_handlers[key] = value
            else:
                self._handlers[key] = value
        return super().build_middleware_stack()

    def _plain(self, scope: Scope) -> bool:
        return (
            self.hot_limits is not None
            and not scope.get("root_path")
            and not self.root_path
            and not self.dependency_overrides
            and not tracing.enabled()
            and "fastapi.telemetry" not in scope
            and not self._native_telemetry.enabled()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self.hot_table.get(scope["method"], ()):
                found = route.regex.fullmatch(scope["path"])
                if found is not None:
                    if self._plain(scope):
                        await self._serve(
                            route, found.groupdict(), scope, receive, send
                        )
                        return
                    break
        await super().__call__(scope, receive, send)

    async def _serve(
        self,
        route: HotRoute,
        path_params: dict[str, str],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        scope["app"] = self
        read: list[Message] = []
        try:
            if route.body:
                await self._json_body(scope, receive, read)
            scope["path_params"] = path_params
        except _Declined:
            await self._whole_app(read, scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        request = Request(scope, receive, sending)
        try:
            arguments = await route.reader.read(request)
            if arguments is None:
                await self._whole_app(read, scope, receive, send)
                return
            response = await route.endpoint(**arguments)
            await response(scope, receive, sending)
        except Exception as exc:  # answered as the app's stack would
            await self._failed(exc, started, request, scope, receive, sending)

    async def _json_body(
        self, scope: Scope, receive: Receive, read: list[Message]
    ) -> None:
        """Read and check the body (``_Declined`` for anything not plainly valid);
        the messages read go into ``read``, the decoded object into the scope."""
        assert self.hot_limits is not None
        kind = length = None
        for name, value in scope["headers"]:
            if name == b"content-type" and kind is None:
                kind = value
            elif name == b"content-length" and length is None:
                length = value
        if kind is None or kind.split(b";")[0].strip().lower() != b"application/json":
            raise _Declined
        limit = min(self.hot_limits.max_body_bytes, THREAD_ABOVE_BYTES)
        if length is None or not length.isdigit() or int(length) > limit:
            raise _Declined
        chunks: list[bytes] = []
        while True:
            message = await receive()
            read.append(message)
            if message["type"] != "http.request":
                raise _Declined
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if len(body) > limit:
            raise _Declined
        try:
            value = loads(body, self.hot_limits.max_json_depth)
        except (InvalidField, ValueError):
            raise _Declined from None
        if not isinstance(value, dict):
            raise _Declined
        scope[PARSED_BODY] = value

    async def _whole_app(
        self, read: list[Message], scope: Scope, receive: Receive, send: Send
    ) -> None:
        """The whole app answers, reading first the messages already read."""
        pending = iter(read)

        async def replay() -> Message:
            message = next(pending, None)
            return message if message is not None else await receive()

        scope.pop(PARSED_BODY, None)
        await super().__call__(scope, replay, send)

    async def _failed(
        self,
        exc: Exception,
        started: bool,
        request: Request,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """What ExceptionMiddleware, then ServerErrorMiddleware, do with ``exc``."""
        handler: Handler | None = None
        if isinstance(exc, HTTPException):
            handler = self._status_handlers.get(exc.status_code)
        if handler is None:
            handler = _handler_for(self._handlers, exc)
        if handler is not None:
            if started:
                raise RuntimeError(
                    "Caught handled exception, but response already started."
                ) from exc
            response = await _answer(handler, request, exc)
            if response is not None:
                await response(scope, receive, send)
            exc.__traceback__ = None
            return
        if not started:
            if self._error_handler is None:
                response = PlainTextResponse("Internal Server Error", 500)
            else:
                response = await _answer(self._error_handler, Request(scope), exc)
            await response(scope, receive, send)
        raise exc


def _handler_for(handlers: dict[Any, Handler], exc: Exception) -> Handler | None:
    """The handler of the nearest class of ``exc`` that has one (as Starlette's
    exception middleware looks it up)."""
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    return None


def _is_async(handler: Any) -> bool:
    """Whether calling ``handler`` gives an awaitable (partials unwrapped, and a
    callable object's ``__call__``), as Starlette decides it."""
    while isinstance(handler, functools.partial):
        handler = handler.func
    return inspect.iscoroutinefunction(handler) or (
        callable(handler) and inspect.iscoroutinefunction(handler.__call__)
    )


async def _answer(handler: Handler, request: Request, exc: Exception) -> Any:
    """A handler's response (a plain function runs in the thread pool, as in
    Starlette)."""
    if _is_async(handler):
        return await handler(request, exc)
    return await run_in_threadpool(handler, request, exc)
