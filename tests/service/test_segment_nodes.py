"""A segment's visited nodes are stored as a reference to the run's history rows
and read back as the lists each turn ended with; segments stored whole (before
this) read as they are, next to new ones."""

import json
import zlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from tests.service.test_run_history import Chat
from threadline.providers.fake import ScriptedLLM
from threadline.service.running import run_records
from threadline.service.runtime import Runtime
from threadline.store import Store, segment_nodes
from threadline.store import dialect as store_dialect
from threadline.store.history_log import HistoryCache
from threadline.store.schema import run_turns

JsonDict = dict[str, Any]


def nodes(pair: JsonDict) -> Any:
    return pair["iteration_end_state_miscellaneous"]["thread_id_to_nodes_history"]


async def visited_now(chat: Chat) -> dict[str, list[str]]:
    threads = (await chat.whole_state())["threads"]
    return {t: thread["visited"] for t, thread in threads.items()}


async def stored_misc(database_url: str, run_id: str) -> list[JsonDict]:
    """Each stored segment's ``iteration_end_state_miscellaneous``, as stored."""
    engine = store_dialect.create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(run_turns.c.body_zlib)
                .where(run_turns.c.run_id == run_id)
                .order_by(run_turns.c.turn_index)
            )
            packed = [r[0] for r in rows]
    finally:
        await engine.dispose()
    return [json.loads(zlib.decompress(p))[segment_nodes.MISC] for p in packed]


async def test_each_turn_reads_back_with_the_nodes_it_had_visited(
    store: Store, database_url: str
):
    llm = ScriptedLLM(latency_ms=0)
    chat = Chat(store, Runtime(llm=llm), llm)
    await chat.start()
    expected = [await visited_now(chat)]
    for n in range(6):
        if n == 3:  # another process (its own cache) takes a turn
            chat.runtime = Runtime(llm=llm, history_cache=HistoryCache(4))
        await chat.say(n)
        expected.append(await visited_now(chat))
    assert len(expected[-1]["0"]) > len(expected[1]["0"]) > len(expected[0]["0"])
    run = await run_records.load(store, chat.caller, str(chat.run_id))
    pairs = run["workflow_run"]["input_output_pairs"]
    assert [nodes(p) for p in pairs] == expected
    # The same keys in the same order as a segment built whole.
    assert list(pairs[-1]["iteration_end_state_miscellaneous"]) == [
        "thread_id_to_nodes_history",
        "active_thread_ids",
    ]
    # What is stored for each turn is a reference, not the growing list.
    stored = await stored_misc(database_url, str(chat.run_id))
    assert len(stored) == len(expected)
    for misc in stored:
        assert misc["thread_id_to_nodes_history"] is None
        assert misc[segment_nodes.REF]["threads"] == ["0"]


async def test_segments_stored_whole_read_next_to_new_ones(
    store: Store, database_url: str
):
    llm = ScriptedLLM(latency_ms=0)
    chat = Chat(store, Runtime(llm=llm), llm)
    await chat.start()
    expected = [await visited_now(chat)]
    for n in range(3):
        await chat.say(n)
        expected.append(await visited_now(chat))
    team, run_id = chat.caller.team_id, str(chat.run_id)
    # Store the first four segments as they were stored before: whole.
    async with store.begin() as tx:
        pairs = await tx.turns().list(team, run_id)
        for index, pair in enumerate(pairs):
            assert await tx.turns().replace(
                team, run_id, index, pair, datetime.now(UTC)
            )
    assert all(
        isinstance(m["thread_id_to_nodes_history"], dict) and segment_nodes.REF not in m
        for m in await stored_misc(database_url, run_id)
    )
    chat.runtime = Runtime(llm=llm)  # a process that never saw the run
    for n in range(3, 5):
        await chat.say(n)
        expected.append(await visited_now(chat))
    run = await run_records.load(store, chat.caller, run_id)
    assert [nodes(p) for p in run["workflow_run"]["input_output_pairs"]] == expected
    assert segment_nodes.REF in (await stored_misc(database_url, run_id))[-1]


def test_expand_applies_cuts_and_serves_references_in_any_order():
    rows = [
        (0, {"threads": {"0": {"visited": [0, ["a", "b"]], "history": [0, [1]]}}}),
        (1, {"threads": {"1": {"visited": [0, ["x"]]}}}),
        (2, {"threads": {"0": {"visited": [1, ["c"]]}}}),  # cut to ["a"], then c
        (3, {"threads": {"0": {"history": [1, [2]]}}}),  # no visited change
    ]

    def ref(count: int, threads: list[str]) -> JsonDict:
        misc: JsonDict = {"thread_id_to_nodes_history": None}
        misc[segment_nodes.REF] = {"rows": count, "threads": threads}
        return {"run_output": {}, segment_nodes.MISC: misc}

    whole = {segment_nodes.MISC: {"thread_id_to_nodes_history": {"0": ["z"]}}}
    segments = [ref(4, ["0", "1"]), ref(1, ["0"]), whole, ref(3, ["1", "0"])]
    segment_nodes.expand(segments, rows)
    assert [nodes(s) for s in segments] == [
        {"0": ["a", "c"], "1": ["x"]},
        {"0": ["a", "b"]},
        {"0": ["z"]},
        {"1": ["x"], "0": ["a", "c"]},
    ]
    assert all(segment_nodes.REF not in s[segment_nodes.MISC] for s in segments)


def test_a_segment_whose_lists_are_not_the_stored_ones_stays_whole():
    segment = {segment_nodes.MISC: {"thread_id_to_nodes_history": {"0": ["a"]}}}
    stored = {"0": {"visited": ["a"], "history": []}}
    assert segment_nodes.by_reference(segment, stored, 2)[segment_nodes.MISC] == {
        "thread_id_to_nodes_history": None,
        segment_nodes.REF: {"rows": 2, "threads": ["0"]},
    }
    for other in ({"0": {"visited": ["a", "b"]}}, {}, {"1": {"visited": ["a"]}}):
        assert segment_nodes.by_reference(segment, other, 2) is segment
