"""Scheduled and background starts over a limit wait in a queue partitioned by team."""

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.factories import edge, say_node, static_node
from threadline.ids import new_object_id
from threadline.providers.fake import ScriptedLLM
from threadline.service.automation import schedules
from threadline.service.automation.start_queue import dispatch
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.running import runs
from threadline.service.runtime import Runtime
from threadline.service.team import admission
from threadline.service.turns import TurnRequest
from threadline.store import Document, Store

T0 = datetime(2025, 3, 7, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=1)
"""Every test schedule is due by then."""


@pytest.fixture
def runtime() -> Runtime:
    clock = iter(range(1_700_000_000, 1_800_000_000))
    return Runtime(
        llm=ScriptedLLM(), clock=lambda: float(next(clock)), rng=random.Random(7)
    )


async def load_run(store: Store, caller: Caller, run_id: str) -> Document:
    async with store.begin() as tx:
        doc = await tx.documents("workflow_runs").get(caller.team_id, run_id)
    assert doc is not None, run_id
    return doc


def team() -> Caller:
    return Caller(team_id=new_object_id(), user_id=new_object_id())


def chat() -> dict[str, Any]:
    """Greets and waits for the user: a run of it keeps its slot."""
    return {
        "name": "Chat",
        "node_configs": [
            static_node("node_hi", "Hi!", is_start=True),
            say_node("node_chat"),
        ],
        "edge_configs": [edge("edge_1", "node_hi", "node_chat")],
    }


async def workflow(store: Store, caller: Caller, body: dict[str, Any]) -> str:
    return str((await wf.create(store, caller, body))["_id"])


async def schedule(store: Store, caller: Caller, wid: str, hours: int) -> str:
    body = {"scheduled_time": (T0 + timedelta(hours=hours)).isoformat()}
    return str((await schedules.create(store, caller, wid, body, now=T0))["_id"])


async def turn(
    store: Store, caller: Caller, runtime: Runtime, wid: str, **raw: Any
) -> Document:
    run_id = raw.pop("run_id", None)
    done, _ = await runs.run_one_turn(
        store,
        caller,
        runtime,
        TurnRequest(
            workflow_id=wid,
            run_id=run_id,
            raw_input={"command": "start", **raw},
            field="run_input",
        ),
    )
    return done


async def stop(
    store: Store, caller: Caller, runtime: Runtime, wid: str, run_id: str
) -> None:
    await turn(store, caller, runtime, wid, run_id=run_id, command="stop")


async def waiting(store: Store, caller: Caller, sid: str) -> Any:
    got = await schedules.get(store, caller, sid)
    return got["waiting"]


async def test_two_teams_take_turns_and_each_keeps_its_order(
    store: Store, runtime: Runtime
):
    a, b = team(), team()
    wa = await workflow(store, a, chat())
    wb = await workflow(store, b, chat())
    # Team a's starts are all due before team b's, and were created in reverse.
    a3 = await schedule(store, a, wa, 3)
    a2 = await schedule(store, a, wa, 2)
    a1 = await schedule(store, a, wa, 1)
    b1 = await schedule(store, b, wb, 4)
    b2 = await schedule(store, b, wb, 5)
    report = await dispatch(
        store, runtime, runs.run_one_turn, now=NOW, teams=[a.team_id, b.team_id]
    )
    assert list(report.fired) == [a1, b1, a2, b2, a3]


async def test_waiting_starts_say_why_and_go_in_order_as_slots_free(
    store: Store, runtime: Runtime
):
    caller = team()
    await admission.set_team(store, caller, 1, None)
    wid = await workflow(store, caller, chat())
    busy = await turn(store, caller, runtime, wid)
    s3 = await schedule(store, caller, wid, 3)
    s1 = await schedule(store, caller, wid, 1)
    s2 = await schedule(store, caller, wid, 2)
    teams = [caller.team_id]

    report = await dispatch(store, runtime, runs.run_one_turn, now=NOW, teams=teams)
    assert report.fired == {}
    assert report.waiting == {s1: "team"}  # the others were not even tried
    assert report.skipped == {s2: "team", s3: "team"}
    for place, sid in enumerate((s1, s2, s3), start=1):
        got = await schedules.get(store, caller, sid)
        assert got["status"] == "pending"
        assert got["waiting"] == {"level": "team", "limit": 1, "position": place}

    # A slot frees: the next pass starts the first in line, and only it.
    await stop(store, caller, runtime, wid, busy.id)
    report = await dispatch(store, runtime, runs.run_one_turn, now=NOW, teams=teams)
    assert list(report.fired) == [s1]
    got = await schedules.get(store, caller, s1)
    assert got["status"] == "completed" and got["waiting"] is None
    assert await waiting(store, caller, s2) == {
        "level": "team",
        "limit": 1,
        "position": 1,
    }
    assert (await waiting(store, caller, s3))["position"] == 2

    # A cancelled start never runs; the one behind it moves up.
    await schedules.cancel(store, caller, s2)
    await stop(store, caller, runtime, wid, report.fired[s1])
    report = await dispatch(store, runtime, runs.run_one_turn, now=NOW, teams=teams)
    assert list(report.fired) == [s3]
    assert (await schedules.get(store, caller, s2))["status"] == "cancelled"
    run = await load_run(store, caller, report.fired[s3])
    assert (
        run.body["workflow_run"]["miscellaneous"]["threadline_schedule"]["schedule_id"]
        == s3
    )


async def test_a_workflow_limit_holds_only_that_workflow(
    store: Store, runtime: Runtime
):
    caller = team()
    limited = await workflow(store, caller, chat())
    free = await workflow(store, caller, chat())
    await wf.set_concurrency(store, caller, limited, 1)
    await turn(store, caller, runtime, limited)
    first = await schedule(store, caller, limited, 1)
    second = await schedule(store, caller, limited, 2)
    other = await schedule(store, caller, free, 3)
    report = await dispatch(
        store, runtime, runs.run_one_turn, now=NOW, teams=[caller.team_id]
    )
    assert list(report.fired) == [other]
    assert await waiting(store, caller, first) == {
        "level": "workflow",
        "limit": 1,
        "position": 1,
    }
    assert (await waiting(store, caller, second))["position"] == 2


def evaluated(evaluator_id: str) -> dict[str, Any]:
    return {
        "name": "Source",
        "workflow_config": {
            "evaluation_config": {"evaluator_workflow_id": evaluator_id}
        },
        "node_configs": [static_node("node_done", "Done.", is_start=True)],
        "edge_configs": [],
    }


async def evaluation_info(store: Store, caller: Caller, run_id: str) -> Any:
    run = await load_run(store, caller, run_id)
    return run.body["workflow_run"].get("evaluation_run_info")


async def test_an_evaluation_refused_by_the_limit_runs_later(
    store: Store, runtime: Runtime
):
    caller = team()
    evaluator = await workflow(store, caller, chat())  # its runs keep their slot
    await wf.set_concurrency(store, caller, evaluator, 1)
    busy = await turn(store, caller, runtime, evaluator)
    source = await workflow(store, caller, evaluated(evaluator))
    done = await turn(store, caller, runtime, source)
    assert done.status == "completed"
    await asyncio.gather(*list(runtime.background))

    info = await evaluation_info(store, caller, done.id)
    assert info["evaluation_workflow_run_id"] is None
    assert info["waiting"] == {"level": "workflow", "limit": 1, "position": 1}
    # The waiting start is internal: it is not one of the team's schedules.
    assert (
        await schedules.list_(
            store, caller, workflow_id=None, status=None, skip=0, limit=50
        )
        == []
    )

    report = await dispatch(
        store, runtime, runs.run_one_turn, now=wf.now(), teams=[caller.team_id]
    )
    assert report.fired == {}  # still no slot
    await stop(store, caller, runtime, evaluator, busy.id)
    report = await dispatch(
        store, runtime, runs.run_one_turn, now=wf.now(), teams=[caller.team_id]
    )
    assert len(report.fired) == 1
    info = await evaluation_info(store, caller, done.id)
    assert info["evaluation_workflow_run_id"] == next(iter(report.fired.values()))
    assert "waiting" not in info
    evaluation = await load_run(store, caller, info["evaluation_workflow_run_id"])
    assert evaluation.body["workflow_run"]["is_evaluation_run"] is True
    assert evaluation.body["workflow_run"]["source_workflow_run_id"] == done.id
    # Started once: a later pass has nothing left to start.
    again = await dispatch(
        store, runtime, runs.run_one_turn, now=wf.now(), teams=[caller.team_id]
    )
    assert again.fired == {} and again.waiting == {}
