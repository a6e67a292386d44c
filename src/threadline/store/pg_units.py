"""A unit of work on PostgreSQL without ``engine.begin()``: connections kept checked
out, the transaction begun by its first statement and committed on the driver.

``engine.begin()`` costs ~0.2 ms of client CPU a transaction over the round trips
of its ``BEGIN`` and ``COMMIT`` (docs/benchmarks.md, "A flat begin on
PostgreSQL"): a greenlet for the checkout, another for ``BEGIN``, one for the
commit and one for the check-in, each through SQLAlchemy's ``Connection``,
``Transaction`` and pool. Here:

- **The connections stay checked out.** ``PgUnits`` keeps up to
  ``pg_engine.POOL_SIZE`` ``AsyncConnection``\\ s checked out of the engine's pool
  (so SQLAlchemy's pool, its checkout guards and its limit still apply when one is
  opened) and hands them out itself, most recently used first; a unit beyond the
  limit waits for one, as it waited for the engine's pool (``TIMEOUT_S``).
- **Nothing is sent to begin.** The unit's first statement begins the transaction,
  as on ``engine.begin()``'s connection: a statement below SQLAlchemy
  (``pg_prepared``), the advisory lock with its ``BEGIN`` (``pg_engine.lock``) or
  a statement through SQLAlchemy (its autobegin).
- **The commit goes to the driver.** When SQLAlchemy's ``Connection`` knows of no
  transaction (only the statements below it ran), ``COMMIT`` is sent on the
  adapter's transaction, as SQLAlchemy's commit would send it; otherwise
  ``AsyncConnection.commit`` commits. The engine's ``commit`` event is fired
  either way.
- **Anything but a commit leaves through SQLAlchemy.** A unit that raised, was
  cancelled, or whose ``COMMIT`` failed gives its connection back to the engine's
  pool (``AsyncConnection.close``: the transaction rolled back, the connection
  reset on return, discarded if that fails, and checked again by
  ``pg_engine._stranded`` at its next checkout); it is not kept.

What a kept connection must pass before it is handed out again, as the engine's
checkout does (``pg_engine``): not inside a transaction of any kind
(``_stranded``), not older than a pool-wide invalidation (a lost connection
seen on another), and pinged when it sat unused ``PING_AFTER_S`` or more.
"""

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from threadline.store import pg_engine, pg_prepared

TIMEOUT_S = 30.0
"""How long a unit waits for a connection when all are in use (the engine pool's
own ``pool_timeout``)."""


class PgUnits:
    """Connections kept checked out of ``engine``'s pool, one per unit of work."""

    def __init__(self, engine: AsyncEngine, size: int = pg_engine.POOL_SIZE) -> None:
        self._engine = engine
        self._size = size
        self._open = 0
        self._closed = False
        self._closings: set[asyncio.Future[None]] = set()
        self._free: list[tuple[AsyncConnection, float]] = []
        # Each waiter gets a connection, or None: a place freed, open one.
        self._waiters: deque[asyncio.Future[AsyncConnection | None]] = deque()

    async def take(self) -> AsyncConnection:
        """A connection outside any transaction."""
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            while self._free:
                conn, returned = self._free.pop()
                if await self._usable(conn, returned):
                    return conn
            if self._open < self._size:
                self._open += 1
                try:
                    return await self._engine.connect()
                except BaseException:
                    self._freed()
                    raise
            conn_or_none = await self._wait(deadline)
            if conn_or_none is not None:
                return conn_or_none

    async def finish(self, conn: AsyncConnection, commit: bool) -> None:
        """Commit (``commit``) and keep ``conn``, or roll back and give it back."""
        if not commit:
            await self._give_back(conn)
            return
        try:
            await _commit(conn)
        except BaseException:
            await self._give_back(conn)
            raise
        self._keep(conn)

    async def close(self, *, final: bool = False) -> None:
        """Give every kept connection back to the engine's pool (before using the
        engine directly; ``final``: before ``dispose``, and keep none from now on)."""
        self._closed = self._closed or final
        kept, self._free = self._free, []
        for conn, _ in kept:
            await self._give_back(conn)

    def _keep(self, conn: AsyncConnection) -> None:
        if self._closed:
            self._closing(conn)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._free.append((conn, pg_engine.now()))

    def _freed(self) -> None:
        """One connection fewer is open: a waiter may open one."""
        self._open -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _wait(self, deadline: float) -> AsyncConnection | None:
        waiter: asyncio.Future[AsyncConnection | None]
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout_at(_loop_time(deadline)):
                return await waiter
        except BaseException as error:
            if waiter.done() and not waiter.cancelled():
                # Handed over as this task stopped waiting: pass it on.
                handed = waiter.result()
                if handed is not None:
                    self._keep(handed)
                else:
                    self._wake()  # the free place goes to the next waiter
            else:
                waiter.cancel()
            if isinstance(error, TimeoutError):
                raise exc.TimeoutError(
                    f"no PostgreSQL connection free in {TIMEOUT_S:.0f} s"
                    f" ({self._size} in use)"
                ) from None
            raise

    async def _usable(self, conn: AsyncConnection, returned: float) -> bool:
        """Whether a kept connection may be handed out (else it is given back)."""
        try:
            sync = conn.sync_connection
            fairy = sync.connection if sync is not None else None
            record: Any = getattr(fairy, "_connection_record", None)
            adapter: Any = getattr(fairy, "dbapi_connection", None)
            pool = self._engine.sync_engine.pool
            invalidated: float = getattr(pool, "_invalidate_time", 0)
            if (
                sync is None
                or sync.invalidated
                or sync.in_transaction()
                or adapter is None
                or record is None
                or record.starttime < invalidated
                or getattr(adapter, "_transaction", None) is not None
                or pg_engine._stranded(adapter)
            ):
                await self._give_back(conn)
                return False
            if pg_engine.now() - returned >= pg_engine.PING_AFTER_S:
                await adapter._async_ping()
        except Exception:  # any failure means the connection is gone: another
            await self._give_back(conn, invalidate=True)
            return False
        except BaseException:
            await self._give_back(conn, invalidate=True)
            raise
        return True

    async def _give_back(self, conn: AsyncConnection, invalidate: bool = False) -> None:
        """``conn`` back to the engine's pool (rolled back, reset on return; when
        that fails, or with ``invalidate``, discarded)."""
        try:
            await asyncio.shield(_close(conn, invalidate))
        finally:
            self._freed()

    def _closing(self, conn: AsyncConnection) -> None:
        """Give ``conn`` back without waiting (after ``close``)."""
        task = asyncio.ensure_future(self._give_back(conn))
        self._closings.add(task)
        task.add_done_callback(self._closings.discard)


async def _close(conn: AsyncConnection, invalidate: bool) -> None:
    """Close ``conn`` (back to the pool); if that fails, discard it: the error of
    the unit that gave it back is the one its caller sees."""
    try:
        if invalidate and not conn.invalidated:
            await conn.invalidate()
        await conn.close()
    except Exception:
        with contextlib.suppress(Exception):
            if not conn.invalidated:
                await conn.invalidate()
            await conn.close()


async def _commit(conn: AsyncConnection) -> None:
    """Commit ``conn``'s transaction, if anything began one."""
    sync = conn.sync_connection
    assert sync is not None  # checked out
    if sync.in_transaction() or sync.invalidated:
        await conn.commit()  # SQLAlchemy began it: its commit, events included
        return
    adapter: Any = sync.connection.dbapi_connection
    began = adapter._transaction
    if began is None:
        return  # nothing was sent
    try:
        try:
            await began.commit()
        finally:
            adapter._transaction = None  # tried: done either way (as the adapter)
    except Exception as error:
        try:
            adapter._handle_exception(error)  # as the adapter's commit reports it
        except adapter.dbapi.Error as translated:
            await pg_prepared.PgConnection(conn, adapter)._failed(
                translated, "COMMIT", ()
            )
        raise
    if sync._has_events or sync.engine._has_events:
        sync.dispatch.commit(sync)


def _loop_time(deadline: float) -> float:
    """``deadline`` (``time.monotonic``) on the running loop's clock."""
    loop = asyncio.get_running_loop()
    return loop.time() + (deadline - time.monotonic())
