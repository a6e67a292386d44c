"""A real MCP server on loopback for tests: the ``mcp`` SDK's server (FastMCP,
named ``MCPServer`` in mcp 2) served by uvicorn on a free port, over streamable
HTTP (``/mcp``) and SSE (``/sse``). It records every tool call with its
arguments, and the headers of every HTTP request it receives."""

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass
class Served:
    """The running server: its URLs and what it saw."""

    port: int
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    @property
    def sse_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sse"


def _server(served: Served) -> MCPServer:
    server = MCPServer("clinic-tools")

    @server.tool(description="Look up the opening hours of a clinic by its city.")
    def opening_hours(city: str) -> str:
        served.calls.append(("opening_hours", {"city": city}))
        return f"The {city} clinic is open 8am to 6pm, Monday to Saturday."

    @server.tool(description="Book an appointment; returns its reference.")
    def book(patient: str, day: str) -> str:
        served.calls.append(("book", {"patient": patient, "day": day}))
        return f"Booked {patient} on {day}: reference BK-{len(served.calls):04d}"

    return server


class _Recorder:
    def __init__(self, app: ASGIApp, served: Served) -> None:
        self.app, self.served = app, served

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.served.headers.append(
                {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            )
        await self.app(scope, receive, send)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def mcp_server(*, sse: bool = False) -> AsyncIterator[Served]:
    """Serve the test tools on loopback until the block ends."""
    served = Served(port=_free_port())
    server = _server(served)
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    if sse:
        app = server.sse_app(transport_security=security)
    else:
        app = server.streamable_http_app(transport_security=security)
    config = uvicorn.Config(
        _Recorder(app, served),
        host="127.0.0.1",
        port=served.port,
        log_level="warning",
        lifespan="on",
    )
    runner = uvicorn.Server(config)
    task = asyncio.create_task(runner.serve())
    while not runner.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield served
    finally:
        runner.should_exit = True
        await task
