"""The removed checkpoint-run answers 410 naming the re-runs that replace it."""

import httpx

from tests.api.conftest import Team

WID, RID = "5eb7cf5a86d9755df3a6c593", "5eb7cf5a86d9755df3a6c594"
PATH = f"/v1/workflows/{WID}/runs/{RID}/checkpoint-run"


async def test_checkpoint_run_is_gone_and_names_the_rerun(team: Team):
    response = await team.client.post(PATH, json={"turn_index": 1})
    assert response.status_code == 410
    body = response.json()
    assert body["code"] == "endpoint_removed"
    assert "/v1/workflow-runs/{run_id}/turns/{turn_index}/rerun" in body["message"]
    assert RID not in body["message"]
    assert "reruns.execute" in body["message"]
    gateway = await team.client.post(f"/workflows{PATH}")
    assert gateway.status_code == 410


async def test_checkpoint_run_still_needs_a_key(app_client: httpx.AsyncClient):
    assert (await app_client.post(PATH)).status_code == 401


async def test_a_bad_id_is_a_422_naming_it(team: Team):
    response = await team.client.post(f"/v1/workflows/nope/runs/{RID}/checkpoint-run")
    assert response.status_code == 422 and "workflow_id" in response.text
