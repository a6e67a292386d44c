"""Simulation groups over HTTP: bad input is a clear 4xx and changes nothing."""

from typing import Any

import pytest

from tests.api.conftest import Team
from tests.api.test_simulation_configs import MISSING, config, create, workflow


async def groups_of(team: Team, sim_id: str) -> int:
    listed = await team.client.get(f"/v1/simulations/{sim_id}/runs")
    assert listed.status_code == 200
    return int(listed.json()["total"])


async def simulation(team: Team, **extra: Any) -> str:
    selected = await workflow(team)
    return str((await create(team, config(selected, selected, **extra)))["id"])


async def test_run_answers_a_pending_group_listed_under_its_simulation(team: Team):
    sim_id = await simulation(team)
    response = await team.client.post(
        f"/v1/simulations/{sim_id}/run", json={"runner_name": "ci"}
    )
    assert response.status_code == 200, response.text
    group = response.json()["simulation_group"]
    assert group["simulation_config_id"] == sim_id
    assert (group["status"], group["total_runs"], group["completed_runs"]) == (
        "pending",
        3,
        0,
    )
    got = (await team.client.get(f"/v1/simulation-runs/{group['id']}")).json()
    assert got["simulation_group"]["runner_name"] == "ci"
    listed = (await team.client.get(f"/v1/simulations/{sim_id}/runs")).json()
    assert [g["id"] for g in listed["simulation_groups"]] == [group["id"]]
    plain = (
        await team.client.get(f"/v1/simulation-runs/{group['id']}/executions")
    ).json()
    assert [r["status"] for r in plain["individual_runs"]] == ["pending"] * 3
    sim = (await team.client.get(f"/v1/simulations/{sim_id}")).json()
    assert sim["simulation"]["status"] == "running"


async def test_stopping_a_group_before_it_starts_cancels_everything(team: Team):
    sim_id = await simulation(team)
    group = (await team.client.post(f"/v1/simulations/{sim_id}/run")).json()
    gid = group["simulation_group"]["id"]
    stopped = await team.client.post(f"/v1/simulation-runs/{gid}/stop")
    assert stopped.status_code == 200
    body = stopped.json()["simulation_group"]
    assert (body["status"], body["cancelled_runs"]) == ("cancelled", 3)
    again = await team.client.post(f"/v1/simulation-runs/{gid}/stop")
    assert again.status_code == 409
    assert again.json()["code"] == "simulation_finished"
    deleted = await team.client.delete(f"/v1/simulations/{sim_id}")
    assert deleted.status_code == 200
    assert (await team.client.get(f"/v1/simulation-runs/{gid}")).status_code == 404


async def test_a_running_simulation_cannot_be_deleted(team: Team):
    sim_id = await simulation(team)
    await team.client.post(f"/v1/simulations/{sim_id}/run")
    response = await team.client.delete(f"/v1/simulations/{sim_id}")
    assert response.status_code == 409
    assert response.json()["code"] == "simulation_running"
    assert (await team.client.get(f"/v1/simulations/{sim_id}")).status_code == 200


@pytest.mark.parametrize("body", [{"runner_name": 7}, {"runner_name": "x" * 201}, [1]])
async def test_a_bad_runner_name_starts_nothing(team: Team, body: Any):
    sim_id = await simulation(team)
    response = await team.client.post(f"/v1/simulations/{sim_id}/run", json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert await groups_of(team, sim_id) == 0


async def test_a_deleted_workflow_stops_a_run_before_it_starts(team: Team):
    selected, counter = await workflow(team), await workflow(team, "Customer")
    sim = await create(team, config(selected, counter))
    assert (await team.client.delete(f"/v1/workflows/{counter}")).status_code < 300
    response = await team.client.post(f"/v1/simulations/{sim['id']}/run")
    assert response.status_code == 409
    assert response.json()["code"] == "workflow_not_found"
    assert "counter_workflow" in response.json()["message"]
    assert await groups_of(team, sim["id"]) == 0


@pytest.mark.parametrize(
    "request_",
    [
        ("post", f"/v1/simulations/{MISSING}/run"),
        ("get", f"/v1/simulations/{MISSING}/runs"),
        ("get", f"/v1/simulations/{MISSING}/evaluation-summary"),
        ("get", f"/v1/simulation-runs/{MISSING}"),
        ("post", f"/v1/simulation-runs/{MISSING}/stop"),
        ("get", f"/v1/simulation-runs/{MISSING}/executions"),
        ("get", f"/v1/simulation-runs/{MISSING}/executions/detailed"),
    ],
)
async def test_unknown_ids_are_404(team: Team, request_: tuple[str, str]):
    method, url = request_
    response = await getattr(team.client, method)(url)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert MISSING in response.json()["message"]


async def test_another_teams_group_behaves_like_a_missing_one(
    team: Team, other_team: Team
):
    sim_id = await simulation(team)
    gid = (await team.client.post(f"/v1/simulations/{sim_id}/run")).json()[
        "simulation_group"
    ]["id"]
    for method, url in [
        ("post", f"/v1/simulations/{sim_id}/run"),
        ("get", f"/v1/simulation-runs/{gid}"),
        ("post", f"/v1/simulation-runs/{gid}/stop"),
        ("get", f"/v1/simulation-runs/{gid}/executions/detailed"),
    ]:
        response = await getattr(other_team.client, method)(url)
        assert response.status_code == 404, url
    group = (await team.client.get(f"/v1/simulation-runs/{gid}")).json()
    assert group["simulation_group"]["status"] == "pending"
    assert await groups_of(team, sim_id) == 1


async def test_a_summary_of_another_simulations_group_is_404(team: Team):
    first, second = await simulation(team), await simulation(team)
    gid = (await team.client.post(f"/v1/simulations/{first}/run")).json()[
        "simulation_group"
    ]["id"]
    mixed = await team.client.get(
        f"/v1/simulations/{second}/evaluation-summary", params={"group_id": gid}
    )
    assert mixed.status_code == 404
    bad = await team.client.get(
        f"/v1/simulations/{first}/evaluation-summary", params={"group_id": "nope"}
    )
    assert bad.status_code == 422
    none = await team.client.get(f"/v1/simulations/{second}/evaluation-summary")
    assert none.status_code == 200
    assert none.json()["group_id"] is None


async def test_paging_sizes_are_bounded(team: Team):
    sim_id = await simulation(team)
    for size in (0, 101):
        response = await team.client.get(
            f"/v1/simulations/{sim_id}/runs", params={"size": size}
        )
        assert response.status_code == 422
