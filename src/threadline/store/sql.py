"""The SQLAlchemy implementation of the store, shared by SQLite and PostgreSQL.

Dialect differences (engine set-up, locking) live in ``dialect.py``; everything here
is portable SQLAlchemy Core.
"""

import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar, Token
from datetime import datetime
from typing import Any

from sqlalchemy import (
    delete,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from threadline.store import (
    definition_stamps,
    dialect,
    group_commit,
    migrations,
    pg_units,
    records,
    schema,
)
from threadline.store.base import ApiKey, OperatorCounts, Sealer
from threadline.store.prepared import Statements
from threadline.store.run_snapshots import SnapshotMemo
from threadline.store.sql_documents import SqlDocuments
from threadline.store.sql_knowledge import SqlKnowledge
from threadline.store.sql_runs import SqlCommands, SqlWorkers, operator_counts
from threadline.store.sql_snapshots import Pending, SqlSnapshots
from threadline.store.sql_turns import SqlTurns
from threadline.telemetry import metrics, tracing

JsonDict = dict[str, Any]
# The stores whose in-process write queue the current task holds (a nested
# ``begin`` in the same task must not wait for itself).
_HOLDING: ContextVar[frozenset[int]] = ContextVar(
    "threadline_holding", default=frozenset()
)


class SqlTransaction:
    """A unit of work on one connection inside one database transaction."""

    def __init__(
        self,
        conn: AsyncConnection,
        sealer: Sealer | None = None,
        *,
        sqlite_vec: bool = False,
        memo: SnapshotMemo | None = None,
    ) -> None:
        self._conn = self.conn = conn
        self._run = Statements(conn)
        self._sealer = sealer
        self._sqlite_vec = sqlite_vec
        self.pending = Pending()
        self.touched: set[str] = set()
        """Teams whose definition stamp this transaction raises before it commits."""
        self._snapshots = SqlSnapshots(
            conn, memo if memo is not None else SnapshotMemo(0), self.pending, sealer
        )

    def documents(self, kind: str) -> SqlDocuments:
        table = schema.documents[kind]
        touched = self.touched if kind in definition_stamps.STAMPED else None
        return SqlDocuments(
            self._conn, table, self._sealer, self._snapshots, self._run, touched
        )

    async def definition_stamp(self, team_id: str) -> int:
        return await definition_stamps.read(self._run, team_id)

    def reuse_snapshot(
        self, team_id: str, run_id: str, ref: str, stored: JsonDict
    ) -> None:
        self.pending.runs[(team_id, run_id)] = (ref, [stored])

    def snapshot_ref(self, team_id: str, run_id: str) -> str | None:
        found = self.pending.runs.get((team_id, run_id))
        return None if found is None else found[0]

    def turns(self) -> SqlTurns:
        return SqlTurns(self._conn, self._run)

    def commands(self) -> SqlCommands:
        return SqlCommands(self._conn, self._run)

    def workers(self) -> SqlWorkers:
        return SqlWorkers(self._conn)

    def knowledge(self) -> SqlKnowledge:
        return SqlKnowledge(self._conn, sqlite_vec=self._sqlite_vec)

    async def add_api_key(self, key: ApiKey) -> None:
        await self._conn.execute(schema.api_keys.insert().values(**records.row(key)))

    async def find_api_key(self, key_hash: str) -> ApiKey | None:
        t = schema.api_keys
        row = (
            (await self._conn.execute(select(t).where(t.c.key_hash == key_hash)))
            .mappings()
            .first()
        )
        return records.to_api_key(row) if row is not None else None

    async def list_api_keys(self, team_id: str | None) -> list[ApiKey]:
        t = schema.api_keys
        stmt = select(t).order_by(t.c.created_at, t.c.id)
        if team_id is not None:
            stmt = stmt.where(t.c.team_id == team_id)
        rows = (await self._conn.execute(stmt)).mappings().all()
        return [records.to_api_key(r) for r in rows]

    async def revoke_api_key(self, key_id: str, at: datetime) -> bool:
        t = schema.api_keys
        stmt = (
            update(t)
            .where(t.c.id == key_id, t.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return (await self._conn.execute(stmt)).rowcount > 0

    async def set_favorite(
        self, team_id: str, user_id: str, workflow_id: str, at: datetime | None
    ) -> None:
        t = schema.favorites
        key = (t.c.team_id == team_id, t.c.user_id == user_id)
        await self._conn.execute(delete(t).where(*key, t.c.workflow_id == workflow_id))
        if at is not None:
            row = {"team_id": team_id, "user_id": user_id, "workflow_id": workflow_id}
            await self._conn.execute(t.insert().values(**row, created_at=at))

    async def favorite_ids(self, team_id: str, user_id: str) -> set[str]:
        t = schema.favorites
        stmt = select(t.c.workflow_id).where(
            t.c.team_id == team_id, t.c.user_id == user_id
        )
        return set((await self._conn.execute(stmt)).scalars().all())

    async def operator_counts(self, now: datetime) -> OperatorCounts:
        return await operator_counts(self._conn, now)

    async def lock(self, key: str) -> None:
        """Hold the lock ``key`` until commit or rollback (see ``dialect.lock``)."""
        await dialect.lock(self._conn, key)


class SqlStore:
    """A store on one SQLAlchemy async engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.dialect = engine.dialect.name
        self._db_system = "postgresql" if self.dialect == "postgresql" else "sqlite"
        # SQLite has one writer at a time and every transaction here writes
        # (BEGIN IMMEDIATE): queue them in the process, first come first served,
        # instead of letting SQLite's busy handler sleep and retry; units that
        # queued together share one commit.
        self._serial = (
            group_commit.GroupCommit(engine) if self.dialect == "sqlite" else None
        )
        # PostgreSQL over asyncpg: connections kept checked out (``pg_units``).
        self._units = (
            pg_units.PgUnits(engine) if engine.dialect.driver == "asyncpg" else None
        )
        self._sealer: Sealer | None = None
        self._vec = dialect.sqlite_vec_loaded(engine)
        self.snapshots = SnapshotMemo()

    def set_sealer(self, sealer: Sealer | None) -> None:
        """Pass every document body written from now on through ``sealer``."""
        self._sealer = sealer

    def begin(self) -> AbstractAsyncContextManager[SqlTransaction]:
        """One transaction, timed (``threadline_store_transaction_duration_seconds``)
        and, on a traced path (a turn), spanned."""
        if tracing.in_span():
            return self._traced()
        return _Unit(self)

    @asynccontextmanager
    async def _traced(self) -> AsyncIterator[SqlTransaction]:
        with tracing.span(
            "store.transaction",
            {"db.system.name": self._db_system},
            kind=tracing.CLIENT,
            leaf=True,  # what runs inside belongs to the caller's span
        ):
            async with _Unit(self) as tx:
                yield tx

    def _transaction(self, conn: AsyncConnection) -> SqlTransaction:
        return SqlTransaction(
            conn, self._sealer, sqlite_vec=self._vec, memo=self.snapshots
        )

    async def migrate(self) -> int:
        if self._units is not None:
            await self._units.close()  # the engine's pool whole for the lock
        async with self._engine.begin() as conn:
            await dialect.lock_for_migration(conn)
            return await conn.run_sync(migrations.migrate)

    async def close(self) -> None:
        if self._serial is not None:
            await self._serial.close()
        if self._units is not None:
            await self._units.close(final=True)
        await self._engine.dispose()


class _Unit:
    """``SqlStore.begin`` as one context manager: a unit of SQLite's group commit
    (a nested one in the same task: its own connection), a kept connection on
    PostgreSQL (``pg_units``), else ``engine.begin()``."""

    __slots__ = (
        "_group",
        "_held",
        "_joined",
        "_kept",
        "_plain",
        "_started",
        "_store",
        "_tx",
    )

    def __init__(self, store: "SqlStore") -> None:
        self._store = store
        self._started = 0.0
        self._plain: AbstractAsyncContextManager[AsyncConnection] | None = None
        self._kept: AsyncConnection | None = None
        self._group: group_commit.Group | None = None
        self._joined = False
        self._held: Token[frozenset[int]] | None = None
        self._tx: SqlTransaction | None = None

    async def __aenter__(self) -> SqlTransaction:
        store = self._store
        self._started = time.perf_counter()
        serial = store._serial
        try:
            holding = _HOLDING.get()
            if store._units is not None:
                conn = self._kept = await store._units.take()
            elif serial is None or id(store) in holding:
                self._plain = store._engine.begin()
                conn = await self._plain.__aenter__()
            else:
                self._held = _HOLDING.set(holding | {id(store)})
                self._group, self._joined = await serial.enter()
                conn = self._group.conn
        except BaseException:
            self._done()
            raise
        self._tx = store._transaction(conn)
        return self._tx

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: Any, tb: Any
    ) -> None:
        store, group, tx = self._store, self._group, self._tx
        failed: BaseException | None = None
        if kind is None and tx is not None:
            try:  # the writes kept to go with a later statement; the stamps last
                await tx._run.send_later()
                if tx.touched:
                    await definition_stamps.raise_stamps(tx.conn, tx.touched)
            except BaseException as error:
                failed, kind, exc, tb = error, type(error), error, error.__traceback__
        try:
            if self._kept is not None and store._units is not None:
                await store._units.finish(self._kept, kind is None)
            elif self._plain is not None:
                await self._plain.__aexit__(kind, exc, tb)
            elif store._serial is not None and group is not None:
                await store._serial.leave(group, self._joined, kind is None)
            if kind is None and tx is not None:
                tx.pending.apply(store.snapshots)  # committed
        finally:
            self._done()
        if failed is not None:
            raise failed

    def _done(self) -> None:
        if self._held is not None:
            _HOLDING.reset(self._held)
            self._held = None
        metrics.store_seconds.observe(time.perf_counter() - self._started)
