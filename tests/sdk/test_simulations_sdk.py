"""The SDK's own ``simulations`` client against the app: all 13 methods, and a
simulation of 5 conversations between two workflows on the scripted model that
completes with 5 linked pairs of runs and a summary whose counts match."""

import asyncio
from typing import Any

import httpx
import pytest

from tests.api.conftest import (  # noqa: F401  (fixtures)
    Team,
    app_client,
    llm,
    runtime,
    settings,
    team,
)
from tests.api.test_simulations import create_workflow, echo, talker
from threadline.providers.fake import ScriptedLLM
from threadline.service.running.runs import run_one_turn
from threadline.service.runtime import Runtime
from threadline.service.simulations.driver import Driver
from threadline.store import Store

interactly = pytest.importorskip("interactly")


@pytest.fixture
def sdk(team: Team, app_client: httpx.AsyncClient) -> Any:  # noqa: F811
    """The SDK's async client, speaking to the app in process with the team's key."""
    return interactly.AsyncWorkflowClient(
        api_key=team.key,
        team_id=team.team_id,
        user_id=team.user_id,
        base_url="http://testserver",
        http_client=app_client,
    )


async def test_the_sdk_runs_a_simulation_of_five_conversations(
    sdk: Any,
    team: Team,  # noqa: F811
    store: Store,
    runtime: Runtime,  # noqa: F811
    llm: ScriptedLLM,  # noqa: F811
):
    echo(llm)
    selected = await create_workflow(team, talker("Assistant", greets=True))
    counter = await create_workflow(team, talker("Customer"))
    schema = await sdk.simulations.schema()
    assert "number_of_simulations" in schema["config_schema"]["properties"]
    sim = await sdk.simulations.create(
        config={
            "name": "Assistant vs customer",
            "selected_workflow": {"workflow_id": selected},
            "counter_workflow": {"workflow_id": counter},
            "number_of_simulations": 5,
            "max_concurrent_runs": 2,
            "max_turns": 2,
        }
    )
    assert sim.name == "Assistant vs customer"
    assert (await sdk.simulations.get(sim.id)).id == sim.id
    page = await sdk.simulations.list(search="customer")
    assert [s.id for s in page.items] == [sim.id]
    updated = await sdk.simulations.update(sim.id, updates={"description": "nightly"})
    assert updated.description == "nightly"

    group = await sdk.simulations.run(sim.id, runner_name="sdk")
    assert group.total_runs == 5
    driver = Driver(store, runtime, run_one_turn, teams=[team.team_id])
    await driver.pass_once()
    await driver.idle()
    await asyncio.gather(*list(runtime.background))

    done = await sdk.simulations.get_run(group.id)
    assert done.status == "completed"
    assert (done.completed_runs, done.failed_runs) == (5, 0)
    groups = await sdk.simulations.list_runs(sim.id)
    assert [g.id for g in groups.items] == [group.id]
    executions = await sdk.simulations.list_executions(group.id)
    assert executions.metadata.total == 5
    pairs = {
        (e.selected_workflow_run_id, e.counter_workflow_run_id)
        for e in executions.items
    }
    assert len(pairs) == 5 and all(a and b for a, b in pairs)
    for mine, theirs in pairs:
        a, b = await sdk.runs.get(mine), await sdk.runs.get(theirs)
        assert (a.workflow_id, b.workflow_id) == (selected, counter)
        assert (a.run_by, b.run_by) == ("simulation", "simulation")
        assert a.input_output_pairs and b.input_output_pairs
    detailed = await sdk.simulations.list_detailed_executions(group.id)
    assert [d["run_index"] for d in detailed] == [0, 1, 2, 3, 4]
    assert {d["counter_workflow_name"] for d in detailed} == {"Customer"}
    summary = await sdk.simulations.evaluation_summary(sim.id, group_id=group.id)
    assert summary["completed_runs"] == 5
    assert summary["selected_workflow_summary"]["total_runs"] == 5
    assert summary["counter_workflow_summary"]["total_runs"] == 5

    again = await sdk.simulations.run(sim.id)
    stopped = await sdk.simulations.stop_run(again.id)
    assert stopped.status == "cancelled"
    deleted = await sdk.simulations.delete(sim.id)
    assert "message" in deleted
