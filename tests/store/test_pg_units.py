"""PostgreSQL's units of work on kept connections (``store/pg_units.py``): what one
commits is committed for everyone, what one leaves by an error or a cancellation
is rolled back, and no connection is handed out inside a transaction."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import exc, text

from threadline.ids import new_object_id
from threadline.store import open_store, pg_engine, pg_units
from threadline.store.sql import SqlStore


@pytest.fixture
async def pg(database_url: str) -> AsyncIterator[tuple[SqlStore, str, str]]:
    """A PostgreSQL store, a probe table of its own and a plain asyncpg URL."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only (make test-pg)")
    store = open_store(database_url)
    assert isinstance(store, SqlStore)
    table = f"unit_probe_{new_object_id()}"
    async with store.begin() as tx:
        await tx.conn.execute(text(f"CREATE TABLE {table} (n integer)"))
    try:
        yield store, table, database_url.replace("+asyncpg", "", 1)
    finally:
        async with store.begin() as tx:
            await tx.conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        await store.close()


async def _seen(plain_url: str, table: str) -> list[int]:
    """The rows another connection sees (committed ones only)."""
    other = await asyncpg.connect(plain_url)
    try:
        return sorted(r["n"] for r in await other.fetch(f"SELECT n FROM {table}"))
    finally:
        await other.close()


async def _insert(store: SqlStore, table: str, n: int, lock: bool = True) -> None:
    async with store.begin() as tx:
        if lock:
            await tx.lock(f"probe:{n}")  # BEGIN and the lock in one query
        await tx.conn.execute(text(f"INSERT INTO {table} VALUES (:n)"), {"n": n})


def _in_transaction(store: SqlStore) -> list[bool]:
    """For each kept connection: whether its driver is inside a transaction."""
    units: Any = store._units
    return [
        bool(
            conn.sync_connection.connection.dbapi_connection._connection.is_in_transaction()
        )
        for conn, _ in units._free
    ]


async def test_units_commit_for_everyone_and_a_failed_one_rolls_back(
    pg: tuple[SqlStore, str, str],
):
    store, table, plain = pg
    for n in range(3):
        await _insert(store, table, n, lock=n != 1)
    with pytest.raises(RuntimeError):
        async with store.begin() as tx:
            await tx.lock("probe:failed")
            await tx.conn.execute(text(f"INSERT INTO {table} VALUES (99)"))
            raise RuntimeError("roll back")
    with pytest.raises(exc.ProgrammingError):  # a failed statement
        async with store.begin() as tx:
            await tx.conn.execute(text(f"INSERT INTO {table} VALUES (98)"))
            await tx.conn.execute(text("SELECT * FROM no_such_table"))
    await _insert(store, table, 3)
    assert await _seen(plain, table) == [0, 1, 2, 3]
    assert not any(_in_transaction(store))


@pytest.mark.parametrize("first", ["lock", "prepared"])
async def test_a_unit_cancelled_in_flight_leaves_no_connection_in_a_transaction(
    pg: tuple[SqlStore, str, str], first: str
):
    store, table, plain = pg
    await _insert(store, table, 0)  # one kept connection, used a moment ago
    for pause in range(4):  # cancelled at a different point each time

        async def unit(at: int = pause) -> None:
            async with store.begin() as tx:
                if first == "lock":  # BEGIN with the lock
                    await tx.lock(f"probe:cancel:{at}")
                else:  # BEGIN before a statement below SQLAlchemy
                    await tx.commands().get(f"probe-{at}")
                await tx.conn.execute(text(f"INSERT INTO {table} VALUES (-1)"))
                await tx.conn.execute(text("SELECT pg_sleep(5)"))

        task = asyncio.ensure_future(unit())
        for _ in range(pause):
            await asyncio.sleep(0)
        if pause == 3:
            await asyncio.sleep(0.2)  # inside pg_sleep, the INSERT sent
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.05)  # any answer in flight arrives
        assert not any(_in_transaction(store))
        await _insert(store, table, pause + 1)
    assert await _seen(plain, table) == [0, 1, 2, 3, 4]


async def test_a_unit_waits_for_a_connection_when_all_are_in_use(
    pg: tuple[SqlStore, str, str], monkeypatch: Any
):
    store, table, plain = pg
    await store._units.close()  # type: ignore[union-attr]
    store._units = pg_units.PgUnits(store._engine, size=2)
    held = asyncio.Event()
    release = asyncio.Event()

    async def holding(n: int) -> None:
        async with store.begin() as tx:
            await tx.conn.execute(text(f"INSERT INTO {table} VALUES (:n)"), {"n": n})
            held.set()
            await release.wait()

    holders = [asyncio.ensure_future(holding(n)) for n in (1, 2)]
    await held.wait()
    await asyncio.sleep(0.05)
    waiting = asyncio.ensure_future(_insert(store, table, 3))
    gives_up = asyncio.ensure_future(_insert(store, table, 4))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    gives_up.cancel()  # a waiter that leaves passes its turn on
    release.set()
    await asyncio.gather(*holders, waiting)
    with contextlib.suppress(asyncio.CancelledError):
        await gives_up
    assert await _seen(plain, table) == [1, 2, 3]


async def test_a_kept_connection_the_server_dropped_is_replaced(
    pg: tuple[SqlStore, str, str], monkeypatch: Any
):
    store, table, plain = pg
    async with store.begin() as tx:
        pid = (await tx.conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    other = await asyncpg.connect(plain)
    try:
        await other.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await other.close()
    monkeypatch.setattr(pg_engine, "PING_AFTER_S", 0.0)  # it counts as idle
    await _insert(store, table, 1)
    assert await _seen(plain, table) == [1]
