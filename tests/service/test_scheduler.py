"""The scheduler fires due schedules exactly once, queues refused starts, recurs."""

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.factories import edge, say_node, static_node
from threadline.ids import new_object_id
from threadline.providers.fake import ScriptedLLM
from threadline.service.automation import schedules
from threadline.service.automation.scheduler import TAG
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.processes import fire_due
from threadline.service.running import runs
from threadline.service.runtime import Runtime
from threadline.service.turns import TurnRequest
from threadline.store import Document, Query, Store

T0 = datetime(2025, 3, 7, 12, 0, tzinfo=UTC)
"""Creation time of the tests' schedules (in the past: runs get the real clock)."""


@pytest.fixture
def runtime() -> Runtime:
    clock = iter(range(1_700_000_000, 1_800_000_000))
    return Runtime(
        llm=ScriptedLLM(), clock=lambda: float(next(clock)), rng=random.Random(7)
    )


@pytest.fixture
def caller() -> Caller:
    return Caller(team_id=new_object_id(), user_id=new_object_id())


async def load_run(store: Store, caller: Caller, run_id: str) -> Document:
    async with store.begin() as tx:
        doc = await tx.documents("workflow_runs").get(caller.team_id, run_id)
    assert doc is not None, run_id
    return doc


def chat() -> dict[str, Any]:
    """First turn greets and waits for the user: the run keeps its slot."""
    return {
        "name": "Chat",
        "node_configs": [
            static_node("node_hi", "Hi!", is_start=True),
            say_node("node_chat"),
        ],
        "edge_configs": [edge("edge_1", "node_hi", "node_chat")],
    }


async def workflow(store: Store, caller: Caller, body: dict[str, Any] | None = None):
    created = await wf.create(store, caller, body or chat())
    return str(created["_id"])


async def schedule(
    store: Store, caller: Caller, wid: str, at: datetime, **extra: Any
) -> dict[str, Any]:
    body = {"scheduled_time": at.isoformat(), **extra}
    return await schedules.create(store, caller, wid, body, now=T0)


def mine(found: dict[str, str], *ids: str) -> dict[str, str]:
    """The entries of a pass report about these schedules."""
    return {k: v for k, v in found.items() if k in ids}


async def tagged_runs(store: Store, caller: Caller, wid: str, sid: str) -> list[str]:
    async with store.begin() as tx:
        docs, _ = await tx.documents("workflow_runs").find(
            caller.team_id, Query(equals={"workflow_id": wid})
        )
    return [
        d.id
        for d in docs
        if d.body["workflow_run"]["miscellaneous"].get(TAG, {}).get("schedule_id")
        == sid
    ]


async def test_a_due_schedule_fires_once_even_when_two_passes_race(
    store: Store, runtime: Runtime, caller: Caller
):
    wid = await workflow(store, caller)
    due = T0 + timedelta(hours=1)
    sid = (await schedule(store, caller, wid, due, run_input={"run_by": "cron"}))["_id"]
    now = due + timedelta(seconds=1)
    one, two = await asyncio.gather(
        fire_due(store, runtime, now=now), fire_due(store, runtime, now=now)
    )
    fired = [r.fired[sid] for r in (one, two) if sid in r.fired]
    assert len(fired) == 1
    got = await schedules.get(store, caller, sid)
    assert got["status"] == "completed" and got["actual_run_id"] == fired[0]
    assert got["error_message"] is None and got["run_ids"] == fired
    assert await tagged_runs(store, caller, wid, sid) == fired
    again = await fire_due(store, runtime, now=now + timedelta(hours=1))
    assert sid not in again.fired
    run = await load_run(store, caller, fired[0])
    assert run.body["workflow_run"]["run_by"] == "cron"  # the run input was used


async def test_a_schedule_due_while_down_fires_on_the_next_pass(
    store: Store, runtime: Runtime, caller: Caller
):
    wid = await workflow(store, caller)
    sid = (await schedule(store, caller, wid, T0 + timedelta(hours=1)))["_id"]
    early = await fire_due(store, runtime, now=T0 + timedelta(minutes=30))
    assert sid not in early.fired
    assert (await schedules.get(store, caller, sid))["status"] == "pending"
    # The service was down for hours: the first pass after restart fires it, once.
    late = await fire_due(store, runtime, now=T0 + timedelta(hours=6))
    assert sid in late.fired
    assert (await schedules.get(store, caller, sid))["status"] == "completed"


async def test_a_start_refused_by_the_limit_waits_in_due_order(
    store: Store, runtime: Runtime, caller: Caller
):
    wid = await workflow(store, caller)
    await wf.set_concurrency(store, caller, wid, 1)
    busy, _ = await runs.run_one_turn(
        store,
        caller,
        runtime,
        TurnRequest(workflow_id=wid, raw_input={"command": "start"}, field="run_input"),
    )
    first = (await schedule(store, caller, wid, T0 + timedelta(hours=1)))["_id"]
    second = (await schedule(store, caller, wid, T0 + timedelta(hours=2)))["_id"]
    now = T0 + timedelta(hours=3)
    report = await fire_due(store, runtime, now=now)
    # The later one was not even tried (passes also see other tests' schedules).
    assert mine(report.waiting, first, second) == {first: "workflow"}
    for sid in (first, second):
        assert (await schedules.get(store, caller, sid))["status"] == "pending"
    await runs.run_one_turn(
        store,
        caller,
        runtime,
        TurnRequest(
            workflow_id=wid,
            run_id=busy.id,
            raw_input={"command": "stop"},
            field="run_input",
        ),
    )
    report = await fire_due(store, runtime, now=now + timedelta(seconds=5))
    assert first in report.fired
    assert mine(report.waiting, first, second) == {second: "workflow"}
    assert (await schedules.get(store, caller, first))["status"] == "completed"
    assert (await schedules.get(store, caller, second))["status"] == "pending"


async def test_the_team_limit_queues_scheduled_starts_too(
    store: Store, runtime: Runtime, caller: Caller
):
    runtime.team_max_concurrent_runs = 1
    one, two = await workflow(store, caller), await workflow(store, caller)
    a = (await schedule(store, caller, one, T0 + timedelta(hours=1)))["_id"]
    b = (await schedule(store, caller, two, T0 + timedelta(hours=2)))["_id"]
    report = await fire_due(store, runtime, now=T0 + timedelta(hours=3))
    assert a in report.fired and mine(report.waiting, a, b) == {b: "team"}


async def test_a_failed_start_marks_the_schedule_failed(
    store: Store, runtime: Runtime, caller: Caller
):
    broken = await workflow(store, caller)
    gone = await workflow(store, caller)
    bad_start = {"start_node_logical_id": "node_nowhere"}
    s1 = (
        await schedule(
            store, caller, broken, T0 + timedelta(hours=1), run_input=bad_start
        )
    )["_id"]
    s2 = (await schedule(store, caller, gone, T0 + timedelta(hours=1)))["_id"]
    await wf.delete(store, caller, gone)
    report = await fire_due(store, runtime, now=T0 + timedelta(hours=2))
    assert {s1, s2} <= set(report.failed)
    one = await schedules.get(store, caller, s1)
    assert one["status"] == "failed" and "node_nowhere" in one["error_message"]
    assert one["actual_run_id"] is None
    two = await schedules.get(store, caller, s2)
    assert two["status"] == "failed" and "not found" in two["error_message"]


async def test_a_cron_schedule_fires_on_each_pass_in_its_time_zone(
    store: Store, runtime: Runtime, caller: Caller
):
    wid = await workflow(store, caller)
    created = await schedules.create(
        store,
        caller,
        wid,
        {
            "cron": "0 9 * * *",
            "timezone": "America/New_York",
            "scheduled_time": "2025-03-08T00:00:00Z",  # not before
        },
        now=T0,
    )
    sid = created["_id"]
    # 09:00 EST on Saturday 8 March 2025 is 14:00 UTC.
    assert created["scheduled_time"] == "2025-03-08T14:00:00+00:00"
    first = await fire_due(
        store, runtime, now=datetime(2025, 3, 8, 14, 0, 30, tzinfo=UTC)
    )
    got = await schedules.get(store, caller, sid)
    # Daylight saving starts on 9 March: 09:00 EDT is 13:00 UTC.
    assert got["status"] == "pending"
    assert got["scheduled_time"] == "2025-03-09T13:00:00+00:00"
    assert got["actual_run_id"] == first.fired[sid]
    not_yet = await fire_due(
        store, runtime, now=datetime(2025, 3, 9, 12, 59, tzinfo=UTC)
    )
    assert sid not in not_yet.fired
    second = await fire_due(store, runtime, now=datetime(2025, 3, 9, 13, 1, tzinfo=UTC))
    got = await schedules.get(store, caller, sid)
    assert got["run_ids"] == [first.fired[sid], second.fired[sid]]
    assert first.fired[sid] != second.fired[sid]
    assert got["scheduled_time"] == "2025-03-10T13:00:00+00:00"
    await schedules.cancel(store, caller, sid)
    assert (await schedules.get(store, caller, sid))["status"] == "cancelled"


async def test_a_recurring_schedule_missed_while_down_fires_once(
    store: Store, runtime: Runtime, caller: Caller
):
    wid = await workflow(store, caller)
    sid = (
        await schedules.create(
            store, caller, wid, {"cron": "0 * * * *", "timezone": "UTC"}, now=T0
        )
    )["_id"]
    report = await fire_due(store, runtime, now=T0 + timedelta(hours=5, minutes=30))
    assert sid in report.fired
    got = await schedules.get(store, caller, sid)
    assert len(got["run_ids"]) == 1
    assert got["scheduled_time"] == (T0 + timedelta(hours=6)).isoformat()
    await schedules.cancel(store, caller, sid)


async def test_a_schedule_stuck_in_progress_is_recovered_without_a_second_run(
    store: Store, runtime: Runtime, caller: Caller
):
    wid = await workflow(store, caller)
    due = T0 + timedelta(hours=1)
    lost = (await schedule(store, caller, wid, due))["_id"]
    started = (await schedule(store, caller, wid, due))["_id"]
    claimed_at = datetime.now(UTC)
    async with store.begin() as tx:
        for sid in (lost, started):
            assert await tx.documents("schedules").set_status(
                caller.team_id,
                sid,
                "in_progress",
                expected_status="pending",
                at=claimed_at,
                by="scheduler",
            )
    # The process that claimed ``started`` created its run, then died.
    doc = await schedules.get_doc(store, caller, started)
    run, _ = await runs.run_one_turn(
        store,
        caller,
        runtime,
        TurnRequest(
            workflow_id=wid,
            raw_input={
                "command": "start",
                "miscellaneous": {
                    TAG: {"schedule_id": started, "scheduled_time": due.isoformat()}
                },
            },
            field="run_input",
        ),
    )
    assert doc.status == "in_progress"
    fresh = await fire_due(store, runtime, now=claimed_at + timedelta(minutes=5))
    assert lost not in fresh.fired and started not in fresh.fired  # not stuck yet
    later = await fire_due(store, runtime, now=claimed_at + timedelta(minutes=20))
    assert later.fired[started] == run.id
    assert lost in later.fired and lost in later.recovered
    assert await tagged_runs(store, caller, wid, started) == [run.id]
    assert (await schedules.get(store, caller, started))["actual_run_id"] == run.id
    assert (await schedules.get(store, caller, lost))["status"] == "completed"
