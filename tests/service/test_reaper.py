"""The stale-run reaper fails runs stuck running or idle too long, never paused ones."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from threadline.ids import new_object_id
from threadline.service.running.reaper import reap
from threadline.store import Document, Store

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def run(team: str, status: str, age: timedelta) -> Document:
    at = NOW - age
    body = {
        "workflow_run": {"status": status, "termination_source": None},
        "state": {"status": status},
    }
    return Document(
        id=new_object_id(),
        team_id=team,
        body=body,
        created_at=at,
        updated_at=at,
        status=status,
    )


async def test_stuck_and_idle_runs_are_failed_and_paused_ones_left_alone(store: Store):
    team = new_object_id()
    stuck = run(team, "running", timedelta(minutes=30))
    fresh = run(team, "running", timedelta(seconds=5))
    idle = run(team, "waiting_for_user_input", timedelta(days=3))
    paused = run(team, "paused", timedelta(days=30))
    async with store.begin() as tx:
        for doc in (stuck, fresh, idle, paused):
            await tx.documents("workflow_runs").insert(doc)
    reaped = await reap(
        store, now=NOW, max_turn=timedelta(minutes=10), idle_ttl=timedelta(days=1)
    )
    assert set(reaped) >= {stuck.id, idle.id}
    assert fresh.id not in reaped and paused.id not in reaped
    async with store.begin() as tx:
        got = await tx.documents("workflow_runs").get(team, stuck.id)
        kept = await tx.documents("workflow_runs").get(team, paused.id)
    assert got is not None and got.status == "failed"
    assert got.body["workflow_run"]["termination_source"] == "stale_run_reaper"
    assert kept is not None and kept.status == "paused"
    again = await reap(store, now=NOW, max_turn=timedelta(minutes=10))
    assert stuck.id not in again  # already failed: a second pass leaves it be


async def test_a_run_that_moved_on_meanwhile_is_not_reaped(store: Store):
    team = new_object_id()
    stuck = run(team, "running", timedelta(hours=1))
    async with store.begin() as tx:
        await tx.documents("workflow_runs").insert(stuck)
        moved = replace(stuck, status="waiting_for_user_input", updated_at=NOW)
        await tx.documents("workflow_runs").replace(moved)
    reaped = await reap(store, now=NOW, max_turn=timedelta(minutes=10))
    assert stuck.id not in reaped


async def test_one_process_at_a_time_reaps_through_the_lease(store: Store):
    from threadline.providers.fake import ScriptedLLM
    from threadline.service import processes
    from threadline.service.runtime import Runtime
    from threadline.settings import Settings

    settings = Settings(reaper_interval_seconds=1, max_turn_seconds=600)
    holder, other = Runtime(llm=ScriptedLLM()), Runtime(llm=ScriptedLLM())
    team = new_object_id()
    stuck = replace(
        run(team, "running", timedelta(0)),
        updated_at=datetime.now(UTC) - timedelta(hours=1),
    )
    async with store.begin() as tx:
        await tx.documents("workflow_runs").insert(stuck)
    assert stuck.id in await processes.reap_once(store, holder, settings)
    # While the holder's lease lasts, another process's pass does nothing.
    assert await processes.reap_once(store, other, settings) == []


async def test_commands_queued_behind_a_reaped_turn_are_answered(store: Store):
    from threadline.store import Command

    team = new_object_id()
    stuck = run(team, "running", timedelta(hours=2))
    queued = Command(
        id=new_object_id(),
        team_id=team,
        run_id=stuck.id,
        seq=1,
        status="pending",
        body={"run_input": {"command": "data"}, "queued": True},
        created_at=NOW,
        updated_at=NOW,
    )
    async with store.begin() as tx:
        await tx.documents("workflow_runs").insert(stuck)
        await tx.commands().insert(queued)
    assert stuck.id in await reap(store, now=NOW, max_turn=timedelta(minutes=10))
    async with store.begin() as tx:
        answered = await tx.commands().get(queued.id)
        await tx.commands().delete(queued.id)
    assert answered is not None and answered.status == "failed"
    assert answered.response is not None
    assert answered.response["error"]["status"] == 409
    assert "stale_run_reaper" in answered.response["error"]["message"]
