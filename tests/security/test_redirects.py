"""Headers a tenant set do not follow a redirect to another origin.

An HTTP node or ``external_api`` tool sends headers its config sets, often
credentials under a custom name (``X-Partner-Token``) or a template filled with a
secret. A redirect to another origin (scheme, host or port) must not carry them
there: only content-negotiation headers survive such a hop. Two real loopback
listeners (free ports) play the origin and the redirect target; the target is
reached as ``localhost`` so that it is another origin.
"""

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.security.conftest import (
    START,
    RawListener,
    Seen,
    Served,
    raw_listener,
    serve,
)
from threadline.store import Store

LITERAL = "partner-literal-token-8812"
TEMPLATED = "partner-templated-token-3391"
HEADERS = {
    "X-Partner-Token": LITERAL,
    "X-Session": "{{session}}",
    "Authorization": "Bearer {{session}}",
    "Accept": "application/json",
}


def _ok(_: Seen) -> tuple[int, dict[str, str], bytes]:
    return 200, {"content-type": "application/json"}, b'{"ok": true}'


@pytest.fixture
async def target() -> AsyncIterator[RawListener]:
    async with raw_listener(_ok) as listener:
        yield listener


def _redirecting(location: str) -> Any:
    def answer(request: Seen) -> tuple[int, dict[str, str], bytes]:
        if request.path == "/start":
            return 302, {"location": location}, b""
        return _ok(request)

    return answer


async def _http_node(served: Served, url: str) -> None:
    node = {
        "type": "http_request",
        "logical_id": "node_http",
        "name": "http",
        "is_start": True,
        "url": url,
        "headers": HEADERS,
        "timeout": 5,
    }
    client = served.team.client
    made = await client.post(
        "/v1/workflows", json={"name": "R", "node_configs": [node]}
    )
    assert made.status_code == 200, made.text
    wid = made.json()["workflow"]["_id"]
    run_input = {**START, "dynamic_variables": {"session": TEMPLATED}}
    turn = await client.post(
        f"/v1/workflows/{wid}/execute", json={"run_input": run_input}
    )
    assert turn.status_code == 200, turn.text


async def _tool(served: Served, url: str) -> None:
    tool = {
        "type": "external_api",
        "name": "lookup",
        "api_endpoint": url,
        "api_method": "GET",
        "api_headers": {**HEADERS, "X-Session": "{session}"},
    }
    ran = await served.team.client.post(
        "/v1/tools/execute", json={"tool_config": tool, "args": {"session": TEMPLATED}}
    )
    assert ran.status_code == 200, ran.text


@pytest.mark.parametrize("path", [_http_node, _tool], ids=["http-node", "tool"])
async def test_tenant_headers_stay_behind_on_a_cross_origin_redirect(
    store: Store, database_url: str, target: RawListener, path: Any
) -> None:
    elsewhere = f"http://localhost:{target.port}/next"
    async with (
        raw_listener(_redirecting(elsewhere)) as origin,
        serve(store, database_url, http_allow_private=True) as served,
    ):
        await path(served, f"http://127.0.0.1:{origin.port}/start")
    [first] = origin.seen
    assert first.headers["x-partner-token"] == LITERAL
    assert TEMPLATED in first.headers["x-session"]
    [hop] = target.seen
    assert hop.path == "/next"
    sent = "\n".join(f"{k}: {v}" for k, v in hop.headers.items())
    assert LITERAL not in sent and TEMPLATED not in sent
    assert "x-partner-token" not in hop.headers and "x-session" not in hop.headers
    assert hop.headers["accept"] == "application/json"


@pytest.mark.parametrize("path", [_http_node, _tool], ids=["http-node", "tool"])
async def test_tenant_headers_follow_a_same_origin_redirect(
    store: Store, database_url: str, path: Any
) -> None:
    async with (
        raw_listener(_redirecting("/next")) as origin,
        serve(store, database_url, http_allow_private=True) as served,
    ):
        await path(served, f"http://127.0.0.1:{origin.port}/start")
    first, hop = origin.seen
    assert hop.path == "/next"
    assert hop.headers["x-partner-token"] == LITERAL
    assert TEMPLATED in hop.headers["x-session"]
    assert hop.headers["authorization"] == first.headers["authorization"]
