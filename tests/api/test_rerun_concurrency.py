"""Re-runs take a concurrency slot: they count against workflow and team limits."""

from tests.api.conftest import Team
from tests.api.test_reruns import _three_turn_run
from threadline.providers.fake import ScriptedLLM


async def _active(team: Team, wid: str) -> int:
    runs = await team.client.get(
        "/v1/workflow-runs",
        params={"workflow_id": wid, "status": "waiting_for_user_input"},
    )
    return int(runs.json()["total"])


async def test_a_rerun_over_the_workflow_limit_is_refused(
    team: Team, llm: ScriptedLLM
) -> None:
    wid, run_id = await _three_turn_run(team, llm)
    await team.client.patch(
        f"/v1/workflows/{wid}/concurrency", json={"max_concurrent_runs": 2}
    )
    path = f"/v1/workflow-runs/{run_id}/turns/1/rerun"
    first = await team.client.post(path, params={"async": "false"})
    assert first.status_code == 200, first.text
    assert await _active(team, wid) == 2  # the source and the re-run
    refused = await team.client.post(path, params={"async": "false"})
    assert refused.status_code == 429
    assert refused.json()["code"] == "concurrency_limit"
    assert "max_concurrent_runs=2" in refused.json()["message"]
    assert await _active(team, wid) == 2
    token = await team.client.post(f"/v1/workflow-runs/{run_id}/turns/1/rerun-token")
    assert token.status_code == 200, token.text


async def test_a_rerun_over_the_team_limit_is_refused(
    team: Team, llm: ScriptedLLM
) -> None:
    wid, run_id = await _three_turn_run(team, llm)
    limit = await team.client.patch(
        "/v1/teams/current/concurrency", json={"max_concurrent_runs": 1}
    )
    assert limit.status_code == 200, limit.text
    refused = await team.client.post(
        f"/v1/workflow-runs/{run_id}/turns/1/rerun", params={"async": "false"}
    )
    assert refused.status_code == 429 and refused.json()["code"] == "concurrency_limit"
    assert await _active(team, wid) == 1
