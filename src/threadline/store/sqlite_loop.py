"""SQLite run on the event loop's own thread (the ``sqlite`` URLs' driver).

aiosqlite hands every statement to a connection thread and back: a queue put, a
thread wake-up, a future resolved across threads and GIL ping-pong, for a
statement that itself takes tens of microseconds in WAL mode. This dialect is
SQLAlchemy's ``pysqlite`` dialect marked async: the statements of a transaction
run inline in the greenlet SQLAlchemy's async layer already runs them in, so a
statement costs what SQLite costs.

What must not block the loop goes to a thread, one hand-off per transaction at
most:

- ``BEGIN IMMEDIATE`` is tried without waiting; if another process holds the
  write lock it is retried on a thread that waits up to the busy timeout.
- ``COMMIT`` under ``synchronous=FULL``/``EXTRA`` (an fsync each) runs on a
  thread, and concurrent write units meanwhile queue up to share the next commit
  (``group_commit``). Under ``NORMAL`` (the default) a WAL commit is a write()
  without fsync and runs inline.
- Statements marked ``execution_options(sqlite_off_loop=True)`` (knowledge-base
  searches, which scan) run on a thread with their rows read there.
- WAL checkpoints (which fsync and copy pages to the database file) run on a
  thread every ``CHECKPOINT_EVERY`` commits instead of inside a commit.
"""

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Generator
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import AsyncAdaptedQueuePool, Pool
from sqlalchemy.util.concurrency import await_

DRIVER = "sqlite+threadline"
CHECKPOINT_EVERY = 200
"""Commits between two WAL checkpoints (run on a thread, ``PASSIVE``)."""

SYNC_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")
FSYNC_ON_COMMIT = ("FULL", "EXTRA")


def _busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return "locked" in str(exc) or "busy" in str(exc)
    return (code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _set_busy_timeout(conn: sqlite3.Connection, ms: int) -> None:
    conn.execute(f"PRAGMA busy_timeout={int(ms)}").close()


def _begin_waiting(conn: sqlite3.Connection, busy_ms: int) -> None:
    """``BEGIN IMMEDIATE`` that may wait for another process (on a thread)."""
    _set_busy_timeout(conn, busy_ms)
    try:
        conn.execute("BEGIN IMMEDIATE").close()
    finally:
        _set_busy_timeout(conn, 0)


def begin_immediate(conn: sqlite3.Connection, busy_ms: int) -> None:
    """Take the write lock: inline when free, else wait for it on a thread."""
    try:
        conn.execute("BEGIN IMMEDIATE").close()
    except sqlite3.OperationalError as exc:
        if not _busy(exc):
            raise
        await_(asyncio.to_thread(_begin_waiting, conn, busy_ms))


class LoopCursor(sqlite3.Cursor):
    """A sqlite3 cursor as SQLAlchemy's async results expect one; a statement
    run off the loop (``run_off_loop``) has its rows read there and kept."""

    _rows: list[Any] | None = None

    async def _async_soft_close(self) -> None:
        """Nothing to release early: rows are read on this thread, on demand."""

    def run_off_loop(self, statement: str, parameters: Any) -> None:
        def work() -> list[Any]:
            super(LoopCursor, self).execute(statement, parameters)
            return super(LoopCursor, self).fetchall()

        self._rows = await_(asyncio.to_thread(work))

    def fetchone(self) -> Any:
        if self._rows is None:
            return super().fetchone()
        return self._rows.pop(0) if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        if self._rows is None:
            return super().fetchmany(self.arraysize if size is None else size)
        count = self.arraysize if size is None else size
        taken, self._rows = self._rows[:count], self._rows[count:]
        return taken

    def fetchall(self) -> list[Any]:
        if self._rows is None:
            return super().fetchall()
        taken, self._rows = self._rows, []
        return taken


class LoopConnection(sqlite3.Connection):
    """A sqlite3 connection that knows how it commits (the engine's connect hook
    sets ``fsync`` from ``synchronous``)."""

    fsync = False
    busy_ms = 10_000
    """How long ``BEGIN IMMEDIATE`` waits for another process (set on connect)."""
    commits = 0
    checkpoints = 0

    def cursor(self, factory: Any = LoopCursor) -> Any:
        return super().cursor(factory)


def _checkpoint(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").close()


class _Ready(Awaitable[None]):
    """An awaitable that is already done: awaiting it does not suspend."""

    def __await__(self) -> Generator[Any, None, None]:
        return iter(())  # type: ignore[return-value]  # ends at once: None


_READY = _Ready()


def _pass_through_loop() -> None:
    # SQLAlchemy's async layer insists that a statement awaited something (a
    # guard against sync drivers); this satisfies it for a greenlet switch (~1 µs).
    await_(_READY)


async def begin(conn: sqlite3.Connection, busy_ms: int) -> None:
    """``begin_immediate`` from a coroutine (the group commit's own transactions)."""
    try:
        conn.execute("BEGIN IMMEDIATE").close()
    except sqlite3.OperationalError as exc:
        if not _busy(exc):
            raise
        await asyncio.to_thread(_begin_waiting, conn, busy_ms)


def commits_inline(conn: "LoopConnection") -> bool:
    """Whether the next commit runs on the loop (no fsync, no checkpoint due)."""
    return not conn.fsync and (conn.commits + 1) % CHECKPOINT_EVERY != 0


def commit_inline(conn: "LoopConnection") -> None:
    conn.commit()
    conn.commits += 1


async def commit(conn: "LoopConnection") -> None:
    """Commit: an fsync on a thread, every ``CHECKPOINT_EVERY`` commits a
    checkpoint on a thread (busy: the next one, or another process, will)."""
    if conn.fsync:
        await asyncio.to_thread(conn.commit)
    else:
        conn.commit()
    conn.commits += 1
    if conn.commits % CHECKPOINT_EVERY == 0:
        with contextlib.suppress(sqlite3.Error):
            await asyncio.to_thread(_checkpoint, conn)
            conn.checkpoints += 1


class SQLiteLoopDialect(SQLiteDialect_pysqlite):
    """``pysqlite`` with statements run inline on the loop (see the module)."""

    driver = "threadline"
    is_async = True
    supports_statement_cache = True
    supports_server_side_cursors = False

    @classmethod
    def get_pool_class(cls, url: Any) -> type[Pool]:
        return AsyncAdaptedQueuePool

    def do_execute(
        self, cursor: Any, statement: str, parameters: Any, context: Any = None
    ) -> None:
        if (
            context is not None
            and context.execution_options.get("sqlite_off_loop")
            and isinstance(cursor, LoopCursor)
        ):
            cursor.run_off_loop(statement, parameters)  # awaits: a real suspension
            return
        _pass_through_loop()
        cursor.execute(statement, parameters)

    def do_execute_no_params(
        self, cursor: Any, statement: str, context: Any = None
    ) -> None:
        _pass_through_loop()
        cursor.execute(statement)

    def do_executemany(
        self, cursor: Any, statement: str, parameters: Any, context: Any = None
    ) -> None:
        _pass_through_loop()
        cursor.executemany(statement, parameters)

    def do_commit(self, dbapi_connection: DBAPIConnection) -> None:
        # SQLAlchemy passes the pool's proxy; the sqlite3 connection is inside.
        conn = getattr(dbapi_connection, "dbapi_connection", dbapi_connection)
        if not isinstance(conn, LoopConnection):
            conn.commit()
        elif commits_inline(conn):
            commit_inline(conn)
        else:
            await_(commit(conn))


registry.register("sqlite.threadline", __name__, "SQLiteLoopDialect")
