"""A turn appends what it adds: the run row stays the same size however long the
conversation, the whole history reads back exactly, and a run stored before (the
whole history in its row) is read and continued, with or without the migration."""

import json
from dataclasses import replace
from typing import Any

from sqlalchemy import text

from threadline.ids import new_object_id
from threadline.providers.fake import ScriptedLLM
from threadline.service.caller import Caller
from threadline.service.definitions import workflows
from threadline.service.running import run_history, run_records
from threadline.service.running.runs import run_one_turn
from threadline.service.runtime import Runtime
from threadline.service.turns import TurnRequest
from threadline.store import Store, open_store
from threadline.store import dialect as store_dialect
from threadline.store import history_log as log
from threadline.store.history_log import HistoryCache
from threadline.store.migrations import LATEST_VERSION

JsonDict = dict[str, Any]
START = {"command": "start", "thread_to_node_inputs": {"0": {"node_run_inputs": []}}}


def says(message: str) -> JsonDict:
    return {
        "command": "data",
        "thread_to_node_inputs": {
            "0": {
                "node_run_inputs": [
                    {"type": "llm", "messages": [{"type": "human", "content": message}]}
                ]
            }
        },
    }


CHAT = {
    "name": "Chat",
    "node_configs": [
        {
            "type": "say_static",
            "logical_id": "node_greet",
            "name": "Greeting",
            "is_start": True,
            "static_messages_config": {"static_messages": ["Welcome!"]},
        },
        {
            "type": "say_llm",
            "logical_id": "node_chat",
            "name": "Assistant",
            "self_loop": True,
            "wait_for_user_message": True,
            "main_response_config": {"prompt": "You help."},
        },
    ],
    "edge_configs": [
        {
            "source_node_logical_id": "node_greet",
            "destination_node_logical_id": "node_chat",
        }
    ],
}


class Chat:
    """One conversation through ``run_one_turn``."""

    def __init__(self, store: Store, runtime: Runtime, llm: ScriptedLLM) -> None:
        self.store, self.runtime, self.llm = store, runtime, llm
        self.caller = Caller(team_id=new_object_id(), user_id="u")
        self.workflow_id = ""
        self.run_id: str | None = None

    async def start(self) -> None:
        created = await workflows.create(self.store, self.caller, CHAT)
        self.workflow_id = str(created["_id"])
        doc, _ = await self.turn(START)
        self.run_id = doc.id

    async def turn(self, raw: JsonDict) -> Any:
        request = TurnRequest(
            workflow_id=self.workflow_id,
            run_id=self.run_id,
            raw_input=raw,
            field="run_input",
        )
        return await run_one_turn(self.store, self.caller, self.runtime, request)

    async def say(self, n: int) -> None:
        self.llm.extend(f"answer {n}")
        _, outcome = await self.turn(says(f"question {n}"))
        assert outcome.status == "waiting_for_user_input", outcome.error

    async def row(self) -> JsonDict:
        async with self.store.begin() as tx:
            doc = await tx.documents("workflow_runs").get(
                self.caller.team_id, str(self.run_id)
            )
        assert doc is not None
        return doc.body

    async def whole_state(self) -> JsonDict:
        async with self.store.begin() as tx:
            doc = await tx.documents("workflow_runs").get(
                self.caller.team_id, str(self.run_id)
            )
            assert doc is not None
            state: JsonDict = (await run_history.whole(tx, doc)).body["state"]
        return state


def expected_history(turns: int) -> list[JsonDict]:
    said: list[JsonDict] = [{"type": "ai", "content": "Welcome!"}]
    for n in range(turns):
        said += [
            {"type": "human", "content": f"question {n}"},
            {"type": "ai", "content": f"answer {n}"},
        ]
    return said


def texts(history: list[JsonDict]) -> list[tuple[str, str]]:
    """The conversation, without the engine's internal memos."""
    return [
        (m["type"], m["content"])
        for m in history
        if not str(m["content"]).startswith("[Internal-only memo]")
    ]


async def test_fifty_turns_leave_the_run_row_the_same_size(store: Store):
    llm = ScriptedLLM(latency_ms=0)
    chat = Chat(store, Runtime(llm=llm), llm)
    await chat.start()
    sizes = []
    for n in range(50):
        await chat.say(n)
        row = await chat.row()
        assert row["state"]["threads"]["0"]["history"] == []
        sizes.append(len(json.dumps(row["state"])))
    # Only counters grow a digit or two; 101 messages are not in the row.
    assert max(sizes) - min(sizes) < 40, sizes
    state = await chat.whole_state()
    assert texts(state["threads"]["0"]["history"]) == texts(expected_history(50))
    # The last request carried the whole conversation to the model.
    request = [(m.role, m.content) for m in llm.requests[-1].messages]
    assert request[-1] == ("user", "question 49")
    assert ("user", "question 0") in request and ("assistant", "answer 48") in request
    assert len(llm.requests[-1].messages) >= 100


async def test_a_second_process_reads_what_the_first_appended(store: Store):
    llm = ScriptedLLM(latency_ms=0)
    chat = Chat(store, Runtime(llm=llm), llm)
    await chat.start()
    await chat.say(0)
    # Another process (its own cache) takes the next turns, then this one again.
    other = Runtime(llm=llm, history_cache=HistoryCache(4))
    first = chat.runtime
    chat.runtime = other
    await chat.say(1)
    await chat.say(2)
    chat.runtime = first
    await chat.say(3)
    state = await chat.whole_state()
    assert texts(state["threads"]["0"]["history"]) == texts(expected_history(4))
    request = [(m.role, m.content) for m in llm.requests[-1].messages]
    assert ("user", "question 2") in request and ("assistant", "answer 2") in request


async def _older_shape(store: Store, chat: Chat) -> None:
    """Rewrite the run as runs were stored before: the whole state in the row."""
    state = await chat.whole_state()
    body = {k: v for k, v in (await chat.row()).items() if k != log.MARK}
    body["state"] = state
    async with store.begin() as tx:
        doc = await tx.documents("workflow_runs").get(
            chat.caller.team_id, str(chat.run_id)
        )
        assert doc is not None
        await tx.documents("workflow_runs").replace(replace(doc, body=body))
        pairs = await tx.turns().list(chat.caller.team_id, str(chat.run_id))
        await tx.turns().delete_run(chat.caller.team_id, str(chat.run_id))
        for index, pair in enumerate(pairs):
            await tx.turns().append(
                chat.caller.team_id, str(chat.run_id), index, pair, doc.created_at
            )


async def test_a_run_stored_in_the_older_shape_is_read_and_continued(store: Store):
    llm = ScriptedLLM(latency_ms=0)
    chat = Chat(store, Runtime(llm=llm), llm)
    await chat.start()
    for n in range(3):
        await chat.say(n)
    await _older_shape(store, chat)
    assert log.MARK not in await chat.row()
    before = await run_records.load(store, chat.caller, str(chat.run_id))
    assert len(before["workflow_run"]["input_output_pairs"]) == 4
    chat.runtime = Runtime(llm=llm)  # a process that never saw the run
    await chat.say(3)
    row = await chat.row()
    assert row[log.MARK]["rows"] == 1  # the first save wrote the whole lists once
    state = await chat.whole_state()
    assert texts(state["threads"]["0"]["history"]) == texts(expected_history(4))


async def test_the_migration_moves_histories_out_of_older_rows(
    store: Store, database_url: str
):
    llm = ScriptedLLM(latency_ms=0)
    chat = Chat(store, Runtime(llm=llm), llm)
    await chat.start()
    for n in range(3):
        await chat.say(n)
    await _older_shape(store, chat)
    visited = (await chat.whole_state())["threads"]["0"]["visited"]
    engine = store_dialect.create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE threadline_schema_version SET version = 13")
            )
    finally:
        await engine.dispose()
    migrated = open_store(database_url)
    chat.store = migrated
    try:
        assert await migrated.migrate() == LATEST_VERSION - 13
        assert await migrated.migrate() == 0
        row = await chat.row()
        assert row[log.MARK]["rows"] == 1
        assert row["state"]["threads"]["0"]["history"] == []
        state = await chat.whole_state()
        assert texts(state["threads"]["0"]["history"]) == texts(expected_history(3))
        assert state["threads"]["0"]["visited"] == visited
        chat.runtime = Runtime(llm=llm)
        await chat.say(3)
        state = await chat.whole_state()
        assert texts(state["threads"]["0"]["history"]) == texts(expected_history(4))
        assert (await chat.row())[log.MARK]["rows"] == 2
    finally:
        await migrated.close()
