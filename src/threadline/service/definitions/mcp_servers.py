"""Save-time checks of a workflow's MCP servers (``mcp_servers``, ``use_mcp_tools``).

What can be known without connecting is reported as warnings on the save (the
save still succeeds; the run reports the same problems as ``workflow_warning``
events): a node with ``use_mcp_tools`` in a workflow without servers, a server
URL that is not http(s) or that the SSRF guard refuses (a private address
without ``THREADLINE_HTTP_ALLOW_PRIVATE``), two servers with one name, more
servers than ``THREADLINE_MCP_MAX_SERVERS``. Whether a server answers is only
known when a run lists its tools.
"""

from typing import Any

from threadline.errors import AddressRefused
from threadline.tools.http_call import HttpPolicy
from threadline.tools.llm_endpoints import EndpointGuard
from threadline.tools.mcp import McpLimits

JsonDict = dict[str, Any]


def _warning(message: str, field: str, node: str | None = None) -> JsonDict:
    return {
        "code": "mcp_server",
        "message": message,
        "severity": "warning",
        "node_logical_id": node,
        "edge_logical_id": None,
        "field": field,
    }


async def warnings(
    hydrated: JsonDict, policy: HttpPolicy, limits: McpLimits
) -> list[JsonDict]:
    """The warnings of a saved config (see the module docstring)."""
    config = hydrated.get("workflow_config")
    servers = (config or {}).get("mcp_servers") if isinstance(config, dict) else None
    servers = servers if isinstance(servers, list) else []
    out: list[JsonDict] = []
    for node in hydrated.get("node_configs") or []:
        if isinstance(node, dict) and node.get("use_mcp_tools") and not servers:
            out.append(
                _warning(
                    f"node {node.get('logical_id')!r} sets use_mcp_tools but the "
                    "workflow has no mcp_servers",
                    "use_mcp_tools",
                    node.get("logical_id"),
                )
            )
    if len(servers) > limits.max_servers:
        out.append(
            _warning(
                f"the workflow has {len(servers)} MCP servers; runs use only the "
                f"first {limits.max_servers} (THREADLINE_MCP_MAX_SERVERS)",
                "mcp_servers",
            )
        )
    guard = EndpointGuard(policy)
    names: set[str] = set()
    for index, server in enumerate(servers):
        if not isinstance(server, dict):
            continue
        name = str(server.get("name") or f"mcp_{index}")
        if name in names:
            out.append(
                _warning(
                    f"two MCP servers are named {name!r}; tool calls are routed "
                    "by server name, so give each its own",
                    f"mcp_servers.{index}.name",
                )
            )
        names.add(name)
        try:
            await guard.check(str(server.get("server_url") or ""))
        except AddressRefused as exc:
            out.append(
                _warning(
                    f"MCP server {name!r} cannot be reached by runs: {exc}",
                    f"mcp_servers.{index}.server_url",
                )
            )
    return out
