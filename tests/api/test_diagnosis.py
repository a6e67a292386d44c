"""Self-diagnosis: a run put in each state says why it is not moving, and a
scheduled start says the same about its queue."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.conftest import Team
from tests.api.test_execute import START, execute, new_workflow, says
from tests.factories import edge, static_node
from threadline.ids import new_object_id
from threadline.providers.fake import ScriptedLLM
from threadline.service.caller import Caller
from threadline.service.running import diagnosis
from threadline.service.runtime import Runtime
from threadline.store import Command, Store


async def diagnose(team: Team, run_id: str) -> dict[str, Any]:
    response = await team.client.get(f"/v1/workflow-runs/{run_id}/diagnosis")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    assert found["run_id"] == run_id and found["sentence"].endswith(".")
    return found


async def waiting_run(team: Team) -> tuple[str, str]:
    wid = await new_workflow(team)
    first = await execute(team, wid, {"run_input": START})
    return wid, str(first["run_id"])


async def put_in_flight(
    store: Store, team: Team, run_id: str, worker: str, queued: int = 0
) -> Command:
    """The run as a process running a ``data`` turn leaves it: status ``running``,
    a running command owned by ``worker``, ``queued`` commands behind it."""
    now = datetime.now(UTC)
    async with store.begin() as tx:
        doc = await tx.documents("workflow_runs").get(team.team_id, run_id)
        assert doc is not None
        await tx.documents("workflow_runs").replace(
            replace(doc, status="running", updated_at=now)
        )
        running = Command(
            id=new_object_id(),
            team_id=team.team_id,
            run_id=run_id,
            seq=1,
            status="running",
            body={"run_input": says("hello", "data"), "env": {"now": 1_700_000_100}},
            created_at=now,
            updated_at=now,
            worker_id=worker,
        )
        await tx.commands().insert(running)
        for seq in range(2, 2 + queued):
            await tx.commands().insert(
                replace(
                    running,
                    id=new_object_id(),
                    seq=seq,
                    status="pending",
                    worker_id=None,
                )
            )
    return running


async def test_a_run_waiting_for_the_user_names_the_thread_node_and_since(
    team: Team,
):
    _, run_id = await waiting_run(team)
    found = await diagnose(team, run_id)
    assert found["state"] == "waiting_for_user"
    assert found["status"] == "waiting_for_user_input"
    assert found["threads"] == [{"thread_id": "0", "node_logical_id": "node_chat"}]
    assert found["since"] and found["queued_commands"] == 0
    assert "node_chat" in found["sentence"] and "thread 0" in found["sentence"]


async def test_a_paused_run_says_so(team: Team):
    wid, run_id = await waiting_run(team)
    await execute(team, wid, {"run_id": run_id, "run_input": {"command": "pause"}})
    found = await diagnose(team, run_id)
    assert found["state"] == "paused" and found["status"] == "paused"
    assert "resume" in found["sentence"]


async def test_a_finished_run_gives_status_source_and_reason(
    team: Team, llm: ScriptedLLM
):
    wid, run_id = await waiting_run(team)
    await execute(team, wid, {"run_id": run_id, "run_input": {"command": "stop"}})
    stopped = await diagnose(team, run_id)
    assert stopped["state"] == "ended" and stopped["status"] == "cancelled"

    budgeted = await execute(
        team,
        wid,
        {"run_input": {**START, "run_budget": {"max_turns": 1}}},
    )
    await execute(
        team, wid, {"run_id": budgeted["run_id"], "run_input": says("hi", "data")}
    )
    failed = await diagnose(team, budgeted["run_id"])
    assert failed["state"] == "ended" and failed["status"] == "failed"
    assert failed["termination_source"] == "run_budget"
    assert "max_turns" in failed["reason"] and "max_turns" in failed["sentence"]
    assert failed["loop"] is None


async def test_a_looping_run_names_its_cycle(team: Team):
    body = {
        "name": "Ping pong",
        "workflow_config": {},
        "node_configs": [
            static_node("node_ping", "ping", is_start=True),
            static_node("node_pong", "pong"),
        ],
        "edge_configs": [
            edge("edge_ab", "node_ping", "node_pong"),
            edge("edge_ba", "node_pong", "node_ping"),
        ],
    }
    wid = await new_workflow(team, body)
    turn = await execute(team, wid, {"run_input": START})
    assert turn["status"] == "aborted_looping_risk"
    found = await diagnose(team, turn["run_id"])
    assert found["state"] == "ended" and found["termination_source"] == "loop_guard"
    assert set(found["loop"]["cycle"]) == {"node_ping", "node_pong"}
    assert "node_ping" in found["sentence"] and "node_pong" in found["sentence"]


async def test_a_turn_of_a_silent_worker_says_when_recovery_takes_it_over(
    team: Team, store: Store
):
    _, run_id = await waiting_run(team)
    running = await put_in_flight(store, team, run_id, "w-gone")
    found = await diagnose(team, run_id)
    assert found["state"] == "worker_presumed_dead"
    assert found["worker_id"] == "w-gone" and found["last_heartbeat_at"] is None
    after = datetime.fromisoformat(found["takeover_after"])
    assert after == running.updated_at + timedelta(seconds=30)  # the default


async def test_a_running_turn_names_its_node_and_the_max_turn_seconds(
    team: Team, store: Store, runtime: Runtime
):
    _, run_id = await waiting_run(team)
    await put_in_flight(store, team, run_id, "w-alive")
    async with store.begin() as tx:
        await tx.workers().heartbeat("w-alive", "serve", datetime.now(UTC))
    found = await diagnose(team, run_id)
    assert found["state"] == "running"
    assert (found["thread_id"], found["node_logical_id"]) == ("0", "node_chat")
    assert found["past_max_turn_seconds"] is False
    assert found["max_turn_seconds"] == 900

    caller = Caller(team_id=team.team_id, user_id=team.user_id)
    late = datetime.now(UTC) + timedelta(seconds=120)
    past = await diagnosis.diagnose_run(
        store,
        caller,
        run_id,
        timing=diagnosis.Timing(max_turn_seconds=60, worker_dead_seconds=3600),
        now=late,
    )
    assert past["state"] == "running" and past["past_max_turn_seconds"] is True
    assert "THREADLINE_MAX_TURN_SECONDS" in past["sentence"]
    async with store.begin() as tx:
        await tx.workers().remove("w-alive")


async def test_commands_queued_behind_the_running_turn_are_counted(
    team: Team, store: Store
):
    _, run_id = await waiting_run(team)
    await put_in_flight(store, team, run_id, "w-busy", queued=2)
    async with store.begin() as tx:
        await tx.workers().heartbeat("w-busy", "serve", datetime.now(UTC))
    found = await diagnose(team, run_id)
    assert found["state"] == "queued" and found["queued_commands"] == 2
    assert found["running"]["node_logical_id"] == "node_chat"
    assert found["sentence"].startswith("2 command(s) are queued")
    async with store.begin() as tx:
        await tx.workers().remove("w-busy")


async def test_a_scheduled_start_says_where_it_is_in_its_queue(
    team: Team, store: Store
):
    wid = await new_workflow(team)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    created = await team.client.post(
        f"/v1/workflows/{wid}/schedules",
        json={"scheduled_time": later, "run_input": START},
    )
    assert created.status_code == 200, created.text
    sid = created.json()["schedule"]["_id"]
    url = f"/v1/workflow-schedules/{sid}/diagnosis"
    found = (await team.client.get(url)).json()
    assert found["state"] == "scheduled" and found["schedule_id"] == sid

    async with store.begin() as tx:
        doc = await tx.documents("schedules").get(team.team_id, sid)
        assert doc is not None
        body = {
            **doc.body,
            "scheduled_time": datetime.now(UTC).isoformat(),
            "waiting": {"level": "team", "limit": 2, "position": 3},
        }
        await tx.documents("schedules").replace(replace(doc, body=body))
    found = (await team.client.get(url)).json()
    assert found["state"] == "waiting_for_slot"
    assert (found["level"], found["limit"], found["position"]) == ("team", 2, 3)
    assert "concurrency slot" in found["sentence"]

    await team.client.delete(f"/v1/workflow-schedules/{sid}")
    found = (await team.client.get(url)).json()
    assert found["state"] == "ended" and found["status"] == "cancelled"


async def test_bad_or_foreign_ids_are_refused(team: Team, other_team: Team):
    _, run_id = await waiting_run(team)
    assert (
        await other_team.client.get(f"/v1/workflow-runs/{run_id}/diagnosis")
    ).status_code == 404
    bad = await team.client.get("/v1/workflow-runs/not-an-id/diagnosis")
    assert bad.status_code == 422
    missing = await team.client.get(f"/v1/workflow-runs/{new_object_id()}/diagnosis")
    assert missing.status_code == 404 and "not found" in missing.json()["message"]
    schedule = await team.client.get(
        f"/v1/workflow-schedules/{new_object_id()}/diagnosis"
    )
    assert schedule.status_code == 404
