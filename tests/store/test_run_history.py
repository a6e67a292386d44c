"""A run's growing lists (chat history, visited nodes) are appended, not rewritten:
``run_history`` rows on every database, and the pure split/join of ``history_log``."""

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from threadline.ids import new_object_id
from threadline.store import Store
from threadline.store import history_log as log

T0 = datetime(2026, 1, 1, tzinfo=UTC)
JsonDict = dict[str, Any]


async def test_history_rows_read_back_in_order_from_any_row_and_go_with_the_run(
    store: Store,
):
    team, run, other = new_object_id(), new_object_id(), new_object_id()
    rows = [
        {"threads": {"0": {"history": [i, [{"type": "human", "content": f"é {i}"}]]}}}
        for i in range(3)
    ]
    async with store.begin() as tx:
        for seq, row in enumerate(rows):
            await tx.turns().append_history(team, run, seq, row, T0)
        await tx.turns().append_history(team, other, 0, rows[0], T0)
    async with store.begin() as tx:
        assert await tx.turns().history(team, run) == rows
        assert await tx.turns().history(team, run, 2) == rows[2:]
        assert await tx.turns().history(team, run, 3) == []
        assert await tx.turns().history(new_object_id(), run) == []  # other team
    async with store.begin() as tx:
        await tx.turns().delete_run(team, run)
    async with store.begin() as tx:
        assert await tx.turns().history(team, run) == []
        assert await tx.turns().history(team, other) == [rows[0]]


async def test_a_history_row_is_never_written_twice(store: Store):
    team, run = new_object_id(), new_object_id()
    async with store.begin() as tx:
        await tx.turns().append_history(team, run, 0, {"threads": {}}, T0)
    with pytest.raises(Exception):  # noqa: B017,PT011  # the key is (run, seq)
        async with store.begin() as tx:
            await tx.turns().append_history(team, run, 0, {"threads": {}}, T0)


def _body(threads: dict[str, tuple[list[Any], list[str]]]) -> JsonDict:
    return {
        "workflow_run": {"status": "waiting_for_user_input"},
        "state": {
            "turn": 3,
            "threads": {
                t: {"thread_id": t, "status": "waiting", "history": h, "visited": v}
                for t, (h, v) in threads.items()
            },
        },
        "turn_count": 3,
    }


def _msg(n: int) -> JsonDict:
    return {"type": "human" if n % 2 else "ai", "content": f"message {n}"}


def _save(body: JsonDict, stored: list[JsonDict]) -> JsonDict:
    """Split ``body`` as a save does; append its row to ``stored``; return the row
    body read back whole from the rows."""
    row, change = log.split(copy.deepcopy(body))
    if change is not None:
        stored.append(change)
    assert log.rows_count(row) == len(stored)
    for thread in row["state"]["threads"].values():
        assert thread["history"] == [] and thread["visited"] == []
    return log.join(row, stored)


def test_appends_rewrites_cuts_and_new_threads_read_back_exactly():
    stored: list[JsonDict] = []
    _save(_body({"0": ([_msg(0)], ["greet"])}), stored)
    steps = [
        {"0": ([_msg(0), _msg(1), _msg(2)], ["greet", "chat"])},  # appended
        {"0": ([_msg(0), _msg(1), _msg(2)], ["greet", "chat"])},  # unchanged
        {"0": ([_msg(0)], ["greet", "chat"]), "1": ([_msg(9)], [])},  # cut; new
        {"0": ([{"type": "ai", "content": "[REDACTED]"}, _msg(5)], ["x"])},  # rewrite
        {"0": ([], []), "1": ([_msg(9), _msg(10)], ["c"])},  # emptied; appended
        {"1": ([_msg(9), _msg(10)], ["c"])},  # thread 0 gone
        {"0": ([], []), "1": ([_msg(9), _msg(10)], ["c"])},  # and back, empty
    ]
    for threads in steps:
        body = _body(threads)
        row, change = log.split({**body, log.BASE: _base(stored)})
        if change is not None:
            stored.append(change)
        assert log.join(row, stored)["state"] == body["state"]
    # The unchanged save, the thread leaving and coming back empty wrote no row.
    assert len(stored) == 5


def _base(stored: list[JsonDict]) -> JsonDict:
    return {"rows": len(stored), "lists": log.accumulated(copy.deepcopy(stored))}


def test_a_run_in_the_older_shape_reads_as_it_is_and_its_next_save_writes_it_all():
    old = _body({"0": ([_msg(0), _msg(1)], ["greet", "chat"])})
    whole = log.join(old, [])
    assert whole["state"] == old["state"]
    row, change = log.split(whole)
    assert change == {
        "threads": {
            "0": {
                "history": [0, old["state"]["threads"]["0"]["history"]],
                "visited": [0, ["greet", "chat"]],
            }
        }
    }
    assert log.join(row, [change])["state"] == old["state"]


def test_the_row_and_each_change_stay_the_same_size_as_the_history_grows():
    stored: list[JsonDict] = []
    history: list[JsonDict] = []
    row_sizes, change_sizes = set(), set()
    base: JsonDict | None = None
    row: JsonDict = {}
    body: JsonDict = {}
    for turn in range(50):
        history = [*history, _msg(1), _msg(2)]
        body = _body({"0": (history, ["chat"] * (turn + 1))})
        if base is not None:
            body[log.BASE] = base
        row, change = log.split(body)
        assert change is not None
        stored.append(change)
        base = log.after_save(body, row)[log.BASE]
        row_sizes.add(len(json.dumps({k: v for k, v in row.items() if k != log.MARK})))
        change_sizes.add(len(json.dumps(change)) - len(str(2 * turn)) - len(str(turn)))
    assert len(row_sizes) == 1
    assert len(change_sizes) == 1  # only the digits of the start index grow
    assert log.join(row, stored)["state"] == body["state"]


async def test_segments_carry_history_rows_read_in_order_with_the_others(
    store: Store,
):
    team, run = new_object_id(), new_object_id()
    rows = [{"threads": {"0": {"history": [i, [_msg(i)]]}}} for i in range(4)]
    segment = {"run_input": {"command": "data"}, "run_output": {"events": []}}
    async with store.begin() as tx:
        await tx.turns().append_history(team, run, 0, rows[0], T0)
        await tx.turns().append(team, run, 0, segment, T0, history=(1, rows[1]))
        await tx.turns().append(team, run, 1, segment, T0)  # a turn adding none
        await tx.turns().append_history(team, run, 2, rows[2], T0)
        await tx.turns().append(team, run, 2, segment, T0, history=(3, rows[3]))
    async with store.begin() as tx:
        assert await tx.turns().history(team, run) == rows
        assert await tx.turns().history(team, run, 1) == rows[1:]
        assert await tx.turns().history(team, run, 3) == rows[3:]
        assert await tx.turns().list(team, run) == [segment] * 3
        # Feedback rewrites a segment: the history it carries stays.
        assert await tx.turns().replace(team, run, 0, {**segment, "ratings": []}, T0)
        assert await tx.turns().history(team, run) == rows
        await tx.turns().delete_run(team, run)
        assert await tx.turns().history(team, run) == []
