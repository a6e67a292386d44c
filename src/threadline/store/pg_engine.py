"""The PostgreSQL engine: its pool, its liveness check and its JSON codec.

Every statement on PostgreSQL is a round trip through asyncpg, and on a small
machine a round trip costs more CPU than the statement (docs/benchmarks.md, "The
PostgreSQL path"). What this module saves, without changing what commits:

- **No ping on every checkout.** SQLAlchemy's ``pool_pre_ping`` pings each checkout
  with ``BEGIN; ;ROLLBACK`` (three round trips; a turn checks out three times).
  Here a connection is pinged only when it has sat in the pool for
  ``PING_AFTER_S`` or more: that is when a server restart, an idle timeout or a
  middlebox can have dropped it. A connection used a moment ago is used as it is;
  if the server went away meanwhile, the statement fails as any statement in
  flight during a restart does, and SQLAlchemy then replaces every pooled
  connection older than the failure.
- **A pool that keeps its connections.** Connections beyond ``pool_size`` are
  closed on check-in; a new one costs a server process and the driver's type
  introspection. The pool keeps ``POOL_SIZE`` (the old maximum) open.
- **BEGIN and a lock in one round trip.** A transaction that starts by taking an
  advisory lock (accepting a command, recording a turn) sends ``BEGIN`` and
  ``SELECT pg_advisory_xact_lock(<id>)`` together (``lock``), where the driver
  would send them one after the other; the lock is held from the same point of
  the transaction, until its commit or rollback.
- **orjson writes JSON columns** (``json_text.dumps``, as on SQLite).

And one guard: a connection handed out is never inside a transaction, whatever
state a cancelled task left it in (``_stranded``).
"""

import time
from typing import Any

from sqlalchemy import event, exc, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from threadline.store.json_text import dumps as dumps

POOL_SIZE = 30
"""Connections kept open (per process)."""
MAX_OVERFLOW = 0
"""No extra connections (each would be closed when returned): a transaction
beyond ``POOL_SIZE`` waits for a pooled connection, as one beyond the old 10 + 20
did."""
PING_AFTER_S = 5.0
"""A connection idle this long in the pool is pinged before it is handed out."""
now = time.monotonic
"""The pool's clock (tests move it)."""
_RETURNED = "threadline_returned_at"


def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
    record.info[_RETURNED] = now()


def _stranded(dbapi_conn: Any) -> bool:
    """Whether the driver is in a transaction the adapter does not know of.

    asyncpg marks its connection as in a transaction before it sends ``BEGIN``; a
    ``BEGIN`` cancelled or failed in flight (a task cancelled at shutdown, a
    timeout) leaves that mark while SQLAlchemy's adapter records no transaction.
    Used again, such a connection sends ``SAVEPOINT`` for every ``BEGIN``: an error
    on every statement, or, if the server did begin, writes that a "commit" only
    releases and never commits.
    """
    if getattr(dbapi_conn, "_transaction", None) is not None:
        return False  # the adapter's own transaction (a checkout never has one)
    driver = getattr(dbapi_conn, "_connection", None)
    if driver is None:
        return False
    if getattr(driver, "_top_xact", None) is not None:
        return True
    in_transaction = getattr(driver, "is_in_transaction", None)
    return bool(in_transaction()) if in_transaction is not None else False


def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    if _stranded(dbapi_conn):
        # The pool discards it and hands out another, as for a dead connection.
        raise exc.DisconnectionError("connection left inside a transaction")
    returned = record.info.get(_RETURNED)
    if returned is None or now() - returned < PING_AFTER_S:
        return  # new, or used a moment ago
    try:
        dbapi_conn.ping()
    except Exception as error:  # any failure means the connection is gone
        # The pool discards this connection and hands out another (a new one
        # when the pool has no other), as ``pool_pre_ping`` does.
        raise exc.DisconnectionError(f"stale connection: {error}") from error


def create(url: str) -> AsyncEngine:
    """The async engine for a ``postgresql+asyncpg`` URL."""
    engine = create_async_engine(
        url,
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        json_serializer=dumps,
    )
    event.listen(engine.sync_engine.pool, "checkin", _on_checkin)
    event.listen(engine.sync_engine.pool, "checkout", _on_checkout)
    return engine


class _Begun:
    """The driver's transaction, begun by ``lock``: what SQLAlchemy's asyncpg adapter
    calls to end it (``commit``, ``rollback``), as asyncpg's ``Transaction`` does."""

    def __init__(self, driver: Any) -> None:
        self._driver = driver

    async def commit(self) -> None:
        await self._driver.execute("COMMIT")

    async def rollback(self) -> None:
        await self._driver.execute("ROLLBACK")


_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


async def begin(adapter: Any) -> None:
    """Send ``BEGIN`` on an ``_unbegun`` adapter's driver (what the adapter would
    send, without asyncpg's ``Transaction`` object); the adapter ends it."""
    # Set first: a BEGIN cancelled in flight is still rolled back by the adapter.
    adapter._transaction = _Begun(adapter._connection)
    try:
        await adapter._connection.execute("BEGIN")
    except Exception as error:  # as the adapter reports a statement's error
        adapter._handle_exception(error)


async def lock(conn: AsyncConnection, lock_id: int) -> None:
    """Take the transaction-scoped advisory lock ``lock_id`` on ``conn``.

    When nothing has been sent in this transaction yet, ``BEGIN`` and the lock go
    in one simple query (the id is an integer, written as a literal); otherwise,
    or if the driver is set up differently (an isolation level, read-only), the
    lock is a statement like any other.
    """
    sync = conn.sync_connection  # checked out: no greenlet to reach the adapter
    adapter: Any = (
        sync.connection.dbapi_connection
        if sync is not None
        else (await conn.get_raw_connection()).dbapi_connection
    )
    if not _unbegun(adapter):
        await conn.execute(_LOCK, {"key": lock_id})
        return
    async with adapter._execute_mutex:
        # Set first: if the query fails after BEGIN, the rollback ends it.
        adapter._transaction = _Begun(adapter._connection)
        try:
            await adapter._connection.execute(
                f"BEGIN; SELECT pg_advisory_xact_lock({int(lock_id)})"
            )
        except Exception as error:  # as the adapter reports a statement's error
            adapter._handle_exception(error)


def _unbegun(adapter: Any) -> bool:
    """Whether ``adapter`` (SQLAlchemy's asyncpg connection) would begin its
    transaction with a plain ``BEGIN`` before the next statement."""
    return (
        getattr(adapter, "_transaction", False) is None
        and getattr(adapter, "isolation_level", "") is None
        and getattr(adapter, "readonly", True) is False
        and getattr(adapter, "deferrable", True) is False
        and hasattr(adapter, "_execute_mutex")
    )
