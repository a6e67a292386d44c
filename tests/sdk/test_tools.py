"""Tool test runs through the SDK: integer latency, no confirm flag to send."""

from typing import Any

import httpx

from threadline.service.runtime import Runtime

GREET = {
    "type": "inline_python",
    "name": "greet",
    "code": "def greet(name):\n    return 'Hi ' + name\n",
}


async def test_execute_inline_runs_a_sandboxed_tool(sdk: Any):
    result = await sdk.tools.execute_inline(tool_config=GREET, args={"name": "Ann"})
    assert result.success is True and result.result == "Hi Ann"
    assert isinstance(result.latency_ms, int) and result.dry_run is False


async def test_execute_runs_a_saved_posting_tool(sdk: Any, runtime: Runtime):
    runtime.http_transport = httpx.MockTransport(
        lambda request: httpx.Response(503, json={"error": "down"})
    )
    runtime.http_allow_private = True
    saved = await sdk.tools.create(
        tool_config={
            "type": "external_api",
            "name": "create_ticket",
            "api_endpoint": "http://crm.example.test/tickets",
            "api_method": "POST",
        }
    )
    result = await sdk.tools.execute(saved.id, args={})
    assert result.success is False and result.side_effect == "writes"
    assert result.error_code == "http_503" and result.dry_run is False
