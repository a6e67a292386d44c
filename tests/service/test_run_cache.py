"""A waiting run's row kept between its turns is used only while it is the row.

Each process keeps the row its last turn of a run stored (``store.run_cache``);
the next command checks it in its status ``UPDATE`` (status and ``updated_at``)
and reads the row when it changed. What a user would see if a stale or another
team's row were used: a turn that forgets what another process did, a change to
the run undone, a command the run's status forbids, another team's run.
"""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tests.service.test_run_history import Chat, expected_history, says, texts
from threadline.errors import Conflict, NotFound
from threadline.ids import new_object_id
from threadline.providers.fake import ScriptedLLM
from threadline.service.caller import Caller
from threadline.service.runtime import Runtime
from threadline.store import Store, open_store
from threadline.store.history_log import HistoryCache
from threadline.store.run_cache import RunCache
from threadline.store.sql_documents import SqlDocuments


async def _chat(store: Store, cache: RunCache | None = None) -> Chat:
    llm = ScriptedLLM(latency_ms=0)
    runtime = Runtime(llm=llm) if cache is None else Runtime(llm=llm, run_cache=cache)
    chat = Chat(store, runtime, llm)
    await chat.start()
    return chat


async def _history(chat: Chat) -> list[tuple[str, str]]:
    return texts((await chat.whole_state())["threads"]["0"]["history"])


async def test_a_turn_after_another_process_took_turns_continues_from_them(
    store: Store, database_url: str
):
    chat = await _chat(store)
    await chat.say(0)
    assert len(chat.runtime.run_cache) == 1  # this process keeps the row
    other = open_store(database_url)  # another process: its own handle and caches
    try:
        first = chat.runtime
        chat.store = other
        chat.runtime = Runtime(llm=chat.llm, history_cache=HistoryCache(4))
        await chat.say(1)
        await chat.say(2)
        chat.store, chat.runtime = store, first
        await chat.say(3)
    finally:
        await other.close()
    assert await _history(chat) == texts(expected_history(4))
    request = [(m.role, m.content) for m in chat.llm.requests[-1].messages]
    assert ("user", "question 2") in request and ("assistant", "answer 2") in request
    assert (await chat.row())["turn_count"] == 5


async def test_a_change_written_elsewhere_between_turns_is_kept(
    store: Store, database_url: str
):
    chat = await _chat(store)
    await chat.say(0)
    other = open_store(database_url)
    try:  # another process marks the run, leaving its status as it was
        async with other.begin() as tx:
            runs = tx.documents("workflow_runs")
            doc = await runs.get(chat.caller.team_id, str(chat.run_id))
            assert doc is not None and doc.status == "waiting_for_user_input"
            record = {**doc.body["workflow_run"], "marked_elsewhere": True}
            changed = replace(
                doc,
                body={**doc.body, "workflow_run": record},
                updated_at=datetime.now(UTC),
            )
            assert await runs.replace(changed, expected_status=doc.status)
    finally:
        await other.close()
    await chat.say(1)  # this process's kept row is not the row any more
    row = await chat.row()
    assert row["workflow_run"]["marked_elsewhere"] is True
    assert row["turn_count"] == 3
    assert await _history(chat) == texts(expected_history(2))


async def test_pause_resume_and_stop_between_turns_are_honoured(store: Store):
    chat = await _chat(store)
    await chat.say(0)
    _, paused = await chat.turn({"command": "pause"})
    assert paused.status == "paused"
    with pytest.raises(Conflict):  # a paused run takes no message
        await chat.turn(says("while paused"))
    _, resumed = await chat.turn({"command": "resume"})
    assert resumed.status == "waiting_for_user_input"
    await chat.say(1)
    _, stopped = await chat.turn({"command": "stop"})
    assert stopped.status == "cancelled"
    with pytest.raises(Conflict):
        await chat.turn(says("after the stop"))
    with pytest.raises(Conflict):
        await chat.turn({"command": "resume"})
    assert await _history(chat) == texts(expected_history(2))


async def test_a_run_deleted_elsewhere_is_not_found(store: Store, database_url: str):
    chat = await _chat(store)
    await chat.say(0)
    other = open_store(database_url)
    try:
        async with other.begin() as tx:
            await tx.turns().delete_run(chat.caller.team_id, str(chat.run_id))
            assert await tx.documents("workflow_runs").delete(
                chat.caller.team_id, str(chat.run_id)
            )
    finally:
        await other.close()
    with pytest.raises(NotFound):
        await chat.turn(says("anyone there?"))


async def test_another_team_never_reaches_a_kept_run(store: Store):
    chat = await _chat(store)
    await chat.say(0)
    owner = chat.caller
    chat.caller = Caller(team_id=new_object_id(), user_id="intruder")
    for raw in (says("hello"), {"command": "stop"}):
        with pytest.raises(NotFound):
            await chat.turn(raw)
    chat.caller = owner
    await chat.say(1)  # the owner's run is untouched and continues
    assert await _history(chat) == texts(expected_history(2))


async def test_the_cache_holds_at_most_its_size_and_turns_stay_right(store: Store):
    cache = RunCache(2)
    chats = [await _chat(store, cache) for _ in range(3)]
    for n in range(3):
        for chat in chats:  # three runs through a cache of two: each one evicted
            await chat.say(n)
            assert len(cache) <= 2
    for chat in chats:
        assert await _history(chat) == texts(expected_history(3))
        assert (await chat.row())["turn_count"] == 4


async def test_size_zero_keeps_nothing_and_behaves_the_same(store: Store):
    kept, plain = await _chat(store), await _chat(store, RunCache(0))
    for n in range(3):
        await kept.say(n)
        await plain.say(n)
    assert len(plain.runtime.run_cache) == 0
    assert await _history(plain) == await _history(kept)
    a, b = await kept.row(), await plain.row()
    assert a["turn_count"] == b["turn_count"] == 4
    assert a["state"]["turn"] == b["state"]["turn"]
    _, stopped = await plain.turn({"command": "stop"})
    assert stopped.status == "cancelled"


async def test_the_kept_row_is_used_until_the_row_changes(
    store: Store, database_url: str, monkeypatch: pytest.MonkeyPatch
):
    """The check matches the row this process wrote (on every database): the
    next command reads no run row; after a change elsewhere it reads it once."""
    reads: list[str] = []
    original = SqlDocuments.get

    async def counted(self: SqlDocuments, team_id: str, doc_id: str) -> object:
        if self._table.name == "workflow_runs":
            reads.append(doc_id)
        return await original(self, team_id, doc_id)

    chat = await _chat(store)
    await chat.say(0)
    monkeypatch.setattr(SqlDocuments, "get", counted)
    await chat.say(1)
    assert reads == []
    other = open_store(database_url)
    try:
        async with other.begin() as tx:
            assert await tx.documents("workflow_runs").set_status(
                chat.caller.team_id,
                str(chat.run_id),
                "waiting_for_user_input",
                expected_status="waiting_for_user_input",
                at=datetime.now(UTC),
                by="elsewhere",
            )
    finally:
        await other.close()
    reads.clear()
    await chat.say(2)
    assert reads == [chat.run_id]
    reads.clear()
    await chat.say(3)
    assert reads == []
    assert await _history(chat) == texts(expected_history(4))
