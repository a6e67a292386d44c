"""Tool ceilings: the operator sets time, memory and concurrency; a tenant asks within.

A ``timeout_seconds`` above ``THREADLINE_TOOL_MAX_SECONDS`` is a 422 ``over_limit``
wherever a tool config is saved (tools, nodes, workflows, versions, imports, inline
test execution); a tool stored before the ceiling was lowered is clamped when it
runs. Tool calls in flight are capped per process and per team; a call that finds
no slot in time fails with ``capacity`` (and a ``workflow_warning`` in a run).
"""

import asyncio
import copy
import os
import textwrap
from typing import Any

import pytest

from tests.api.conftest import Team
from tests.factories import hydrated_workflow
from tests.nodes.helpers import make_ports, make_task
from tests.security.probes import children_of
from threadline.engine.steps import Scope
from threadline.nodes.tool import execute_tool_node
from threadline.service.runtime import Runtime
from threadline.tools.limits import ToolCeilings, ToolSlots
from threadline.tools.runner import ToolRunner

HUGE = 1_000_000_000  # the audit's 1e9 seconds
GUARD_S = 60  # against hangs, not a speed goal


def sleeper(seconds: float, timeout_seconds: int | None = None) -> dict[str, Any]:
    tool: dict[str, Any] = {
        "type": "inline_python",
        "name": "nap",
        "code": f"import time\n\ndef nap():\n    time.sleep({seconds})\n    return 'up'",
        "side_effect": "none",
    }
    if timeout_seconds is not None:
        tool["timeout_seconds"] = timeout_seconds
    return tool


def assert_over_limit(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "over_limit"
    assert field in body["message"]
    assert "THREADLINE_TOOL_MAX_SECONDS" in body["message"]


# --- save time ------------------------------------------------------------------------


async def test_a_tool_asking_more_time_than_the_ceiling_is_refused(team: Team):
    refused = await team.client.post("/v1/tools", json=sleeper(0, HUGE))
    assert_over_limit(refused, "timeout_seconds")
    saved = await team.client.post("/v1/tools", json=sleeper(0, 60))
    assert saved.status_code == 200, saved.text
    tool_id = saved.json()["tool"]["_id"]
    patched = await team.client.patch(
        f"/v1/tools/{tool_id}", json={"timeout_seconds": 61}
    )
    assert_over_limit(patched, "timeout_seconds")
    kept = await team.client.get(f"/v1/tools/{tool_id}")
    assert kept.json()["tool"]["tool_config"]["timeout_seconds"] == 60


@pytest.mark.parametrize("asked", [0, -5])
async def test_a_timeout_below_one_second_is_refused(team: Team, asked: int):
    response = await team.client.post("/v1/tools", json=sleeper(0, asked))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "over_limit"
    assert "timeout_seconds: must be at least 1" in response.json()["message"]


async def test_nodes_carrying_a_tool_over_the_ceiling_are_refused(team: Team):
    tool_node = {
        "type": "tool_node",
        "name": "Nap",
        "logical_id": "node_nap",
        "tool_config": sleeper(0, HUGE),
    }
    response = await team.client.post("/v1/nodes", json=tool_node)
    assert_over_limit(response, "tool_config.timeout_seconds")
    llm_node = {
        "type": "say_llm",
        "name": "Talk",
        "logical_id": "node_talk",
        "tools_config": {"tools": [sleeper(0, 10), sleeper(0, HUGE)]},
    }
    response = await team.client.post("/v1/nodes", json=llm_node)
    assert_over_limit(response, "tools_config.tools.1.timeout_seconds")


def _workflow_with(tool: dict[str, Any]) -> dict[str, Any]:
    workflow = hydrated_workflow()
    workflow["node_configs"][1]["tools_config"] = {"tools": [tool]}
    return workflow


async def test_workflows_versions_and_imports_over_the_ceiling_are_refused(
    team: Team,
):
    response = await team.client.post(
        "/v1/workflows", json=_workflow_with(sleeper(0, HUGE))
    )
    assert_over_limit(response, "node_configs.1.tools_config.tools.0.timeout_seconds")
    as_text: dict[str, Any] = {**sleeper(0), "timeout_seconds": str(HUGE)}
    response = await team.client.post("/v1/workflows", json=_workflow_with(as_text))
    assert_over_limit(response, "node_configs.1.tools_config.tools.0.timeout_seconds")
    created = await team.client.post(
        "/v1/workflows", json=_workflow_with(sleeper(0, 5))
    )
    assert created.status_code == 200, created.text
    workflow_id = created.json()["workflow"]["_id"]
    config = _workflow_with(sleeper(0, HUGE))
    response = await team.client.patch(
        f"/v1/workflows/{workflow_id}/versions/0/config", json={"config": config}
    )
    assert_over_limit(response, "config.node_configs.1.tools_config")
    bundle = (await team.client.get(f"/v1/workflows/{workflow_id}/export")).json()
    bundle = copy.deepcopy(bundle.get("bundle", bundle))
    bundle["versions"][0]["config"]["node_configs"][1]["tools_config"]["tools"][0][
        "timeout_seconds"
    ] = HUGE
    response = await team.client.post(
        "/v1/workflows/import/bundle", json={"bundle": bundle}
    )
    assert_over_limit(response, "bundle.versions.0.config.node_configs.1")


async def test_inline_test_execution_over_the_ceiling_is_refused(team: Team):
    response = await team.client.post(
        "/v1/tools/execute", json={"tool_config": sleeper(0, HUGE), "confirm": True}
    )
    assert_over_limit(response, "tool_config.timeout_seconds")


async def test_the_ceiling_is_the_operators(team: Team, runtime: Runtime):
    runtime.tool_ceilings = ToolCeilings(max_seconds=600)
    assert (
        await team.client.post("/v1/tools", json=sleeper(0, 600))
    ).status_code == 200
    assert_over_limit(
        await team.client.post("/v1/tools", json=sleeper(0, 601)), "timeout_seconds"
    )


# --- run time -------------------------------------------------------------------------

SCOPE = Scope(dynamic={}, runtime={}, threads={})


async def test_a_stored_tool_over_a_lowered_ceiling_is_clamped_and_says_so():
    runner = ToolRunner(ceilings=ToolCeilings(max_seconds=1))
    out = await asyncio.wait_for(runner.run(sleeper(30, HUGE), {}, SCOPE), GUARD_S)
    assert out.error_type == "timeout"
    assert "the server allows at most 1 s" in (out.error or "")
    assert "THREADLINE_TOOL_MAX_SECONDS" in (out.error or "")


async def test_a_tool_that_asks_no_time_is_bounded_by_the_ceiling():
    async def never() -> None:
        await asyncio.Event().wait()

    class Stuck:
        async def search(self, *args: Any, **kwargs: Any) -> Any:
            await never()

    runner = ToolRunner(retriever=Stuck(), ceilings=ToolCeilings(max_seconds=1))
    tool = {"type": "knowledge_base", "target_knowledge_base_ids": ["kb"]}
    out = await asyncio.wait_for(runner.run(tool, {"query": "q"}, SCOPE), GUARD_S)
    assert out.error_type == "timeout"


async def test_the_memory_of_a_tool_is_the_operators():
    code = textwrap.dedent(
        """
        def grow():
            return len(bytearray(150 * 1024 * 1024))
        """
    )
    tool = {"type": "inline_python", "name": "grow", "code": code}
    small = await ToolRunner(ceilings=ToolCeilings(memory_mb=100)).run(tool, {}, SCOPE)
    assert small.error_type == "memory_limit"
    roomy = await ToolRunner(ceilings=ToolCeilings(memory_mb=400)).run(tool, {}, SCOPE)
    assert roomy.success, roomy.error
    assert roomy.result == 150 * 1024 * 1024


# --- concurrency ----------------------------------------------------------------------


async def _most_children_while(calls: "asyncio.Future[Any]") -> int:
    most = 0
    while not calls.done():
        most = max(most, len(children_of(os.getpid())))
        await asyncio.sleep(0.02)
    return most


async def test_a_team_runs_at_most_its_share_of_tools_at_once(
    team: Team, runtime: Runtime
):
    ceilings = ToolCeilings(
        max_concurrent=10, max_concurrent_per_team=2, queue_seconds=60
    )
    runtime.tool_ceilings, runtime.tool_slots = ceilings, ToolSlots(ceilings)
    body = {"tool_config": sleeper(0.7), "confirm": True}
    calls = asyncio.gather(
        *(team.client.post("/v1/tools/execute", json=body) for _ in range(5))
    )
    most = await _most_children_while(calls)
    responses = await asyncio.wait_for(calls, GUARD_S)
    assert [r.json()["result"] for r in responses] == ["up"] * 5
    assert most <= 2


async def _first_child() -> None:
    while not children_of(os.getpid()):
        await asyncio.sleep(0.01)


async def test_a_call_finding_no_team_slot_in_time_fails_clearly(
    team: Team, runtime: Runtime
):
    ceilings = ToolCeilings(max_concurrent_per_team=1, queue_seconds=0.2)
    runtime.tool_ceilings, runtime.tool_slots = ceilings, ToolSlots(ceilings)
    body = {"tool_config": sleeper(3), "confirm": True}
    first = asyncio.create_task(team.client.post("/v1/tools/execute", json=body))
    await asyncio.wait_for(_first_child(), GUARD_S)
    second = (await team.client.post("/v1/tools/execute", json=body)).json()
    assert second["success"] is False
    assert second["error_type"] == "capacity"
    assert "after waiting 0.2 s" in second["error"]
    assert "THREADLINE_TOOL_MAX_CONCURRENT_PER_TEAM" in second["error"]
    assert (await first).json()["result"] == "up"


async def test_the_process_cap_holds_across_teams(
    team: Team, other_team: Team, runtime: Runtime
):
    ceilings = ToolCeilings(
        max_concurrent=1, max_concurrent_per_team=5, queue_seconds=0.2
    )
    runtime.tool_ceilings, runtime.tool_slots = ceilings, ToolSlots(ceilings)
    body = {"tool_config": sleeper(3), "confirm": True}
    first = asyncio.create_task(team.client.post("/v1/tools/execute", json=body))
    await asyncio.wait_for(_first_child(), GUARD_S)
    second = (await other_team.client.post("/v1/tools/execute", json=body)).json()
    assert second["error_type"] == "capacity"
    assert "THREADLINE_TOOL_MAX_CONCURRENT)" in second["error"]
    assert (await first).json()["result"] == "up"


async def test_a_freed_slot_lets_the_next_call_in_and_a_cancelled_wait_gives_none_back():
    slots = ToolSlots(ToolCeilings(max_concurrent_per_team=1, queue_seconds=30))
    release = asyncio.Event()
    order: list[str] = []

    async def call(name: str) -> None:
        async with slots.hold("team"):
            order.append(name)
            await release.wait()

    first = asyncio.create_task(call("first"))
    await asyncio.sleep(0)
    waiting = asyncio.create_task(call("cancelled"))
    second = asyncio.create_task(call("second"))
    await asyncio.sleep(0.05)
    assert order == ["first"]
    waiting.cancel()
    release.set()
    await asyncio.gather(first, second, return_exceptions=False)
    assert order == ["first", "second"]
    assert (slots.total, slots.per_team) == (0, {})


async def test_a_tool_node_that_finds_no_slot_emits_a_warning():
    slots = ToolSlots(ToolCeilings(max_concurrent_per_team=1, queue_seconds=0))
    node = {"type": "tool_node", "tool_config": sleeper(0, 5)}
    ports = make_ports(team_id="t1", tool_slots=slots)
    async with slots.hold("t1"):
        result = await execute_tool_node(make_task(node), ports)
    assert result.variables["tool_result_success"] is False
    warnings = [e for e in result.events if e["type"] == "workflow_warning"]
    assert len(warnings) == 1
    assert "THREADLINE_TOOL_MAX_CONCURRENT_PER_TEAM" in warnings[0]["warning_message"]
