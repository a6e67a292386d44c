"""MCP tools end to end: a real MCP server (the ``mcp`` SDK's) on loopback, a
workflow whose node offers its tools, the scripted model calling one."""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from tests.api.conftest import Team
from tests.api.test_durability import Gate
from tests.api.test_execute import START, says
from tests.factories import edge, say_node, static_node
from tests.fakes.mcp_server import Served, mcp_server
from threadline.providers.base import ChatRequest
from threadline.providers.fake import ScriptedLLM, tool_call
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.running import recovery, runs
from threadline.service.runtime import Runtime
from threadline.service.turns import TurnRequest
from threadline.store import Store

TOKEN = "mcp-secret-token-4821"


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async with mcp_server() as running:
        yield running


@pytest.fixture
def private(runtime: Runtime) -> Runtime:
    """The loopback MCP server is reachable (THREADLINE_HTTP_ALLOW_PRIVATE)."""
    runtime.http_allow_private = True
    return runtime


def mcp_workflow(url: str, **server: Any) -> dict[str, Any]:
    chat = {
        **say_node("node_chat", prompt="Help with clinic questions."),
        "use_mcp_tools": True,
        "max_consecutive_tool_calls": 3,
    }
    return {
        "name": "MCP",
        "workflow_config": {
            "mcp_servers": [
                {
                    "name": "clinic",
                    "server_url": url,
                    "api_headers": {
                        "Authorization": "Bearer {{global.mcp_token}}",
                        "X-Clinic": "northside",
                    },
                    **server,
                }
            ]
        },
        "node_configs": [
            static_node("node_greet", "Hello!", is_start=True),
            chat,
        ],
        "edge_configs": [edge("edge_greet", "node_greet", "node_chat")],
    }


async def setup(team: Team, body: dict[str, Any]) -> tuple[str, str]:
    made = await team.client.post(
        "/v1/global-variables",
        json={"name": "mcp_token", "value": TOKEN, "is_secret": True},
    )
    assert made.status_code == 200, made.text
    created = await team.client.post("/v1/workflows", json=body)
    assert created.status_code == 200, created.text
    wid = created.json()["workflow"]["_id"]
    first = await team.client.post(
        f"/v1/workflows/{wid}/execute", json={"run_input": START}
    )
    assert first.status_code == 200, first.text
    return wid, first.json()["run_id"]


async def say(team: Team, wid: str, run_id: str, text: str) -> dict[str, Any]:
    response = await team.client.post(
        f"/v1/workflows/{wid}/execute",
        json={"run_id": run_id, "run_input": says(text)},
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def tool_message(request: ChatRequest) -> str:
    return next(m.content for m in request.messages if m.role == "tool")


def sessions(served: Served) -> int:
    """MCP sessions opened: POSTs without a session id (each ``initialize``)."""
    return sum(
        1
        for h in served.headers
        if h.get(":method", "POST") == "POST" and "mcp-session-id" not in h
    )


async def test_the_model_calls_an_mcp_tool_and_reads_its_result(
    team: Team, private: Runtime, llm: ScriptedLLM, served: Served
):
    wid, run_id = await setup(team, mcp_workflow(served.url))
    llm.extend(
        tool_call("opening_hours", {"city": "Oslo"}),
        lambda request: f"Here you go: {tool_message(request)}",
    )
    answer = await say(team, wid, run_id, "When is the Oslo clinic open?")
    # The server got the call, with the model's arguments and the headers.
    assert served.calls == [("opening_hours", {"city": "Oslo"})]
    assert all(h["authorization"] == f"Bearer {TOKEN}" for h in served.headers)
    assert all(h["x-clinic"] == "northside" for h in served.headers)
    # The model saw the server's tools next to nothing else, then the result.
    offered = {t.name: t for t in llm.requests[0].tools}
    assert set(offered) == {"opening_hours", "book"}
    assert offered["book"].parameters["required"] == ["patient", "day"]
    assert "open 8am to 6pm" in tool_message(llm.requests[1])
    spoken = [e for e in answer["events"] if e["type"] == "assistant_response"]
    assert "open 8am to 6pm" in json.dumps(spoken)
    # The secret header value is nowhere in what is stored or answered.
    record = await team.client.get(f"/v1/workflow-runs/{run_id}")
    assert TOKEN not in record.text and TOKEN not in json.dumps(answer)
    assert "{{global.mcp_token}}" in record.text  # the config keeps the placeholder


async def test_a_run_lists_a_servers_tools_once(
    team: Team, private: Runtime, llm: ScriptedLLM, served: Served
):
    wid, run_id = await setup(team, mcp_workflow(served.url))
    llm.extend(tool_call("book", {"patient": "Sam", "day": "Monday"}), "Booked.")
    await say(team, wid, run_id, "Book me for Monday")
    assert sessions(served) == 2  # one listing, one call
    llm.extend("Anything else?")
    await say(team, wid, run_id, "Thanks")
    assert sessions(served) == 2  # the second turn reused the listing
    assert [t.name for t in llm.requests[-1].tools] == ["opening_hours", "book"]
    assert served.calls == [("book", {"patient": "Sam", "day": "Monday"})]


async def test_an_sse_server_works_the_same(
    team: Team, private: Runtime, llm: ScriptedLLM
):
    async with mcp_server(sse=True) as old:
        wid, run_id = await setup(team, mcp_workflow(old.sse_url))
        llm.extend(tool_call("opening_hours", {"city": "Bergen"}), "Noted.")
        await say(team, wid, run_id, "Bergen hours?")
    assert old.calls == [("opening_hours", {"city": "Bergen"})]
    assert "Bergen clinic is open" in tool_message(llm.requests[1])


async def test_an_unreachable_server_is_an_event_and_the_turn_goes_on(
    team: Team, private: Runtime, llm: ScriptedLLM
):
    async with mcp_server() as gone:
        url = gone.url
    wid, run_id = await setup(team, mcp_workflow(url))
    llm.extend("I can still chat.")
    answer = await say(team, wid, run_id, "Hi")
    assert llm.requests[0].tools == ()
    warnings = [
        e["warning_message"]
        for e in answer["events"]
        if e["type"] == "workflow_warning"
    ]
    assert any(
        "MCP server 'clinic'" in w and "listing its tools" in w for w in warnings
    )
    assert "I can still chat." in json.dumps(answer)


async def test_a_private_address_is_refused_without_the_operator_switch(
    team: Team, llm: ScriptedLLM, served: Served
):
    wid, run_id = await setup(team, mcp_workflow(served.url))
    llm.extend("No tools today.")
    answer = await say(team, wid, run_id, "Hi")
    assert served.headers == [] and served.calls == []
    assert "THREADLINE_HTTP_ALLOW_PRIVATE" in json.dumps(answer)


async def test_a_node_without_use_mcp_tools_is_offered_none(
    team: Team, private: Runtime, llm: ScriptedLLM, served: Served
):
    body = mcp_workflow(served.url)
    body["node_configs"][1]["use_mcp_tools"] = False
    wid, run_id = await setup(team, body)
    llm.extend("Plain.")
    await say(team, wid, run_id, "Hi")
    assert llm.requests[0].tools == () and served.headers == []


async def test_an_mcp_call_is_not_repeated_when_a_crashed_turn_resumes(
    team: Team, private: Runtime, llm: ScriptedLLM, served: Served, store: Store
):
    wid, run_id = await setup(team, mcp_workflow(served.url))
    llm.extend(tool_call("book", {"patient": "Sam", "day": "Friday"}), "never")
    gate = Gate(llm, hold={2})  # the call after the tool's result
    private.llm = gate
    caller = Caller(team.team_id, team.user_id)
    request = TurnRequest(
        workflow_id=wid,
        run_id=run_id,
        raw_input=says("Book Friday"),
        field="run_input",
        idempotency_key="mcp-crash",
    )
    first = asyncio.create_task(runs.run_one_turn(store, caller, private, request))
    await gate.entered.wait()
    assert served.calls == [("book", {"patient": "Sam", "day": "Friday"})]
    # The process dies after the MCP call was made and journaled.
    private.drivers[run_id].cancel()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    survivor_llm = ScriptedLLM(
        [
            tool_call("book", {"patient": "Sam", "day": "Friday"}),
            lambda r: f"Done: {tool_message(r)}",
        ]
    )
    survivor = Runtime(llm=survivor_llm, http_allow_private=True)
    retry = asyncio.create_task(runs.run_one_turn(store, caller, survivor, request))
    later = wf.now() + timedelta(seconds=60)
    resumed = await recovery.recover(store, survivor, now=later, teams={team.team_id})
    assert len(resumed) == 1
    doc, _ = await retry
    await survivor.drain()
    assert doc.status == "waiting_for_user_input"
    # The booking happened once; the resumed turn read its journaled result.
    assert served.calls == [("book", {"patient": "Sam", "day": "Friday"})]
    assert "reference BK-0001" in tool_message(survivor_llm.requests[1])


async def test_saving_warns_about_servers_runs_cannot_use(team: Team):
    body = mcp_workflow("http://127.0.0.1:9/mcp")
    body["workflow_config"]["mcp_servers"].append(
        {"name": "clinic", "server_url": "ftp://files.example.com/mcp"}
    )
    created = await team.client.post("/v1/workflows", json=body)
    assert created.status_code == 200, created.text
    found = {w["field"]: w["message"] for w in created.json()["warnings"]}
    assert "loopback" in found["mcp_servers.0.server_url"]
    assert "http" in found["mcp_servers.1.server_url"]
    assert "named 'clinic'" in found["mcp_servers.1.name"]
    lonely = mcp_workflow("https://mcp.example.com/mcp")
    lonely["workflow_config"]["mcp_servers"] = []
    created = await team.client.post("/v1/workflows", json=lonely)
    warned = [w for w in created.json()["warnings"] if w["code"] == "mcp_server"]
    assert [(w["node_logical_id"], w["field"]) for w in warned] == [
        ("node_chat", "use_mcp_tools")
    ]


@pytest.mark.parametrize(
    ("server", "named"),
    [
        ({"name": "no url"}, "server_url"),
        (
            {"server_url": "https://mcp.example.com", "api_headers": {"A": 1}},
            "api_headers",
        ),
        ({"server_url": ["https://mcp.example.com"]}, "server_url"),
    ],
)
async def test_a_malformed_server_is_refused_and_nothing_is_created(
    team: Team, server: dict[str, Any], named: str
):
    body = mcp_workflow("https://mcp.example.com/mcp")
    body["workflow_config"]["mcp_servers"] = [server]
    response = await team.client.post("/v1/workflows", json=body)
    assert response.status_code == 422, response.text
    assert named in response.text
    listed = await team.client.get("/v1/workflows")
    assert listed.json()["total"] == 0
