"""Automatic evaluation runs after a run completes, and evaluation-result."""

import asyncio
from typing import Any

from tests.api.conftest import Team
from tests.factories import edge, static_node
from threadline.service.runtime import Runtime

START = {"command": "start", "thread_to_node_inputs": {"0": {"node_run_inputs": []}}}


async def create(team: Team, body: dict[str, Any]) -> str:
    response = await team.client.post("/v1/workflows", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["workflow"]["_id"])


async def evaluator(team: Team) -> str:
    return await create(
        team,
        {
            "name": "Evaluator",
            "workflow_config": {},
            "node_configs": [
                {
                    "type": "workflow_run_fetch",
                    "logical_id": "node_fetch",
                    "name": "Fetch",
                    "is_start": True,
                    "workflow_run_id": "{{workflow_run_id}}",
                },
                {"type": "no_op", "logical_id": "node_done", "name": "Done"},
            ],
            "edge_configs": [edge("edge_1", "node_fetch", "node_done")],
        },
    )


async def source(team: Team, evaluator_id: str) -> str:
    return await create(
        team,
        {
            "name": "Source",
            "workflow_config": {
                "evaluation_config": {"evaluator_workflow_id": evaluator_id}
            },
            "node_configs": [static_node("node_hi", "Hello!", is_start=True)],
            "edge_configs": [],
        },
    )


async def test_a_completed_run_is_evaluated_and_the_result_is_served(
    team: Team, runtime: Runtime
):
    source_id = await source(team, await evaluator(team))
    turn = (
        await team.client.post(
            f"/v1/workflows/{source_id}/execute", json={"run_input": START}
        )
    ).json()
    assert turn["status"] == "completed"
    await asyncio.gather(*list(runtime.background))
    run = (await team.client.get(f"/v1/workflow-runs/{turn['run_id']}")).json()[
        "workflow_run"
    ]["workflow_run"]
    evaluation_id = run["evaluation_run_info"]["evaluation_workflow_run_id"]
    assert evaluation_id
    evaluation = (await team.client.get(f"/v1/workflow-runs/{evaluation_id}")).json()[
        "workflow_run"
    ]["workflow_run"]
    assert evaluation["is_evaluation_run"] is True
    assert evaluation["source_workflow_run_id"] == turn["run_id"]
    result = (
        await team.client.get(f"/v1/workflow-runs/{turn['run_id']}/evaluation-result")
    ).json()
    assert result["evaluation_workflow_run_id"] == evaluation_id
    assert result["status"] == "completed"
    fetched = result["evaluation_result"]["workflow_run_object"]
    assert fetched["workflow_run_id"] == turn["run_id"]


async def test_runs_without_an_evaluation_config_are_not_evaluated(
    team: Team, runtime: Runtime
):
    wid = await create(
        team,
        {
            "name": "Plain",
            "workflow_config": {},
            "node_configs": [static_node("node_hi", "Hi", is_start=True)],
            "edge_configs": [],
        },
    )
    turn = (
        await team.client.post(
            f"/v1/workflows/{wid}/execute", json={"run_input": START}
        )
    ).json()
    assert not runtime.background
    missing = await team.client.get(
        f"/v1/workflow-runs/{turn['run_id']}/evaluation-result"
    )
    assert missing.status_code == 404


async def test_an_unknown_evaluator_is_recorded_without_failing_the_source(
    team: Team, runtime: Runtime
):
    source_id = await source(team, "5eb7cf5a86d9755df3a6c593")
    turn = (
        await team.client.post(
            f"/v1/workflows/{source_id}/execute", json={"run_input": START}
        )
    ).json()
    await asyncio.gather(*list(runtime.background))
    run = (await team.client.get(f"/v1/workflow-runs/{turn['run_id']}")).json()[
        "workflow_run"
    ]["workflow_run"]
    assert run["status"] == "completed"
    assert "5eb7cf5a86d9755df3a6c593" in run["evaluation_run_info"]["error"]


async def test_turn_by_turn_evaluation_fills_each_turns_evaluation(
    team: Team, runtime: Runtime
):
    evaluator_id = await evaluator(team)
    wid = await create(
        team,
        {
            "name": "Turns",
            "workflow_config": {
                "evaluation_config": {
                    "evaluator_workflow_id": evaluator_id,
                    "enable_turn_by_turn_evaluation": True,
                }
            },
            "node_configs": [
                static_node("node_hi", "Hello!", is_start=True),
                {
                    "type": "say_static",
                    "logical_id": "node_wait",
                    "name": "Wait",
                    "wait_for_user_message": True,
                    "static_messages_config": {"static_messages": ["Noted."]},
                },
            ],
            "edge_configs": [edge("edge_1", "node_hi", "node_wait")],
        },
    )
    turn = (
        await team.client.post(
            f"/v1/workflows/{wid}/execute", json={"run_input": START}
        )
    ).json()
    await asyncio.gather(*list(runtime.background))
    run = (await team.client.get(f"/v1/workflow-runs/{turn['run_id']}")).json()[
        "workflow_run"
    ]["workflow_run"]
    [pair] = run["input_output_pairs"]
    evaluation = pair["evaluation"]
    assert evaluation["status"] == "completed"
    assert (
        evaluation["evaluation_result"]["workflow_run_object"]["workflow_run_id"]
        == turn["run_id"]
    )
