"""Traces: the spans of a turn and their links, queued and resumed turns."""

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind

from tests.api.conftest import Team
from tests.api.test_durability import Gate, queued
from tests.api.test_execute import START, execute, new_workflow, says
from tests.factories import edge, say_node
from tests.fakes.mcp_server import mcp_server
from tests.telemetry.conftest import by_name, one, parent_id, span_id, trace_id
from threadline.providers.fake import ScriptedLLM
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.running import recovery, runs
from threadline.service.runtime import Runtime
from threadline.service.turns import TurnRequest
from threadline.store import Store
from threadline.telemetry import tracing
from threadline.tools.http_call import HttpPolicy
from threadline.tools.mcp import McpLimits, McpServer, call_tool, list_tools

ADD = {"type": "inbuilt_function", "tool_id": "math_add", "name": "add"}


def _http_node(logical_id: str, *, is_start: bool = False) -> dict[str, Any]:
    return {
        "type": "http_request",
        "logical_id": logical_id,
        "name": logical_id,
        "is_start": is_start,
        "method": "GET",
        "url": "http://vendor.example.test/v1/slots",
    }


def _mixed_workflow() -> dict[str, Any]:
    return {
        "name": "Traced",
        "node_configs": [
            _http_node("node_fetch", is_start=True),
            {
                "type": "tool_node",
                "logical_id": "node_add",
                "name": "node_add",
                "tool_config": ADD,
                "tool_arguments": {"a": 1, "b": 2},
            },
            {**say_node("node_answer"), "wait_for_user_message": False},
        ],
        "edge_configs": [
            edge("e1", "node_fetch", "node_add"),
            edge("e2", "node_add", "node_answer"),
        ],
    }


async def test_a_turn_spans_its_nodes_llm_call_tool_call_and_http_call(
    spans: InMemorySpanExporter, team: Team, runtime: Runtime, llm: ScriptedLLM
):
    seen: list[httpx.Request] = []

    def vendor(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"slots": 3})

    runtime.http_transport = httpx.MockTransport(vendor)
    runtime.http_allow_private = True
    llm.extend("Three slots are free.")
    wid = await new_workflow(team, _mixed_workflow())
    spans.clear()
    turn = await execute(team, wid, {"run_input": START})
    await runtime.drain()
    assert turn["status"] == "waiting_for_user_input"

    finished = spans.get_finished_spans()
    request = one(finished, "POST /v1/workflows/{workflow_id}/execute")
    assert request.attributes is not None
    assert request.attributes["http.response.status_code"] == 200
    turn_span = one(finished, "turn")
    assert parent_id(turn_span) == span_id(request)
    assert trace_id(turn_span) == trace_id(request)
    assert turn_span.attributes is not None
    assert turn_span.attributes["threadline.run_id"] == turn["run_id"]
    assert turn_span.attributes["threadline.turn.outcome"] == "waiting"

    fetch = one(finished, "node http_request node_fetch")
    add = one(finished, "node tool_node node_add")
    answer = one(finished, "node say_llm node_answer")
    for node in (fetch, add, answer):
        assert parent_id(node) == span_id(turn_span)
    assert answer.attributes is not None
    assert answer.attributes["threadline.node.id"] == "node_answer"

    http = one(finished, "HTTP GET")
    assert parent_id(http) == span_id(fetch)
    assert http.attributes is not None
    assert http.attributes["http.response.status_code"] == 200
    # The vendor got the HTTP span's W3C trace context.
    carried = seen[0].headers["traceparent"]
    assert carried.startswith(f"00-{trace_id(http):032x}-{span_id(http):016x}-")

    tool = one(finished, "tool add")
    assert parent_id(tool) == span_id(add)
    assert tool.attributes is not None
    assert tool.attributes["threadline.tool.type"] == "inbuilt_function"

    chat = one(finished, "chat")
    assert parent_id(chat) == span_id(answer)
    attrs = chat.attributes
    assert attrs is not None
    assert attrs["gen_ai.system"] == "fake"
    assert attrs["gen_ai.response.model"] == "fake-model"
    assert attrs["gen_ai.usage.output_tokens"] == 4  # "Three slots are free."
    assert attrs["gen_ai.usage.input_tokens"] == llm_input_words(llm)
    assert attrs["gen_ai.response.finish_reasons"] == "stop"
    assert "Three slots are free." in str(attrs["gen_ai.completion"])

    stores = by_name(finished, "store.transaction")
    assert stores and all(trace_id(s) == trace_id(request) for s in stores)
    assert any(parent_id(s) == span_id(turn_span) for s in stores)


def llm_input_words(llm: ScriptedLLM) -> int:
    return sum(len(m.content.split()) for m in llm.requests[-1].messages)


async def test_a_queued_command_runs_in_the_trace_of_the_request_that_sent_it(
    spans: InMemorySpanExporter,
    team: Team,
    runtime: Runtime,
    llm: ScriptedLLM,
    store: Store,
):
    release = asyncio.Event()
    entered = asyncio.Event()

    async def vendor(request: httpx.Request) -> httpx.Response:
        entered.set()
        await release.wait()
        return httpx.Response(200, json={})

    runtime.http_transport = httpx.MockTransport(vendor)
    runtime.http_allow_private = True
    body = {
        "name": "Slow first turn",
        "node_configs": [
            _http_node("node_fetch", is_start=True),
            say_node("node_chat"),
        ],
        "edge_configs": [edge("e1", "node_fetch", "node_chat")],
    }
    wid = await new_workflow(team, body)
    llm.extend("Hello there.")
    spans.clear()
    first = asyncio.create_task(execute(team, wid, {"run_input": START}))
    await entered.wait()
    listed = await team.client.get("/v1/workflow-runs", params={"workflow_id": wid})
    run_id = listed.json()["workflow_runs"][0]["_id"]
    second = asyncio.create_task(
        execute(team, wid, {"run_id": run_id, "run_input": says("hi", "data")})
    )
    await queued(store, run_id)
    release.set()
    assert (await first)["turn_number"] == 1
    assert (await second)["turn_number"] == 2
    await runtime.drain()

    finished = spans.get_finished_spans()
    requests = by_name(finished, "POST /v1/workflows/{workflow_id}/execute")
    turns = by_name(finished, "turn")
    assert len(requests) == 2 and len(turns) == 2
    assert trace_id(requests[0]) != trace_id(requests[1])
    for turn_span in turns:
        origin = next(r for r in requests if trace_id(r) == trace_id(turn_span))
        assert parent_id(turn_span) == span_id(origin)
    # The queued turn ran in the first turn's driver, yet in its own request's trace.
    chat = one(finished, "chat")
    queued_turn = next(t for t in turns if trace_id(t) == trace_id(chat))
    assert queued_turn.start_time is not None
    assert all(
        queued_turn.start_time >= (t.end_time or 0)
        for t in turns
        if t is not queued_turn
    )


async def test_a_turn_resumed_after_a_crash_stays_in_its_original_trace(
    spans: InMemorySpanExporter,
    team: Team,
    runtime: Runtime,
    llm: ScriptedLLM,
    store: Store,
):
    from tests.api.test_durability import two_step_workflow

    wid = await new_workflow(team, two_step_workflow())
    run_id = (await execute(team, wid, {"run_input": START}))["run_id"]
    llm.extend("One.", "never served")
    gate = Gate(llm, hold={2})
    runtime.llm = gate
    caller = Caller(team.team_id, team.user_id)
    request = TurnRequest(
        workflow_id=wid,
        run_id=run_id,
        raw_input=says("hello"),
        field="run_input",
        idempotency_key="turn-crash",
    )
    spans.clear()
    with tracing.span("client request") as origin:
        sent = asyncio.create_task(runs.run_one_turn(store, caller, runtime, request))
        await gate.entered.wait()
    # The process dies mid-turn: its driver and its request vanish.
    runtime.drivers[run_id].cancel()
    sent.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sent
    original = origin.span.get_span_context()

    survivor = Runtime(llm=ScriptedLLM(["Two."]), worker_dead_seconds=30)
    later = wf.now() + timedelta(seconds=60)
    resumed = await recovery.recover(store, survivor, now=later, teams={team.team_id})
    assert len(resumed) == 1
    await survivor.drain()

    finished = spans.get_finished_spans()
    turns = by_name(finished, "turn")
    assert len(turns) == 2  # the dead one and the resumed one
    for turn_span in turns:
        assert trace_id(turn_span) == original.trace_id
        assert parent_id(turn_span) == original.span_id
    resumed_turn = next(
        t for t in turns if (t.attributes or {}).get("threadline.resumed") is True
    )
    assert (resumed_turn.attributes or {})["threadline.turn.outcome"] == "waiting"
    chats = [c for c in by_name(finished, "chat") if parent_id(c) is not None]
    assert any(trace_id(c) == original.trace_id for c in chats)


async def test_mcp_calls_are_client_spans_whose_traceparent_the_server_receives(
    spans: InMemorySpanExporter,
) -> None:
    policy = HttpPolicy(allow_private=True)
    async with mcp_server() as served:
        server = McpServer(
            "clinic", served.url, headers={"authorization": "Bearer s3cret-token"}
        )
        with tracing.span("turn"):
            await list_tools(server, policy, McpLimits())
            ok, _ = await call_tool(
                server, "opening_hours", {"city": "Oslo"}, policy, McpLimits()
            )
    assert ok
    finished = spans.get_finished_spans()
    turn = one(finished, "turn")
    listed = one(finished, "mcp tools/list clinic")
    called = one(finished, "mcp tools/call opening_hours")
    for span in (listed, called):
        assert parent_id(span) == span_id(turn)
        assert trace_id(span) == trace_id(turn)
        assert span.kind is SpanKind.CLIENT
        assert dict(span.attributes or {})["threadline.mcp.server"] == "clinic"
    assert dict(called.attributes or {})["gen_ai.tool.name"] == "opening_hours"
    assert "s3cret-token" not in repr([dict(s.attributes or {}) for s in finished])
    # Every request of the call carried the call span's trace context.
    sent = {h["traceparent"][:52] for h in served.headers if "traceparent" in h}
    assert f"00-{trace_id(called):032x}-{span_id(called):016x}" in sent
