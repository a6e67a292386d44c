"""The PostgreSQL engine: JSON columns written by orjson exactly as before, and a
pooled connection pinged only after it sat idle (a dropped one is replaced)."""

import asyncio
import contextlib
import json
import math
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import exc, text

from threadline.ids import new_object_id
from threadline.store import dialect, pg_engine
from threadline.store.dialect import create_engine

BODIES: list[Any] = [
    {"a": 1, "b": [1.5, -2e-7, None, True], "c": {"d": 'Réponse — ✓ "q"\n\u2028'}},
    [],
    "text",
    9_007_199_254_740_991,
    {"nested": [[{"x": []}]]},
    (1, 2),
]


@pytest.mark.parametrize("body", BODIES)
def test_a_body_is_stored_as_the_same_json_value(body: Any):
    assert json.loads(pg_engine.dumps(body)) == json.loads(json.dumps(body))


@pytest.mark.parametrize("body", [{1: "a", None: "b"}, 2**70, [2**64]])
def test_what_orjson_refuses_is_written_by_json_dumps(body: Any):
    assert pg_engine.dumps(body) == json.dumps(body)


def test_what_json_dumps_refuses_is_still_refused():
    with pytest.raises(TypeError):
        pg_engine.dumps({"at": datetime(2026, 1, 1, tzinfo=UTC)})


def test_nan_is_stored_as_null_as_the_api_sends_it():
    assert json.loads(pg_engine.dumps({"x": math.nan, "y": math.inf})) == {
        "x": None,
        "y": None,
    }


def _pg_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only (make test-pg)")


class _Record:
    def __init__(self) -> None:
        self.info: dict[str, Any] = {}


class _Conn:
    def __init__(self, alive: bool = True) -> None:
        self.alive = alive
        self.pings = 0

    def ping(self) -> None:
        self.pings += 1
        if not self.alive:
            raise ConnectionError("closed")


def test_a_connection_used_a_moment_ago_is_not_pinged(monkeypatch: Any):
    now = [100.0]
    monkeypatch.setattr(pg_engine, "now", lambda: now[0])
    conn, record = _Conn(), _Record()
    pg_engine._on_checkout(conn, record, None)  # new: just connected
    pg_engine._on_checkin(conn, record)
    now[0] += pg_engine.PING_AFTER_S - 0.1
    pg_engine._on_checkout(conn, record, None)
    assert conn.pings == 0


def test_an_idle_connection_is_pinged_and_a_dead_one_is_given_up(monkeypatch: Any):
    now = [100.0]
    monkeypatch.setattr(pg_engine, "now", lambda: now[0])
    conn, record = _Conn(), _Record()
    pg_engine._on_checkin(conn, record)
    now[0] += pg_engine.PING_AFTER_S
    pg_engine._on_checkout(conn, record, None)
    assert conn.pings == 1
    dead = _Conn(alive=False)
    with pytest.raises(exc.DisconnectionError):
        pg_engine._on_checkout(dead, record, None)


async def test_a_pooled_connection_the_server_dropped_is_replaced(
    database_url: str, monkeypatch: Any
):
    _pg_only(database_url)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn, engine.connect():
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await conn.rollback()
        async with engine.connect() as killer:  # the second, back from the pool
            await killer.execute(
                text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}
            )
            await killer.commit()
        monkeypatch.setattr(pg_engine, "PING_AFTER_S", 0.0)  # both count as idle
        for _ in range(2):  # whichever the pool hands out first, both work
            async with engine.begin() as conn:
                assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_a_lock_that_begins_a_transaction_holds_until_its_end(
    database_url: str,
):
    _pg_only(database_url)
    engine = create_engine(database_url)
    key = f"test-lock:{new_object_id()}"
    held = text("SELECT pg_try_advisory_xact_lock(:id)")
    table = f"lock_probe_{new_object_id()}"
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"CREATE TABLE {table} (n integer)"))
        for outcome in ("commit", "rollback"):
            with contextlib.suppress(RuntimeError):
                async with engine.begin() as conn, engine.connect() as other:
                    await dialect.lock(conn, key)  # BEGIN and the lock together
                    await conn.execute(text(f"INSERT INTO {table} VALUES (1)"))
                    free = await other.scalar(held, {"id": dialect._lock_id(key)})
                    assert free is False  # held by ``conn``'s transaction
                    await other.rollback()
                    if outcome == "rollback":
                        raise RuntimeError("roll back")
            async with engine.connect() as other:
                assert await other.scalar(held, {"id": dialect._lock_id(key)})
        async with engine.connect() as conn:  # the rolled-back INSERT is gone
            assert await conn.scalar(text(f"SELECT count(*) FROM {table}")) == 1
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        await engine.dispose()


async def test_a_lock_inside_a_begun_transaction_is_a_statement(database_url: str):
    _pg_only(database_url)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            began = await conn.scalar(text("SELECT now()"))
            await dialect.lock(conn, f"test-lock:{new_object_id()}")
            assert await conn.scalar(text("SELECT now()")) == began  # same tx
            locks = text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                " AND pid = pg_backend_pid()"
            )
            assert await conn.scalar(locks) == 1
    finally:
        await engine.dispose()


async def _strand(engine: Any) -> None:
    """Leave the pool's connection as a ``BEGIN`` cancelled in flight leaves it."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.dbapi_connection._connection
        begin = asyncio.ensure_future(driver.transaction().start())
        await asyncio.sleep(0)  # BEGIN is sent, its answer not yet read
        begin.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await begin
        await asyncio.sleep(0.05)  # the answer arrives, on a connection still pooled
        assert driver._top_xact is not None  # what the driver was left with


async def test_a_connection_a_cancelled_begin_stranded_is_not_handed_out(
    database_url: str,
):
    _pg_only(database_url)
    engine = create_engine(database_url)
    table = f"strand_probe_{new_object_id()}"
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"CREATE TABLE {table} (n integer)"))
        await _strand(engine)
        async with engine.begin() as conn:  # a transaction that commits
            await conn.execute(text(f"INSERT INTO {table} VALUES (1)"))
        async with engine.connect() as conn:
            assert await conn.scalar(text(f"SELECT count(*) FROM {table}")) == 1
        other = await asyncpg.connect(database_url.replace("+asyncpg", "", 1))
        try:  # committed for every connection, not only inside a stale transaction
            assert await other.fetchval(f"SELECT count(*) FROM {table}") == 1
        finally:
            await other.close()
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        await engine.dispose()
