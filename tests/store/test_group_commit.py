"""Concurrent write units: each durable and visible, each atomic on its own.

The first tests run on both stores (SQLite, and PostgreSQL with
``THREADLINE_TEST_DATABASE_URL``); the rest look inside SQLite's group commit.
"""

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from threadline.ids import new_object_id
from threadline.store import Document, Query, Store, open_store, sqlite_loop
from threadline.store.sql import SqlStore
from threadline.store.sql_knowledge import OFF_LOOP

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def doc(team: str, name: str) -> Document:
    return Document(
        id=new_object_id(), team_id=team, body={"n": name}, name=name,
        created_at=T0, updated_at=T0,
    )  # fmt: skip


class Boom(Exception):
    pass


async def write(store: Store, team: str, name: str, *, fail: bool = False) -> None:
    async with store.begin() as tx:
        await tx.documents("workflows").insert(doc(team, f"{name}-a"))
        await asyncio.sleep(0)  # let the other units queue behind this one
        await tx.documents("workflows").insert(doc(team, f"{name}-b"))
        if fail:
            raise Boom(name)


async def names(store: Store, team: str) -> set[str]:
    async with store.begin() as tx:
        found, _ = await tx.documents("workflows").find(team, Query())
    return {d.name for d in found if d.name is not None}


async def test_concurrent_units_all_land_and_a_failing_one_changes_nothing(
    store: Store,
):
    team = new_object_id()
    jobs = [write(store, team, f"u{i}", fail=i % 4 == 1) for i in range(12)]
    results = await asyncio.gather(*jobs, return_exceptions=True)

    failed = {i for i, r in enumerate(results) if isinstance(r, Boom)}
    assert failed == {1, 5, 9}
    assert all(r is None for i, r in enumerate(results) if i not in failed)
    expected = {f"u{i}-{part}" for i in range(12) if i not in failed for part in "ab"}
    assert await names(store, team) == expected


async def test_writes_of_concurrent_units_are_in_the_file_when_they_return(
    tmp_path: Path,
):
    path = tmp_path / "g.db"
    store = open_store(f"sqlite:///{path}")
    await store.migrate()
    team = new_object_id()
    try:
        await asyncio.gather(*(write(store, team, f"u{i}") for i in range(8)))
        # Another connection (as another process would) sees every unit.
        with sqlite3.connect(path) as other:
            rows = other.execute(
                "SELECT name FROM workflows WHERE team_id = ?", (team,)
            ).fetchall()
        assert sorted(r[0] for r in rows) == sorted(
            f"u{i}-{part}" for i in range(8) for part in "ab"
        )
    finally:
        await store.close()


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
async def test_units_that_queue_together_share_one_commit(
    tmp_path: Path, synchronous: str
):
    store = open_store(f"sqlite:///{tmp_path / 'g.db'}", sqlite_synchronous=synchronous)
    await store.migrate()
    assert isinstance(store, SqlStore)
    group = store._serial
    assert group is not None
    team = new_object_id()
    try:
        before = group.commits
        await asyncio.gather(*(write(store, team, f"u{i}") for i in range(10)))
        # Every unit waited behind the first one's ``sleep(0)``: all ten were
        # queued when it ended, so they went out in very few commits.
        assert group.commits - before < 10
        assert len(await names(store, team)) == 20
    finally:
        await store.close()


async def test_a_unit_failing_after_others_joined_keeps_theirs(tmp_path: Path):
    store = open_store(f"sqlite:///{tmp_path / 'g.db'}")
    await store.migrate()
    team = new_object_id()
    gate = asyncio.Event()

    async def first() -> None:
        async with store.begin() as tx:
            await tx.documents("workflows").insert(doc(team, "first"))
            await gate.wait()  # the others queue behind this unit

    async def failing() -> None:
        async with store.begin() as tx:
            await tx.documents("workflows").insert(doc(team, "failing"))
            raise Boom()

    async def last() -> None:
        async with store.begin() as tx:
            await tx.documents("workflows").insert(doc(team, "last"))

    try:
        tasks = [asyncio.create_task(f()) for f in (first, failing, last)]
        await asyncio.sleep(0.01)
        gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], Boom)
        assert await names(store, team) == {"first", "last"}
    finally:
        await store.close()


async def test_a_cancelled_waiter_does_not_strand_the_group(tmp_path: Path):
    store = open_store(f"sqlite:///{tmp_path / 'g.db'}")
    await store.migrate()
    team = new_object_id()
    gate = asyncio.Event()

    async def first() -> None:
        async with store.begin() as tx:
            await tx.documents("workflows").insert(doc(team, "first"))
            await gate.wait()

    try:
        holder = asyncio.create_task(first())
        await asyncio.sleep(0)
        waiter = asyncio.create_task(write(store, team, "gone"))
        await asyncio.sleep(0)
        gate.set()  # the holder ends while the waiter still queues ...
        await asyncio.sleep(0)
        waiter.cancel()  # ... and the waiter leaves before taking over
        await asyncio.wait_for(holder, 10)
        assert await names(store, team) == {"first"}
    finally:
        await store.close()


async def test_a_second_process_waits_for_the_write_lock(tmp_path: Path):
    """BEGIN IMMEDIATE waits (off the event loop) while another connection
    writes, then goes on; the loop keeps running meanwhile."""
    path = tmp_path / "g.db"
    store = open_store(f"sqlite:///{path}")
    await store.migrate()
    team = new_object_id()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        task = asyncio.create_task(write(store, team, "late"))
        ticks = 0
        while not task.done() and ticks < 5:
            await asyncio.sleep(0.01)  # the loop is free while it waits
            ticks += 1
        assert not task.done()
        other.execute("COMMIT")
        await asyncio.wait_for(task, 10)
        assert await names(store, team) == {"late-a", "late-b"}
    finally:
        other.close()
        await store.close()


async def test_an_unknown_synchronous_level_is_a_config_error():
    from threadline.errors import ConfigError

    with pytest.raises(ConfigError, match="THREADLINE_SQLITE_SYNCHRONOUS"):
        open_store("sqlite:///x.db", sqlite_synchronous="SOMETIMES")


async def test_the_write_ahead_log_is_checkpointed_and_stops_growing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Checkpoints run off the loop every few commits; without them the WAL
    file would grow with every write."""
    monkeypatch.setattr(sqlite_loop, "CHECKPOINT_EVERY", 5)
    path = tmp_path / "g.db"
    store = open_store(f"sqlite:///{path}")
    await store.migrate()
    team = new_object_id()
    wal = Path(f"{path}-wal")
    try:
        for i in range(10):
            await write(store, team, f"early{i}")
        early = wal.stat().st_size
        for i in range(100):
            await write(store, team, f"late{i}")
        assert wal.stat().st_size <= 2 * early
        assert len(await names(store, team)) == 220
    finally:
        await store.close()


async def test_searches_marked_off_loop_run_on_a_thread_and_keep_their_rows(
    tmp_path: Path,
):
    store = open_store(f"sqlite:///{tmp_path / 'g.db'}")
    await store.migrate()
    assert isinstance(store, SqlStore)
    loop_thread = threading.get_ident()
    try:
        async with store._engine.connect() as conn:
            raw = await conn.get_raw_connection()
            raw.driver_connection.create_function(  # type: ignore[union-attr]
                "thread_id", 0, threading.get_ident
            )
            sql = text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                "WHERE i < 500) SELECT i, thread_id() FROM n"
            )
            inline = (await conn.execute(sql)).all()
            away = (await conn.execute(sql.execution_options(**OFF_LOOP))).all()
        assert {t for _, t in inline} == {loop_thread}
        assert loop_thread not in {t for _, t in away}
        assert [i for i, _ in away] == list(range(1, 501))
    finally:
        await store.close()


async def test_a_broken_connection_is_replaced_for_the_next_unit(tmp_path: Path):
    store = open_store(f"sqlite:///{tmp_path / 'g.db'}")
    await store.migrate()
    assert isinstance(store, SqlStore)
    team = new_object_id()
    try:
        await write(store, team, "before")
        kept = store._serial._conn  # type: ignore[union-attr]
        assert kept is not None
        raw = await kept.get_raw_connection()
        raw.driver_connection.close()  # type: ignore[union-attr]  # as if lost
        with pytest.raises(Exception, match="closed"):
            await write(store, team, "lost")
        await write(store, team, "after")
        assert await names(store, team) == {
            "before-a", "before-b", "after-a", "after-b",
        }  # fmt: skip
    finally:
        await store.close()
