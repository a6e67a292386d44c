"""A server span around each HTTP request (tracing on only).

Pure ASGI: the span is named ``<METHOD> <route template>`` (never the raw path,
which may hold a re-run token) and continues the caller's W3C ``traceparent``.
No header, query string or body is recorded. WebSocket frames get their own spans
(``routes/stream/session.py``).
"""

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadline.telemetry import tracing

_CARRIED = (b"traceparent", b"tracestate")


class TraceRequests:
    """The ASGI middleware (see the module docstring)."""

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        # Longest first: ``/workflows/v1`` before ``/v1``.
        self.prefixes = tuple(sorted(prefixes, key=len, reverse=True))

    def _route(self, scope: Scope) -> str | None:
        """The matched route's template, with the prefix the request used."""
        route: Any = scope.get("route")
        template = getattr(route, "path", None)
        if not isinstance(template, str):
            return None
        path = str(scope.get("path", ""))
        for prefix in self.prefixes:
            if path.startswith(prefix + "/") and not template.startswith(prefix + "/"):
                return prefix + template
        return template

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not tracing.enabled():
            await self.app(scope, receive, send)
            return
        carried = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope.get("headers", ())
            if k in _CARRIED
        }
        method = str(scope.get("method", "GET"))
        with tracing.span(
            method,
            {"http.request.method": method, "url.scheme": scope.get("scheme")},
            kind=tracing.SERVER,
            parent=tracing.parent_from(carried),
        ) as span:

            async def sending(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set("http.response.status_code", status)
                    if status >= 500:
                        span.fail(f"HTTP {status}", str(status))
                await send(message)

            try:
                await self.app(scope, receive, sending)
            finally:
                template = self._route(scope)
                if template is not None:
                    span.span.update_name(f"{method} {template}")
                    span.set("http.route", template)
