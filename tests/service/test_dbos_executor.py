"""The DBOS executor (``THREADLINE_EXECUTOR=dbos``): same turns, DBOS checkpoints.

DBOS is a process singleton: this module launches it once, on the tests' event
loop, with a SQLite system database of its own, and destroys it at the end. Its
executor id is ``EXECUTOR``, the worker id of the runtime bound to it.
"""

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS

from tests.factories import edge, say_node, static_node
from threadline.engine.turn import TurnOutcome
from threadline.ids import new_object_id
from threadline.providers.fake import ScriptedLLM, tool_call
from threadline.service import processes
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.processes import runtime_from_settings
from threadline.service.running import dbos_executor, dbos_recovery, recovery, runs
from threadline.service.runtime import Runtime
from threadline.service.turns import TurnRequest
from threadline.settings import Settings
from threadline.store import Document, Store

EXECUTOR = f"w-dbos-{new_object_id()}"
START = {"command": "start", "thread_to_node_inputs": {"0": {"node_run_inputs": []}}}


def says(text: str, command: str = "start") -> dict[str, Any]:
    message = {"type": "human", "content": text}
    return {
        "command": command,
        "thread_to_node_inputs": {
            "0": {"node_run_inputs": [{"type": "llm", "messages": [message]}]}
        },
    }


def chat_workflow() -> dict[str, Any]:
    return {
        "name": "Chat",
        "workflow_config": {
            "miscellaneous": {"default_dynamic_variables": {"clinic": "Northside"}}
        },
        "node_configs": [
            static_node("node_greet", "Welcome to {{clinic}}!", is_start=True),
            say_node("node_chat", prompt="You help patients of {{clinic}}."),
            static_node("node_bye", "Goodbye!"),
        ],
        "edge_configs": [
            edge("edge_greet", "node_greet", "node_chat"),
            edge(
                "edge_bye",
                "node_chat",
                "node_bye",
                type="conditional",
                condition={"condition_freeform": "The user wants to leave"},
            ),
        ],
    }


def two_step_workflow() -> dict[str, Any]:
    """A turn of two LLM calls: ``node_read`` (silent) then ``node_chat``."""
    read = {
        "type": "worker_llm",
        "logical_id": "node_read",
        "name": "node_read",
        "main_response_config": {"prompt": "Work."},
        "wait_for_user_message": True,
    }
    return {
        "name": "Two steps",
        "node_configs": [
            static_node("node_greet", "Hello!", is_start=True),
            read,
            {**say_node("node_chat", prompt="Answer."), "wait_for_user_message": False},
        ],
        "edge_configs": [
            edge("edge_greet", "node_greet", "node_read"),
            edge("edge_chat", "node_read", "node_chat"),
            edge("edge_back", "node_chat", "node_read"),
        ],
    }


class Gate:
    """An LLM that holds its ``hold``-th calls (1-based) until cancelled."""

    def __init__(self, inner: ScriptedLLM, hold: set[int]) -> None:
        self.inner = inner
        self.hold = hold
        self.calls = 0
        self.entered = asyncio.Event()

    async def chat(self, request: Any) -> Any:
        self.calls += 1
        if self.calls in self.hold:
            self.entered.set()
            await asyncio.Event().wait()  # in flight until the process "dies"
        return await self.inner.chat(request)


class Hold:
    """An LLM that holds its first call until ``release`` is set."""

    def __init__(self, inner: ScriptedLLM) -> None:
        self.inner = inner
        self.calls = 0
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def chat(self, request: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            await self.release.wait()
        return await self.inner.chat(request)


@pytest.fixture(scope="module")
async def dbos_system_db(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[str]:
    """DBOS configured once for this module (launched by the first ``start``)."""
    path: Path = tmp_path_factory.mktemp("dbos") / "system.sqlite"
    url = f"sqlite:///{path}"
    dbos_executor.configure(url, EXECUTOR)
    try:
        yield url
    finally:
        await dbos_executor.stop()


@pytest.fixture
async def dbos_runtime(
    dbos_system_db: str, store: Store
) -> AsyncIterator[tuple[Runtime, ScriptedLLM]]:
    llm = ScriptedLLM()
    runtime = Runtime(llm=llm, worker_id=EXECUTOR)
    dbos_executor.start(store, runtime)
    try:
        yield runtime, llm
    finally:
        await runtime.drain()


async def turn(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    wid: str,
    run_input: dict[str, Any],
    run_id: str | None = None,
    key: str | None = None,
) -> tuple[Document, TurnOutcome]:
    return await runs.run_one_turn(
        store,
        caller,
        runtime,
        TurnRequest(
            workflow_id=wid,
            run_id=run_id,
            raw_input=run_input,
            field="run_input",
            idempotency_key=key,
        ),
    )


def said(outcome: TurnOutcome) -> list[str]:
    return [e["content"] for e in outcome.events if e["type"] == "assistant_response"]


async def conversation(
    store: Store, runtime: Runtime, llm: ScriptedLLM
) -> list[tuple[str | None, list[str]]]:
    """Greet, chat, leave: each turn's run status and what the assistant said."""
    caller = Caller(new_object_id(), new_object_id())
    created = await wf.create(store, caller, chat_workflow())
    wid = str(created["_id"])
    llm.extend(
        "Of course.",
        [tool_call("Destination_Node__node_bye", {"justification": "leaving"})],
    )
    doc, first = await turn(store, caller, runtime, wid, START)
    seen = [(doc.status, said(first))]
    for text, command in (("I need an appointment", "start"), ("bye", "data")):
        doc, outcome = await turn(
            store, caller, runtime, wid, says(text, command), run_id=doc.id
        )
        seen.append((doc.status, said(outcome)))
    return seen


def test_the_system_database_defaults_next_to_the_main_one():
    sqlite = Settings(database_url="sqlite+aiosqlite:////data/threadline.db")
    assert dbos_executor.system_database_url(sqlite) == (
        "sqlite:////data/threadline-dbos.db"
    )
    pg = "postgresql://threadline@db/threadline"
    assert dbos_executor.system_database_url(Settings(database_url=pg)) == pg
    chosen = Settings(database_url=pg, dbos_system_database_url="sqlite:///x.db")
    assert dbos_executor.system_database_url(chosen) == "sqlite:///x.db"
    assert Settings().executor == "journal"


async def test_a_conversation_gives_the_same_answers_as_with_the_journal(
    store: Store, dbos_runtime: tuple[Runtime, ScriptedLLM]
):
    runtime, llm = dbos_runtime
    journal_llm = ScriptedLLM()
    journal = await conversation(store, Runtime(llm=journal_llm), journal_llm)
    dbos = await conversation(store, runtime, llm)
    assert dbos == journal
    assert dbos == [
        ("waiting_for_user_input", ["Welcome to Northside!"]),
        ("waiting_for_user_input", ["Of course."]),
        ("completed", ["Goodbye!"]),
    ]
    assert [r.messages[-1].content for r in llm.requests] == [
        r.messages[-1].content for r in journal_llm.requests
    ]


async def test_each_node_is_a_checkpointed_step_of_the_commands_workflow(
    store: Store, dbos_runtime: tuple[Runtime, ScriptedLLM]
):
    runtime, llm = dbos_runtime
    caller = Caller(new_object_id(), new_object_id())
    wid = str((await wf.create(store, caller, two_step_workflow()))["_id"])
    doc, _ = await turn(store, caller, runtime, wid, START)
    llm.extend("Read.", "Two.")
    _, outcome = await turn(
        store, caller, runtime, wid, says("hello"), doc.id, key="k-steps"
    )
    assert said(outcome) == ["Two."]
    async with store.begin() as tx:
        command = await tx.commands().by_key(caller.team_id, "k-steps")
    assert command is not None
    # The turn's answer is sent from inside the workflow; DBOS records the
    # workflow's SUCCESS just after it returns, so a loaded machine can see
    # PENDING for a moment.
    status = await DBOS.get_workflow_status_async(command.id)
    for _ in range(100):
        if status is None or status.status != "PENDING":
            break
        await asyncio.sleep(0.05)
        status = await DBOS.get_workflow_status_async(command.id)
    assert status is not None and status.status == "SUCCESS"
    steps = await DBOS.list_workflow_steps_async(command.id)
    names = [s["function_name"] for s in steps]
    assert names == [dbos_executor.STEP_NAME] * 2


async def test_a_turn_of_a_dead_worker_is_resumed_by_dbos_without_repeating_steps(
    store: Store,
    dbos_runtime: tuple[Runtime, ScriptedLLM],
    caplog: pytest.LogCaptureFixture,
):
    runtime, llm = dbos_runtime
    logging.getLogger("dbos").addHandler(caplog.handler)  # DBOS's logger stays put
    caller = Caller(new_object_id(), new_object_id())
    wid = str((await wf.create(store, caller, two_step_workflow()))["_id"])
    doc, _ = await turn(store, caller, runtime, wid, START)
    run_id = doc.id
    llm.extend("One.", "never served")
    gate = Gate(llm, hold={2})
    runtime.llm = gate
    request = asyncio.create_task(
        turn(store, caller, runtime, wid, says("hello"), run_id, key="turn-crash")
    )
    await gate.entered.wait()
    # The process dies mid-turn: its workflow task and its request vanish.
    driver = runtime.drivers[run_id]
    driver.cancel()
    request.cancel()
    for task in (driver, request):
        with pytest.raises(asyncio.CancelledError):
            await task
    # DBOS logs the cancelled step with its arguments: no prompt, no history.
    logging.getLogger("dbos").removeHandler(caplog.handler)
    assert "node_chat" in caplog.text and "Answer." not in caplog.text
    async with store.begin() as tx:
        command = await tx.commands().by_key(caller.team_id, "turn-crash")
    assert command is not None and command.status == "running"
    status = await DBOS.get_workflow_status_async(command.id)
    assert status is not None and status.status == "PENDING"

    # Another process takes over: this process's DBOS now serves the survivor.
    survivor_llm = ScriptedLLM(["Two."])
    survivor = Runtime(llm=survivor_llm, worker_id=f"w-survivor-{new_object_id()}")
    dbos_executor.start(store, survivor)
    retry = asyncio.create_task(
        turn(store, caller, survivor, wid, says("hello"), run_id, key="turn-crash")
    )
    later = wf.now() + timedelta(seconds=60)
    live = await dbos_recovery.recover(
        store, survivor, now=wf.now(), teams={caller.team_id}
    )
    assert live == []  # not dead yet
    taken = await dbos_recovery.recover_dead(
        store, survivor, [EXECUTOR], now=later, teams={caller.team_id}
    )
    assert taken == [command.id]
    done, outcome = await retry
    await survivor.drain()
    assert done.id == run_id and done.status == "waiting_for_user_input"
    assert said(outcome) == ["Two."]
    # The finished step was replayed from DBOS's checkpoint: one call on each worker.
    assert gate.calls == 2 and len(survivor_llm.requests) == 1
    status = await DBOS.get_workflow_status_async(command.id)
    assert status is not None and status.status == "SUCCESS"
    # Recovering again finds nothing to take.
    assert (
        await recovery.recover(store, survivor, now=later, teams={caller.team_id}) == []
    )
    dbos_executor.start(store, runtime)


async def test_a_recovered_workflow_takes_its_command_over_from_its_holder(
    store: Store, dbos_runtime: tuple[Runtime, ScriptedLLM]
):
    """The process that dequeues a recovered workflow runs the turn, even when
    another worker took the command over first."""
    runtime, llm = dbos_runtime
    caller = Caller(new_object_id(), new_object_id())
    wid = str((await wf.create(store, caller, two_step_workflow()))["_id"])
    doc, _ = await turn(store, caller, runtime, wid, START)
    llm.extend("One.", "never served")
    gate = Gate(llm, hold={2})
    runtime.llm = gate
    request = asyncio.create_task(
        turn(store, caller, runtime, wid, says("hey"), doc.id, key="held")
    )
    await gate.entered.wait()
    driver = runtime.drivers[doc.id]
    driver.cancel()
    request.cancel()
    for task in (driver, request):
        with pytest.raises(asyncio.CancelledError):
            await task
    async with store.begin() as tx:
        command = await tx.commands().by_key(caller.team_id, "held")
        assert command is not None
        # Another live worker holds the command (it took it, then stalled).
        assert await tx.commands().update(
            command.id, at=wf.now(), expected_worker=EXECUTOR, worker_id="w-other"
        )
    survivor_llm = ScriptedLLM(["Two."])
    survivor = Runtime(llm=survivor_llm, worker_id=f"w-survivor-{new_object_id()}")
    dbos_executor.start(store, survivor)
    retry = asyncio.create_task(
        turn(store, caller, survivor, wid, says("hey"), doc.id, key="held")
    )
    assert await dbos_recovery.recover_executors([EXECUTOR]) == [command.id]
    done, outcome = await retry
    await survivor.drain()
    assert said(outcome) == ["Two."] and done.status == "waiting_for_user_input"
    assert gate.calls == 2 and len(survivor_llm.requests) == 1
    assert await dbos_recovery.recover_executors([EXECUTOR]) == []


async def test_commands_queued_behind_a_turn_run_in_workflows_of_their_own(
    store: Store, dbos_runtime: tuple[Runtime, ScriptedLLM]
):
    runtime, llm = dbos_runtime
    caller = Caller(new_object_id(), new_object_id())
    wid = str((await wf.create(store, caller, chat_workflow()))["_id"])
    doc, _ = await turn(store, caller, runtime, wid, START)
    llm.extend("Answer to a.", "Answer to b.")
    gate = Hold(llm)
    runtime.llm = gate
    first = asyncio.create_task(
        turn(store, caller, runtime, wid, says("a"), doc.id, key="q-a")
    )
    await gate.entered.wait()
    second = asyncio.create_task(
        turn(store, caller, runtime, wid, says("b", "data"), doc.id, key="q-b")
    )
    for _ in range(500):
        async with store.begin() as tx:
            if await tx.commands().of_run(doc.id, ["pending"]):
                break
        await asyncio.sleep(0.01)
    gate.release.set()
    answers = [said((await t)[1]) for t in (first, second)]
    assert answers == [["Answer to a."], ["Answer to b."]]
    async with store.begin() as tx:
        queued = await tx.commands().by_key(caller.team_id, "q-b")
    assert queued is not None
    steps = await DBOS.list_workflow_steps_async(queued.id)
    assert [s["function_name"] for s in steps] == [dbos_executor.STEP_NAME]


async def test_the_setting_routes_a_runtimes_turns_through_dbos(dbos_system_db: str):
    settings = Settings(executor="dbos", dbos_system_database_url=dbos_system_db)
    runtime = runtime_from_settings(settings)
    assert runtime.step_runner is dbos_executor.run_step
    assert runtime.launcher is dbos_executor.launch_turn
    journal = runtime_from_settings(Settings())
    assert journal.step_runner is None and journal.launcher is None


async def test_the_heartbeat_loop_resumes_dead_turns_and_stop_shuts_dbos_down(
    store: Store,
    dbos_runtime: tuple[Runtime, ScriptedLLM],
    monkeypatch: pytest.MonkeyPatch,
):
    """Last in this module: ``processes.stop`` destroys the DBOS instance."""
    runtime, llm = dbos_runtime
    caller = Caller(new_object_id(), new_object_id())
    wid = str((await wf.create(store, caller, two_step_workflow()))["_id"])
    doc, _ = await turn(store, caller, runtime, wid, START)
    llm.extend("One.", "never served")
    gate = Gate(llm, hold={2})
    runtime.llm = gate
    request = asyncio.create_task(
        turn(store, caller, runtime, wid, says("hi"), doc.id, key="loop-crash")
    )
    await gate.entered.wait()
    runtime.drivers[doc.id].cancel()
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request

    survivor_llm = ScriptedLLM(["Two."])
    survivor = Runtime(
        llm=survivor_llm,
        worker_id=f"w-survivor-{new_object_id()}",
        worker_dead_seconds=0.05,
    )
    dbos_executor.start(store, survivor)
    # Only this test's team: other tests' rows share the database.
    monkeypatch.setattr(
        dbos_recovery,
        "recover",
        functools.partial(dbos_recovery.recover, teams={caller.team_id}),
    )
    await asyncio.sleep(0.1)
    loop = asyncio.create_task(
        recovery.live_forever(store, survivor, kind="serve", interval=0.05)
    )
    try:
        done, outcome = await turn(
            store, caller, survivor, wid, says("hi"), doc.id, key="loop-crash"
        )
    finally:
        await processes.stop(store, survivor, [loop])
    assert done.status == "waiting_for_user_input" and said(outcome) == ["Two."]
    assert gate.calls == 2 and len(survivor_llm.requests) == 1
    assert dbos_executor.bound() is None
