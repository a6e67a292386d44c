"""MCP tools offered to LLM nodes with ``use_mcp_tools`` (``Ports.mcp``).

The workflow's ``mcp_servers`` (``{name, server_url, api_headers, transport?}``,
at most ``McpLimits.max_servers``) are listed once per run and cached (the
run's ``listings``, kept by the runtime between turns); a server that fails to
list gives a ``workflow_warning`` and the node goes on without its tools (it is
tried again on the next turn). ``api_headers`` values are rendered like prompts,
so ``{{global.token}}`` sends the team's secret; the stored config keeps the
placeholder, and the secret is redacted from events and stored state like any
other.

Each tool is offered under its own name, made wire-safe; a name already taken
(a node or workflow tool, or another server's tool) becomes
``<server>__<name>``. Its description and parameters are the server's.

A call is a side effect: it goes through ``Effects.once`` so that a turn resumed
after a crash reads the journaled result instead of calling the server again.
"""

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from threadline.engine.steps import NodeTask
from threadline.nodes.prompts import render_text
from threadline.providers.base import ToolCall
from threadline.tools.http_call import HttpPolicy
from threadline.tools.mcp import (
    McpError,
    McpLimits,
    McpListing,
    McpServer,
    call_tool,
    list_tools,
    transport_for,
)

JsonDict = dict[str, Any]
MCP_TYPE = "mcp"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class Effects(Protocol):
    """Runs a side effect at most once per turn, even across a resume."""

    async def once(
        self, call: JsonDict, run: Callable[[], Awaitable[JsonDict]]
    ) -> JsonDict: ...


class Direct:
    """No journal: every call runs (unit tests, the DBOS executor)."""

    async def once(
        self, call: JsonDict, run: Callable[[], Awaitable[JsonDict]]
    ) -> JsonDict:
        return await run()


def _warning(message: str) -> JsonDict:
    return {"type": "workflow_warning", "warning_message": message}


def _safe(name: str) -> str:
    return (_UNSAFE.sub("_", name) or "tool")[:64]


@dataclass
class McpHub:
    """A run's MCP servers for one turn."""

    policy: HttpPolicy = field(default_factory=HttpPolicy)
    limits: McpLimits = field(default_factory=McpLimits)
    listings: dict[str, McpListing] = field(default_factory=dict)
    """The run's cache: ``name url`` -> listing (kept across turns)."""
    effects: Effects = field(default_factory=Direct)
    failed: dict[str, str] = field(default_factory=dict)
    """This turn's listing failures (not retried within the turn)."""

    def servers(self, task: NodeTask, events: list[JsonDict]) -> list[McpServer]:
        """The workflow's servers, headers rendered (a bad one is skipped)."""
        raw = task.workflow.get("mcp_servers") or []
        if len(raw) > self.limits.max_servers:
            events.append(
                _warning(
                    f"the workflow has {len(raw)} MCP servers; only the first "
                    f"{self.limits.max_servers} are used (THREADLINE_MCP_MAX_SERVERS)"
                )
            )
        out = []
        for index, entry in enumerate(raw[: self.limits.max_servers]):
            if not isinstance(entry, dict) or not entry.get("server_url"):
                continue
            url = str(entry["server_url"])
            name = str(entry.get("name") or f"mcp_{index}")
            try:
                headers = {
                    str(k): render_text(str(v), task)
                    for k, v in (entry.get("api_headers") or {}).items()
                }
            except Exception as exc:
                events.append(_warning(f"MCP server {name!r}: its api_headers: {exc}"))
                continue
            transport = transport_for(url, entry.get("transport"))
            out.append(McpServer(name, url, headers, transport))
        return out

    async def _listing(
        self, server: McpServer, events: list[JsonDict]
    ) -> McpListing | None:
        key = f"{server.name} {server.url}"
        if key in self.listings:
            return self.listings[key]
        if key in self.failed:
            return None
        try:
            listing = await list_tools(server, self.policy, self.limits)
        except McpError as exc:
            self.failed[key] = str(exc)
            events.append(
                _warning(f"{exc}; this turn goes on without that server's tools")
            )
            return None
        if listing.dropped:
            events.append(
                _warning(
                    f"MCP server {server.name!r} lists {listing.dropped} tools more "
                    f"than this server's limit of {self.limits.max_tools} "
                    "(THREADLINE_MCP_MAX_TOOLS); they are not offered"
                )
            )
        self.listings[key] = listing
        return listing

    async def offered(
        self, task: NodeTask, taken: set[str], events: list[JsonDict]
    ) -> dict[str, JsonDict]:
        """Function name -> tool config of every MCP tool offered to ``task``."""
        tools: dict[str, JsonDict] = {}
        for server in self.servers(task, events):
            listing = await self._listing(server, events)
            for tool in listing.tools if listing else ():
                name = _safe(tool.name)
                if name in taken or name in tools:
                    name = _safe(f"{server.name}__{tool.name}")
                tools.setdefault(
                    name,
                    {
                        "type": MCP_TYPE,
                        "name": name,
                        "description": tool.description or tool.name,
                        "args_schema": tool.input_schema,
                        "mcp_server": server.name,
                        "mcp_tool": tool.name,
                    },
                )
        return tools

    async def call(self, tool: JsonDict, call: ToolCall, task: NodeTask) -> JsonDict:
        """``{success, result | error}`` of one call, journaled as a side effect."""
        events: list[JsonDict] = []
        server = next(
            (s for s in self.servers(task, events) if s.name == tool["mcp_server"]),
            None,
        )
        if server is None:
            return {"success": False, "error": "the MCP server is not configured"}
        found = server

        async def run() -> JsonDict:
            try:
                ok, text = await call_tool(
                    found,
                    tool["mcp_tool"],
                    dict(call.arguments),
                    self.policy,
                    self.limits,
                )
            except McpError as exc:
                return {"success": False, "error": str(exc)}
            return (
                {"success": ok, "result": text}
                if ok
                else {
                    "success": False,
                    "error": text,
                }
            )

        described = {
            "mcp_server": server.name,
            "server_url": server.url,
            "tool": tool["mcp_tool"],
            "arguments": dict(call.arguments),
        }
        return await self.effects.once(described, run)
