"""Concurrency limits over HTTP: per workflow, per team, atomic under parallel starts."""

import asyncio
from typing import Any

import httpx
import pytest

from tests.api.conftest import Team
from tests.api.test_execute import START, chat_workflow
from tests.factories import static_node
from threadline.service.processes import runtime_from_settings
from threadline.service.runtime import Runtime
from threadline.settings import Settings

TEAM_PATH = "/v1/teams/current/concurrency"


def one_shot_workflow() -> dict[str, Any]:
    """A workflow whose first turn completes the run."""
    return {
        "name": "Once",
        "node_configs": [static_node("node_hi", "Hi!", is_start=True)],
        "edge_configs": [],
    }


async def new_workflow(
    team: Team, limit: int | None = None, body: dict[str, Any] | None = None
) -> str:
    response = await team.client.post("/v1/workflows", json=body or chat_workflow())
    assert response.status_code == 200, response.text
    wid = str(response.json()["workflow"]["_id"])
    if limit is not None:
        patch = await team.client.patch(
            f"/v1/workflows/{wid}/concurrency", json={"max_concurrent_runs": limit}
        )
        assert patch.status_code == 200, patch.text
    return wid


async def start(team: Team, wid: str) -> httpx.Response:
    return await team.client.post(
        f"/v1/workflows/{wid}/execute", json={"run_input": START}
    )


async def started(team: Team, wid: str) -> str:
    response = await start(team, wid)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "waiting_for_user_input"
    return str(response.json()["run_id"])


async def run_count(team: Team, wid: str) -> int:
    listing = await team.client.get("/v1/workflow-runs", params={"workflow_id": wid})
    return int(listing.json()["total"])


def assert_refused(response: httpx.Response, level: str, limit: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["Retry-After"] == "1"
    body = response.json()
    assert body["code"] == "concurrency_limit"
    assert level in body["message"] and str(limit) in body["message"]
    assert body["errors"] == {"level": level, "limit": limit, "active": limit}


async def set_team_limit(team: Team, limit: int | None) -> dict[str, Any]:
    response = await team.client.patch(TEAM_PATH, json={"max_concurrent_runs": limit})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_a_start_over_the_workflow_limit_gets_429_and_creates_no_run(
    team: Team,
):
    wid = await new_workflow(team, limit=1)
    await started(team, wid)
    assert_refused(await start(team, wid), "workflow", 1)
    assert await run_count(team, wid) == 1


async def test_stopping_a_run_frees_its_slot_at_once(team: Team):
    wid = await new_workflow(team, limit=1)
    rid = await started(team, wid)
    assert (await start(team, wid)).status_code == 429
    stop = await team.client.post(
        f"/v1/workflows/{wid}/execute",
        json={"run_id": rid, "run_input": {"command": "stop"}},
    )
    assert stop.json()["status"] == "cancelled"
    await started(team, wid)


async def test_a_finished_run_frees_its_slot(team: Team):
    wid = await new_workflow(team, limit=1, body=one_shot_workflow())
    for _ in range(3):
        response = await start(team, wid)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "completed"
    assert await run_count(team, wid) == 3


async def test_a_paused_run_holds_no_slot(team: Team):
    wid = await new_workflow(team, limit=1)
    rid = await started(team, wid)
    pause = await team.client.post(
        f"/v1/workflows/{wid}/execute",
        json={"run_id": rid, "run_input": {"command": "pause"}},
    )
    assert pause.json()["status"] == "paused"
    await started(team, wid)


async def test_the_team_limit_comes_from_the_server_default(
    team: Team, runtime: Runtime
):
    runtime.team_max_concurrent_runs = 2
    one, two = await new_workflow(team), await new_workflow(team)
    await started(team, one)
    await started(team, two)
    assert_refused(await start(team, one), "team", 2)
    shown = (await team.client.get(TEAM_PATH)).json()
    assert shown == {
        "team_id": team.team_id,
        "max_concurrent_runs": None,
        "default": 2,
        "effective_max_concurrent_runs": 2,
        "active_runs": 2,
    }


def test_the_server_default_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("THREADLINE_TEAM_MAX_CONCURRENT_RUNS", "7")
    settings = Settings()
    assert settings.team_max_concurrent_runs == 7
    assert runtime_from_settings(settings).team_max_concurrent_runs == 7
    monkeypatch.setenv("THREADLINE_TEAM_MAX_CONCURRENT_RUNS", "-1")
    with pytest.raises(ValueError, match="team_max_concurrent_runs"):
        Settings()


async def test_a_team_overrides_the_default_and_can_go_back_to_it(
    team: Team, runtime: Runtime
):
    runtime.team_max_concurrent_runs = 5
    wid = await new_workflow(team)
    assert (await set_team_limit(team, 1))["effective_max_concurrent_runs"] == 1
    await started(team, wid)
    assert_refused(await start(team, wid), "team", 1)
    unlimited = await set_team_limit(team, 0)
    assert unlimited["max_concurrent_runs"] == 0
    assert unlimited["effective_max_concurrent_runs"] is None
    assert unlimited["active_runs"] == 1
    await started(team, wid)
    back = await set_team_limit(team, None)
    assert back["max_concurrent_runs"] is None and back["default"] == 5
    assert back["effective_max_concurrent_runs"] == 5
    assert (await team.client.get(TEAM_PATH)).json()["active_runs"] == 2


async def test_the_stricter_of_the_two_limits_applies(team: Team):
    loose = await new_workflow(team, limit=3)
    await set_team_limit(team, 1)
    await started(team, loose)
    assert_refused(await start(team, loose), "team", 1)
    await set_team_limit(team, 5)
    strict = await new_workflow(team, limit=1)
    await started(team, strict)
    assert_refused(await start(team, strict), "workflow", 1)
    await started(team, loose)


async def test_another_team_is_unaffected(team: Team, other_team: Team):
    await set_team_limit(team, 1)
    mine = await new_workflow(team)
    await started(team, mine)
    assert (await start(team, mine)).status_code == 429
    theirs = await new_workflow(other_team)
    await started(other_team, theirs)
    await started(other_team, theirs)
    shown = (await other_team.client.get(TEAM_PATH)).json()
    assert shown["max_concurrent_runs"] is None and shown["active_runs"] == 2


async def test_parallel_starts_never_exceed_the_limit(team: Team):
    wid = await new_workflow(team, limit=3)
    responses = await asyncio.gather(*(start(team, wid) for _ in range(10)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 3 + [429] * 7, [r.text for r in responses]
    assert await run_count(team, wid) == 3


async def test_parallel_starts_never_exceed_the_team_limit(team: Team):
    await set_team_limit(team, 3)
    wids = [await new_workflow(team) for _ in range(2)]
    responses = await asyncio.gather(*(start(team, wids[i % 2]) for i in range(10)))
    assert sum(r.status_code == 200 for r in responses) == 3
    assert sum(r.status_code == 429 for r in responses) == 7
    assert (await team.client.get(TEAM_PATH)).json()["active_runs"] == 3


@pytest.mark.parametrize("limit", [-1, "many", 1.5])
async def test_a_bad_team_limit_is_refused_with_422(team: Team, limit: Any):
    response = await team.client.patch(TEAM_PATH, json={"max_concurrent_runs": limit})
    assert response.status_code == 422
    assert "max_concurrent_runs" in response.json()["message"]
    assert (await team.client.get(TEAM_PATH)).json()["max_concurrent_runs"] is None


async def test_a_negative_workflow_limit_is_refused_with_422(team: Team):
    wid = await new_workflow(team)
    response = await team.client.patch(
        f"/v1/workflows/{wid}/concurrency", json={"max_concurrent_runs": -1}
    )
    assert response.status_code == 422
