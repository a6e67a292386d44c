"""The MCP client against a real MCP server on loopback: transports, ceilings,
the SSRF guard, failures named by server."""

import pytest

from tests.fakes.mcp_server import mcp_server
from threadline.tools.http_call import HttpPolicy
from threadline.tools.mcp import (
    McpError,
    McpLimits,
    McpServer,
    call_tool,
    list_tools,
    transport_for,
)

OPEN = HttpPolicy(allow_private=True)


def test_the_transport_follows_the_url_unless_given():
    assert transport_for("https://x.example.com/mcp") == "streamable_http"
    assert transport_for("https://x.example.com/sse") == "sse"
    assert transport_for("https://x.example.com/sse/") == "sse"
    assert transport_for("https://x.example.com/mcp", "sse") == "sse"
    assert transport_for("https://x.example.com/sse", "bogus") == "sse"


async def test_tools_over_the_ceiling_are_dropped_and_counted():
    async with mcp_server() as served:
        server = McpServer("clinic", served.url)
        listing = await list_tools(server, OPEN, McpLimits(max_tools=1))
    assert [t.name for t in listing.tools] == ["opening_hours"]
    assert listing.dropped == 1


async def test_a_long_result_is_cut_and_says_so():
    async with mcp_server(sse=True) as served:
        server = McpServer("clinic", served.sse_url, transport="sse")
        ok, text = await call_tool(
            server,
            "opening_hours",
            {"city": "Oslo"},
            OPEN,
            McpLimits(max_result_chars=10),
        )
    assert ok and text.startswith("The Oslo c\n[cut at 10 characters")
    assert "THREADLINE_MCP_MAX_RESULT_CHARS" in text


async def test_a_tool_error_is_an_unsuccessful_result_not_an_exception():
    async with mcp_server() as served:
        server = McpServer("clinic", served.url)
        ok, text = await call_tool(
            server, "book", {"patient": "Sam"}, OPEN, McpLimits()
        )
    assert not ok and "day" in text
    assert served.calls == []


async def test_failures_name_the_server_and_the_reason():
    async with mcp_server() as served:
        url = served.url
    server = McpServer("gone", url)
    with pytest.raises(McpError, match=r"MCP server 'gone' .*listing its tools failed"):
        await list_tools(server, OPEN, McpLimits(timeout_s=5))
    with pytest.raises(McpError, match="loopback"):
        await list_tools(server, HttpPolicy(), McpLimits(timeout_s=5))
    bad = McpServer("ftp", "ftp://files.example.com/mcp")
    with pytest.raises(McpError, match="http"):
        await call_tool(bad, "x", {}, OPEN, McpLimits(timeout_s=5))
