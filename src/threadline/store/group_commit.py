"""Group commit on SQLite: concurrent write units share one transaction's commit.

SQLite has one writer at a time, so the store queues its transactions in the
process. When a unit of work ends while others wait in that queue, its
transaction is not committed: the next waiting unit continues it inside a
savepoint of its own, and the last unit of the group commits once for all. Each
unit keeps its own atomicity (a unit that fails is rolled back to its savepoint
and the others go on), and no unit returns before the commit that holds its
writes: a unit that ended well waits for its group's commit and raises if that
commit fails.

Groups form when units wait, that is while a unit or a commit is away from the
event loop: a ``BEGIN`` waiting for another process, a commit that fsyncs
(``synchronous=FULL``, run on a thread by ``sqlite_loop``), or a unit that
awaits other work inside its transaction, and behind every unit: a unit that
ended well lets the loop run once before it commits, so the units that are
ready queue up and join. ``MAX_UNITS`` bounds a group.

The transactions are begun, committed and rolled back straight on the
``sqlite_loop`` connection, as are the savepoints: SQLAlchemy's connection stays
in one transaction of its own for as long as it is kept (its ``begin`` hook
sees the database transaction already open), so its statements run in ours
without a greenlet round trip per ``BEGIN`` and ``COMMIT``. A connection of
another driver goes through SQLAlchemy's ``begin``/``commit``.
"""

import asyncio
import contextlib
import sqlite3
from collections.abc import Coroutine
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from threadline.store import prepared, sqlite_loop

MAX_UNITS = 64
"""Most units sharing one commit (bounds how long the first one waits)."""


class Group:
    """One open transaction and the units in it."""

    __slots__ = ("conn", "done", "raw", "units")

    def __init__(
        self, conn: AsyncConnection, raw: sqlite_loop.LoopConnection | None
    ) -> None:
        self.conn = conn
        self.raw = raw
        self.units = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()


def _wrapped(exc: BaseException, sql: str) -> BaseException:
    """A ``sqlite3`` error as SQLAlchemy raises it (anything else as it is)."""
    if isinstance(exc, sqlite3.Error):
        return DBAPIError.instance(sql, (), exc, sqlite3.Error)
    return exc


def _told(conn: AsyncConnection) -> None:
    """SQLAlchemy's ``commit`` event, for a commit made on the connection itself
    (listeners count commits)."""
    sync = conn.sync_connection
    if sync is not None and (sync._has_events or sync.engine._has_events):
        sync.dispatch.commit(sync)


def _run(raw: sqlite3.Connection, sql: str) -> None:
    try:
        raw.execute(sql).close()
    except sqlite3.Error as exc:
        raise _wrapped(exc, sql) from exc


class GroupCommit:
    """The in-process write queue of one SQLite engine, with group commit.

    A unit is ``enter()`` (its connection, inside the group's transaction or a
    savepoint of it) then ``leave(group, joined, ok)``.
    """

    def __init__(self, engine: AsyncEngine, max_units: int = MAX_UNITS) -> None:
        self._engine = engine
        self._max = max_units
        self._lock = asyncio.Lock()
        self._waiting = 0
        self._open: Group | None = None
        self._conn: AsyncConnection | None = None
        self._raw: sqlite_loop.LoopConnection | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.commits = 0
        """Commits made (each of one group; for tests and metrics)."""
        self.units = 0
        """Units that ended well (their writes were committed or are pending)."""

    async def _drop(self) -> None:
        conn, self._conn, self._raw = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(BaseException):  # closing discards it
                await conn.rollback()
            with contextlib.suppress(BaseException):
                await conn.close()

    async def close(self) -> None:
        """Give the kept connection back (before the engine is disposed)."""
        async with self._lock:
            await self._drop()

    async def _acquire(self) -> None:
        self._waiting += 1
        try:
            await self._lock.acquire()
        except BaseException:
            self._waiting -= 1
            if self._open is not None and self._waiting == 0:
                # The unit that left the group open counted on this waiter.
                self._spawn(self._flush())
            raise
        self._waiting -= 1

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self) -> None:
        await self._acquire()
        group = self._open
        if group is None:
            self._lock.release()
            return
        await self._settle(group)

    async def enter(self) -> tuple[Group, bool]:
        """Start a unit: the group it is in, and whether it joined an open one."""
        await self._acquire()
        try:
            group = self._open
            if group is None:
                group = await self._start()
            joined = group.units > 0
            if joined:
                if group.raw is not None:
                    _run(group.raw, "SAVEPOINT threadline_unit")
                else:
                    await group.conn.exec_driver_sql("SAVEPOINT threadline_unit")
        except BaseException:
            await self._abandon()
            raise
        group.units += 1
        return group, joined

    async def leave(self, group: Group, joined: bool, ok: bool) -> None:
        """End a unit; when ``ok``, return once the commit holding it is made."""
        if ok:
            try:
                # Let the units that are ready queue up and join this group.
                await asyncio.sleep(0)
                if joined:
                    if group.raw is not None:
                        _run(group.raw, "RELEASE threadline_unit")
                    else:
                        await group.conn.exec_driver_sql("RELEASE threadline_unit")
            except BaseException:
                await self._undo(group, joined)
                raise
            self.units += 1
            await self._settle(group)
            if not group.done.done():
                await asyncio.shield(group.done)
            group.done.result()  # raises if the group's commit failed
            return
        await self._undo(group, joined)

    async def _start(self) -> Group:
        # One connection stays checked out between groups: no pool checkout,
        # reset and check-in a transaction.
        conn = self._conn
        try:
            if conn is None or conn.closed or conn.invalidated:
                conn = self._conn = await self._engine.connect()
                self._raw = prepared.loop_connection(conn)
            raw = self._raw
            if raw is not None and conn.in_transaction():
                try:
                    await sqlite_loop.begin(raw, raw.busy_ms)
                except sqlite3.Error as exc:
                    raise _wrapped(exc, "BEGIN IMMEDIATE") from exc
            else:  # SQLAlchemy's transaction, and the database's (its hook)
                await conn.begin()
        except BaseException:
            await self._drop()
            raise
        group = Group(conn, self._raw)
        self._open = group
        return group

    async def _abandon(self) -> None:
        """Starting or joining failed: the open group (if any) ends without it."""
        group = self._open
        if group is None or group.units == 0:
            if group is not None:
                await self._end(group, None, commit=False)
            self._lock.release()
            return
        await self._settle(group)

    async def _undo(self, group: Group, joined: bool) -> None:
        """The unit failed: undo its writes only, and let the group go on."""
        if joined:
            try:
                if group.raw is not None:
                    _run(group.raw, "ROLLBACK TO threadline_unit")
                    _run(group.raw, "RELEASE threadline_unit")
                else:
                    await group.conn.exec_driver_sql("ROLLBACK TO threadline_unit")
                    await group.conn.exec_driver_sql("RELEASE threadline_unit")
            except BaseException as exc:  # the connection itself is broken
                failed = RuntimeError("the group's transaction failed")
                failed.__cause__ = exc
                await self._end(group, failed, commit=False)
                self._lock.release()
                return
            await self._settle(group)
            return
        await self._end(group, None, commit=False)
        self._lock.release()

    async def _settle(self, group: Group) -> None:
        """Hand the open transaction to the next waiting unit, or commit it."""
        if self._waiting > 0 and group.units < self._max:
            self._lock.release()
            return
        raw = group.raw
        if raw is not None and sqlite_loop.commits_inline(raw):
            # A WAL append without fsync: nothing to wait for, nothing to shield.
            self._open = None
            try:
                sqlite_loop.commit_inline(raw)
            except sqlite3.Error as exc:
                failed = _wrapped(exc, "COMMIT")
                await asyncio.shield(self._broken(group, failed))
                return
            self.commits += 1
            _told(group.conn)
            self._finish(group, None)
            self._lock.release()
            return
        # Shielded: a caller cancelled during an fsync must not leave the group
        # half-finished; the commit completes and releases the queue.
        await asyncio.shield(self._commit(group))

    async def _broken(self, group: Group, failed: BaseException) -> None:
        """A commit failed: the connection is not reused; its units raise."""
        try:
            await self._drop()
            self._finish(group, failed)
        finally:
            self._lock.release()

    async def _commit(self, group: Group) -> None:
        try:
            await self._end(group, None, commit=True)
        finally:
            self._lock.release()

    async def _end(
        self, group: Group, failed: BaseException | None, *, commit: bool
    ) -> None:
        """Commit or roll back ``group``, close it, and tell its units."""
        self._open = None
        raw = group.raw
        try:
            if commit and failed is None:
                if raw is not None:
                    await sqlite_loop.commit(raw)
                    _told(group.conn)
                else:
                    await group.conn.commit()
                self.commits += 1
            elif raw is not None:
                raw.rollback()
            else:
                await group.conn.rollback()
        except BaseException as exc:
            failed = _wrapped(exc, "COMMIT" if commit else "ROLLBACK")
            await self._drop()  # whatever state it is in, it is not reused
        self._finish(group, failed)

    @staticmethod
    def _finish(group: Group, failed: BaseException | None) -> None:
        if not group.done.done():
            if failed is None:
                group.done.set_result(None)
            else:
                group.done.set_exception(failed)
                group.done.exception()  # retrieved: units may all be gone
