"""MCP tools: listing a Model Context Protocol server's tools and calling one.

The client is the official ``mcp`` SDK: streamable HTTP by default, SSE for older
servers (a ``server_url`` whose path ends in ``/sse``, or ``transport: "sse"``).
Every operation opens its own session (connect, ``initialize``, the request,
close) under one deadline, ``McpLimits.timeout_s``.

Every connection goes through the SSRF guard of tenant URLs
(:class:`threadline.tools.llm_endpoints.EndpointGuard`: the host is resolved,
every address checked, the socket pinned to a checked one; no redirects, no proxy
environment); ``THREADLINE_HTTP_ALLOW_PRIVATE`` lets private addresses through.

The operator's ceilings (``McpLimits``): the deadline of one operation, the
tools taken from one server (the rest are dropped, and said so), and the
characters of a tool result the model reads (longer results are cut, and say
so). Failures raise :class:`McpError` with a message naming the server.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import httpx2
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from threadline.telemetry import tracing
from threadline.tools.http_call import HttpPolicy
from threadline.tools.llm_endpoints import EndpointGuard

JsonDict = dict[str, Any]
TRANSPORTS = ("streamable_http", "sse")


@dataclass(frozen=True, slots=True)
class McpLimits:
    """The operator's MCP ceilings (``THREADLINE_MCP_*``)."""

    timeout_s: float = 30.0
    max_tools: int = 64
    max_result_chars: int = 100_000
    max_servers: int = 8


@dataclass(frozen=True, slots=True)
class McpServer:
    """One server to reach: headers already rendered (secrets in clear)."""

    name: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    transport: str = "streamable_http"


@dataclass(frozen=True, slots=True)
class McpTool:
    """A tool a server lists."""

    server: str
    name: str
    description: str
    input_schema: JsonDict


@dataclass(frozen=True, slots=True)
class McpListing:
    """A server's tools, and what the ceiling dropped."""

    tools: tuple[McpTool, ...]
    dropped: int = 0


class McpError(Exception):
    """An MCP operation failed (unreachable, refused, timed out, protocol error)."""


def transport_for(url: str, explicit: Any = None) -> str:
    """``explicit`` when it names a transport, else by the URL's path."""
    if explicit in TRANSPORTS:
        return str(explicit)
    return (
        "sse" if urlparse(url).path.rstrip("/").endswith("/sse") else "streamable_http"
    )


def _factory(guard: EndpointGuard, timeout: float) -> Any:
    def make(
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        client = guard.http_client(timeout=deadline)
        client.headers.update(headers or {})
        return client

    deadline = timeout
    return make


@asynccontextmanager
async def _spanned(
    server: McpServer, method: str, tool: str | None = None
) -> AsyncIterator[None]:
    """A client span ``mcp <method> <tool or server>`` around one MCP exchange (no
    arguments, results or headers in it: they may hold the tenant's secrets)."""
    attributes: dict[str, Any] = {
        "mcp.method.name": method,
        "threadline.mcp.server": server.name,
        "server.address": urlparse(server.url).hostname or "",
    }
    if tool is not None:
        attributes["gen_ai.tool.name"] = tool
    with tracing.span(
        f"mcp {method} {tool or server.name}", attributes, kind=tracing.CLIENT
    ):
        yield


@asynccontextmanager
async def _session(
    server: McpServer, policy: HttpPolicy, limits: McpLimits
) -> AsyncIterator[ClientSession]:
    guard = EndpointGuard(policy)
    await guard.check(server.url)
    # The W3C trace context of the MCP span travels with every request.
    headers = {**server.headers, **tracing.headers()}
    async with AsyncExitStack() as stack:
        if server.transport == "sse":
            read, write = await stack.enter_async_context(
                sse_client(
                    server.url,
                    headers=headers,
                    timeout=limits.timeout_s,
                    sse_read_timeout=limits.timeout_s,
                    httpx_client_factory=_factory(guard, limits.timeout_s),
                )
            )
        else:
            client = guard.http_client(timeout=limits.timeout_s)
            client.headers.update(headers)
            await stack.enter_async_context(client)
            read, write = await stack.enter_async_context(
                streamable_http_client(server.url, http_client=client)
            )
        session = await stack.enter_async_context(
            ClientSession(read, write, read_timeout_seconds=limits.timeout_s)
        )
        await session.initialize()
        yield session


def _failure(server: McpServer, what: str, exc: BaseException) -> McpError:
    if isinstance(exc, TimeoutError):
        reason = "no answer in time (THREADLINE_MCP_TIMEOUT_SECONDS)"
    else:
        reason = _reason(exc)
    return McpError(
        f"MCP server {server.name!r} ({server.url}): {what} failed: {reason}"
    )


def _reason(exc: BaseException) -> str:
    """The innermost useful message of an exception (task groups wrap them)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def list_tools(
    server: McpServer, policy: HttpPolicy, limits: McpLimits
) -> McpListing:
    """The server's tools (at most ``limits.max_tools``)."""
    tools: list[McpTool] = []
    total = 0
    try:
        async with (
            asyncio.timeout(limits.timeout_s),
            _spanned(server, "tools/list"),
            _session(server, policy, limits) as session,
        ):
            cursor: str | None = None
            while True:
                params = {"cursor": cursor} if cursor else None
                page = await session.list_tools(params=params)  # type: ignore[arg-type]
                for tool in page.tools:
                    total += 1
                    if len(tools) < limits.max_tools:
                        tools.append(
                            McpTool(
                                server=server.name,
                                name=tool.name,
                                description=tool.description or "",
                                input_schema=dict(tool.input_schema or {}),
                            )
                        )
                cursor = page.next_cursor
                if not cursor or total > 10 * limits.max_tools:
                    break
    except Exception as exc:
        raise _failure(server, "listing its tools", exc) from None
    return McpListing(tuple(tools), dropped=total - len(tools))


def _content_text(result: Any, limits: McpLimits) -> str:
    parts: list[str] = []
    for block in getattr(result, "content", None) or []:
        text = getattr(block, "text", None)
        if isinstance(text, str):
            parts.append(text)
        else:
            parts.append(json.dumps(block.model_dump(mode="json"), default=str))
    structured = getattr(result, "structured_content", None)
    if not parts and structured is not None:
        parts.append(json.dumps(structured, default=str))
    text = "\n".join(parts)
    if len(text) > limits.max_result_chars:
        text = (
            text[: limits.max_result_chars]
            + f"\n[cut at {limits.max_result_chars} characters: "
            "THREADLINE_MCP_MAX_RESULT_CHARS]"
        )
    return text


async def call_tool(
    server: McpServer,
    name: str,
    arguments: JsonDict,
    policy: HttpPolicy,
    limits: McpLimits,
) -> tuple[bool, str]:
    """Call one tool: ``(success, text the model reads)``. A tool that reports an
    error is ``(False, its text)``; a failed call raises :class:`McpError`."""
    try:
        async with (
            asyncio.timeout(limits.timeout_s),
            _spanned(server, "tools/call", name),
            _session(server, policy, limits) as session,
        ):
            result = await session.call_tool(name, arguments)
    except Exception as exc:
        raise _failure(server, f"calling tool {name!r}", exc) from None
    return not bool(getattr(result, "is_error", False)), _content_text(result, limits)
