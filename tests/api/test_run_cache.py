"""Between two turns of a conversation, what the API did to the run is what the
next turn sees, with the run's row kept in the process (``store.run_cache``)
and without (``THREADLINE_RUN_CACHE_SIZE=0``)."""

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.api.conftest import Team
from tests.api.test_execute import START, new_workflow, says
from threadline.providers.fake import ScriptedLLM
from threadline.service.runtime import Runtime
from threadline.store import Store
from threadline.store.run_cache import RunCache


@pytest.fixture(params=[1024, 0], ids=["kept", "off"])
async def runtime(
    request: pytest.FixtureRequest, llm: ScriptedLLM, store: Store
) -> AsyncIterator[Runtime]:
    clock = iter(range(1_700_000_000, 1_800_000_000))
    runtime = Runtime(
        llm=llm,
        clock=lambda: float(next(clock)),
        rng=random.Random(7),
        run_cache=RunCache(request.param),
    )
    yield runtime
    await runtime.drain()


async def _turn(team: Team, wid: str, rid: str, run_input: Any) -> tuple[int, Any]:
    response = await team.client.post(
        f"/v1/workflows/{wid}/execute", json={"run_id": rid, "run_input": run_input}
    )
    return response.status_code, response.json() if response.content else None


async def _waiting(team: Team, llm: ScriptedLLM) -> tuple[str, str]:
    wid = await new_workflow(team)
    response = await team.client.post(
        f"/v1/workflows/{wid}/execute", json={"run_input": START}
    )
    assert response.status_code == 200, response.text
    rid = str(response.json()["run_id"])
    llm.extend("How can I help?")
    status, body = await _turn(team, wid, rid, says("hello"))
    assert status == 200 and body["status"] == "waiting_for_user_input"
    return wid, rid


async def test_pause_resume_and_stop_between_turns(team: Team, llm: ScriptedLLM):
    wid, rid = await _waiting(team, llm)
    status, body = await _turn(team, wid, rid, {"command": "pause"})
    assert status == 200 and body["status"] == "paused"
    status, _ = await _turn(team, wid, rid, says("while paused", "data"))
    assert status == 409
    status, body = await _turn(team, wid, rid, {"command": "resume"})
    assert status == 200 and body["status"] == "waiting_for_user_input"
    llm.extend("Sure.")
    status, body = await _turn(team, wid, rid, says("book me in", "data"))
    assert status == 200 and body["status"] == "waiting_for_user_input"
    status, body = await _turn(team, wid, rid, {"command": "stop"})
    assert status == 200 and body["status"] == "cancelled"
    status, _ = await _turn(team, wid, rid, says("after the stop", "data"))
    assert status == 409
    run = (await team.client.get(f"/v1/workflow-runs/{rid}")).json()["workflow_run"]
    assert run["workflow_run"]["status"] == "cancelled"


async def test_a_run_deleted_between_turns_is_not_found(team: Team, llm: ScriptedLLM):
    wid, rid = await _waiting(team, llm)
    deleted = await team.client.delete(f"/v1/workflow-runs/{rid}")
    assert deleted.status_code == 204
    status, _ = await _turn(team, wid, rid, says("anyone there?", "data"))
    assert status == 404


async def test_another_team_cannot_continue_or_stop_the_run(
    team: Team, other_team: Team, llm: ScriptedLLM
):
    wid, rid = await _waiting(team, llm)
    for run_input in (says("hijack", "data"), {"command": "stop"}):
        status, _ = await _turn(other_team, wid, rid, run_input)
        assert status == 404
    llm.extend("Still here.")
    status, body = await _turn(team, wid, rid, says("still mine?", "data"))
    assert status == 200 and body["status"] == "waiting_for_user_input"
