"""What a new run commits, and what survives a process dying between its commits.

A new run is one transaction that creates the run and its first command, already
claimed by this worker (``runs._new_run``), then one that records the turn with
the run's webhook events (``turn_endings.record``). Each promise below fails if a
later change splits, drops or reorders those writes.
"""

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from tests.api.test_durability import Gate
from threadline.errors import InvalidField
from threadline.ids import new_object_id
from threadline.providers.fake import ScriptedLLM
from threadline.service import webhooks as wh
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.running import recovery, run_commands, runs
from threadline.service.runtime import Runtime
from threadline.service.turns import TurnRequest
from threadline.store import Query, Store

START = {"command": "start", "thread_to_node_inputs": {"0": {"node_run_inputs": []}}}


def one_step() -> dict[str, Any]:
    return {
        "name": "One step",
        "node_configs": [
            {"type": "no_op", "logical_id": "node_a", "name": "A", "is_start": True}
        ],
        "edge_configs": [],
    }


def one_call() -> dict[str, Any]:
    """One model call, and the run is over."""
    node = {
        "type": "say_llm",
        "logical_id": "node_say",
        "name": "Say",
        "is_start": True,
        "wait_for_user_message": False,
        "self_loop": False,
        "main_response_config": {"prompt": "Greet."},
    }
    return {"name": "One call", "node_configs": [node], "edge_configs": []}


async def setup(store: Store, body: dict[str, Any]) -> tuple[Caller, str]:
    caller = Caller(team_id=new_object_id(), user_id="tester")
    await wh.create_subscription(
        store,
        caller,
        {
            "name": "hook",
            "url": "https://hooks.example.com/in",
            "actions": [wh.WORKFLOW_RUN_STARTED, wh.WORKFLOW_RUN_COMPLETED],
        },
    )
    created = await wf.create(store, caller, body)
    return caller, str(created["_id"])


def start(wid: str, key: str | None = None, **extra: Any) -> TurnRequest:
    return TurnRequest(
        workflow_id=wid,
        raw_input={**START, **extra},
        field="run_input",
        idempotency_key=key,
    )


async def run_events(store: Store, caller: Caller) -> list[str]:
    found, _ = await wh.list_events(store, caller, Query())
    return sorted(e["action"] for e in found)


async def run_count(store: Store, caller: Caller, wid: str) -> int:
    async with store.begin() as tx:
        return await tx.documents("workflow_runs").count(
            caller.team_id, {"workflow_id": wid}
        )


async def test_a_new_run_commits_twice_and_its_webhook_events_with_its_turn(
    store: Store,
):
    caller, wid = await setup(store, one_step())
    runtime = Runtime(llm=ScriptedLLM())
    await runs.run_one_turn(store, caller, runtime, start(wid))  # warm the caches
    commits: list[int] = []
    engine = store._engine.sync_engine  # type: ignore[attr-defined]  # SQL stores

    def count(_conn: Any) -> None:
        commits.append(1)

    event.listen(engine, "commit", count)
    try:
        doc, outcome = await runs.run_one_turn(store, caller, runtime, start(wid))
    finally:
        event.remove(engine, "commit", count)
    await runtime.drain()
    assert outcome.status == "completed"
    # Creating the run with its claimed command, then the turn with its events:
    # no transaction of its own for the claim or for the webhook events.
    assert len(commits) == 2
    found, _ = await wh.list_events(store, caller, Query())
    mine = sorted(e["action"] for e in found if e["workflow_run_id"] == doc.id)
    assert mine == [wh.WORKFLOW_RUN_COMPLETED, wh.WORKFLOW_RUN_STARTED]


async def test_a_new_run_whose_process_died_after_creating_it_is_resumed(
    store: Store,
):
    caller, wid = await setup(store, one_call())
    gate = Gate(ScriptedLLM(["never served"]), hold={1})
    dying = Runtime(llm=gate, worker_dead_seconds=30)
    request = asyncio.create_task(
        runs.run_one_turn(store, caller, dying, start(wid, key="first-start"))
    )
    await gate.entered.wait()
    # The run and its claimed command are committed; the process dies mid-turn.
    (run_id,) = list(dying.drivers)
    dying.drivers[run_id].cancel()
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    await dying.drain()
    assert await run_events(store, caller) == []  # no turn recorded, no event

    survivor_llm = ScriptedLLM(["Hello!"])
    survivor = Runtime(llm=survivor_llm, worker_dead_seconds=30)
    later = wf.now() + timedelta(seconds=60)
    # A retry of the start with its key gets the resumed turn, not a second run.
    retry = asyncio.create_task(
        runs.run_one_turn(store, caller, survivor, start(wid, key="first-start"))
    )
    resumed = await recovery.recover(store, survivor, now=later, teams={caller.team_id})
    assert len(resumed) == 1
    doc, outcome = await retry
    await survivor.drain()
    assert doc.id == run_id and outcome.status == "completed"
    assert len(survivor_llm.requests) == 1
    assert await run_count(store, caller, wid) == 1
    assert await run_events(store, caller) == [
        wh.WORKFLOW_RUN_COMPLETED,
        wh.WORKFLOW_RUN_STARTED,
    ]


async def test_a_rejected_start_leaves_no_run_command_or_event(store: Store):
    caller, wid = await setup(store, one_step())
    runtime = Runtime(llm=ScriptedLLM())
    with pytest.raises(InvalidField):
        await runs.run_one_turn(
            store,
            caller,
            runtime,
            start(wid, key="bad-start", start_node_logical_id="nowhere"),
        )
    await runtime.drain()
    assert await run_count(store, caller, wid) == 0
    assert await run_commands.find_by_key(store, caller.team_id, "bad-start") is None
    assert await run_events(store, caller) == []
