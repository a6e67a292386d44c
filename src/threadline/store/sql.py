"""The SQLAlchemy implementation of the store, shared by SQLite and PostgreSQL.

Dialect differences (engine set-up, locking) live in ``dialect.py``; everything here
is portable SQLAlchemy Core.
"""

import time
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar, Token
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Table,
    and_,
    delete,
    false,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from threadline.store import (
    conditions,
    definition_stamps,
    dialect,
    group_commit,
    migrations,
    records,
    schema,
    statements,
)
from threadline.store.base import ApiKey, Document, OperatorCounts, Query, Sealer
from threadline.store.prepared import Statements
from threadline.store.run_snapshots import SnapshotMemo
from threadline.store.sql_knowledge import SqlKnowledge
from threadline.store.sql_runs import SqlCommands, SqlWorkers, operator_counts
from threadline.store.sql_snapshots import RUNS, Pending, SqlSnapshots
from threadline.store.sql_turns import SqlTurns
from threadline.telemetry import metrics, tracing

JsonDict = dict[str, Any]
# The stores whose in-process write queue the current task holds (a nested
# ``begin`` in the same task must not wait for itself).
_HOLDING: ContextVar[frozenset[int]] = ContextVar(
    "threadline_holding", default=frozenset()
)


_INSERT_CHUNK = 1000


class SqlDocuments:
    """One document table, used through a live connection.

    Bodies written go through the store's ``sealer`` first (see ``Store``). Runs
    (``workflow_runs``) keep their config snapshot in ``run_snapshots``
    (``snapshots``: see ``sql_snapshots``).
    """

    def __init__(
        self,
        conn: AsyncConnection,
        table: Table,
        sealer: Sealer | None = None,
        snapshots: SqlSnapshots | None = None,
        run: Statements | None = None,
        touched: set[str] | None = None,
    ) -> None:
        self._conn = conn
        self._touched = touched  # teams whose stamp this transaction raises
        self._run = run if run is not None else Statements(conn)
        self._table = table
        self._sealer = sealer
        self._snapshots = snapshots if table.name == RUNS else None

    async def _stowed(self, doc: Document) -> Document:
        if self._snapshots is not None:
            doc = await self._snapshots.stow(doc)
        return self._sealed(doc)

    async def _joined(self, docs: list[Document]) -> list[Document]:
        if self._snapshots is None or not docs:
            return docs
        return await self._snapshots.join(docs)

    def _sealed(self, doc: Document) -> Document:
        if self._sealer is None:
            return doc
        return replace(doc, body=self._sealer(self._table.name, doc.body))

    def _touch(self, team_id: str) -> None:
        if self._touched is not None:
            self._touched.add(team_id)

    async def insert(self, doc: Document) -> None:
        self._touch(doc.team_id)
        stmt = statements.insert_into(self._table)
        await self._run.write(stmt, records.row(await self._stowed(doc)))

    async def insert_many(self, docs: Sequence[Document]) -> None:
        # One executemany per chunk: a graph of thousands of nodes is one round
        # trip per chunk to the driver's thread, not one per node.
        for doc in docs:
            self._touch(doc.team_id)
        for start in range(0, len(docs), _INSERT_CHUNK):
            chunk = docs[start : start + _INSERT_CHUNK]
            rows = [records.row(await self._stowed(d)) for d in chunk]
            await self._run.write_many(statements.insert_into(self._table), rows)

    async def get(self, team_id: str, doc_id: str) -> Document | None:
        stmt = statements.get_document(self._table)
        params = {"k_team": team_id, "k_id": doc_id}
        row = await self._run.first(stmt, params)
        if row is None:
            return None
        return (await self._joined([records.to_document(row)]))[0]

    def _conditions(self, team_id: str, query: Query) -> list[ColumnElement[bool]]:
        t = self._table
        conds: list[ColumnElement[bool]] = conditions.equals(t, team_id, query.equals)
        if query.ids is not None:
            conds.append(t.c.id.in_(query.ids))
        if query.search and "\x00" in query.search:
            conds.append(false())  # no stored text holds a NUL
        elif query.search:
            pattern = f"%{conditions.escape_like(query.search.lower())}%"
            conds.append(t.c.search_text.like(pattern, escape="\\"))
        if query.start is not None:
            conds.append(t.c.created_at >= query.start)
        if query.end is not None:
            conds.append(t.c.created_at <= query.end)
        return conds

    def _plain(self, query: Query) -> bool:
        """An unpaged ``find`` by equal values that ``conditions.equal`` compares
        as they are (strings on text columns, 32-bit ints on integer ones): its
        statement is built once (``statements.documents_where``)."""
        if query != Query(equals=query.equals, newest_first=query.newest_first):
            return False
        for name, value in query.equals.items():
            number = isinstance(self._table.c[name].type, Integer)
            if type(value) is int:
                if not number or value not in conditions.INT32:
                    return False
            elif not isinstance(value, str) or number or "\x00" in value:
                return False
        return True

    async def find(self, team_id: str, query: Query) -> tuple[list[Document], int]:
        if query == Query(newest_first=query.newest_first):  # the whole team
            stmt = statements.team_documents(self._table, query.newest_first)
            found = await self._run.rows(stmt, {"k_team": team_id})
            docs = await self._joined([records.to_document(r) for r in found])
            return docs, len(docs)
        if self._plain(query):
            names = tuple(query.equals)
            stmt = statements.documents_where(self._table, names, query.newest_first)
            params = {f"k_{name}": query.equals[name] for name in names}
            params["k_team"] = team_id
            plain = (await self._conn.execute(stmt, params)).mappings().all()
            docs = await self._joined([records.to_document(r) for r in plain])
            return docs, len(docs)
        t = self._table
        where = and_(*self._conditions(team_id, query))
        total = 0
        if query.size is not None:  # unpaged: the count is the rows' length
            total = (
                await self._conn.execute(
                    select(func.count()).select_from(t).where(where)
                )
            ).scalar_one()
        order = (t.c.created_at.desc(), t.c.id.desc())
        if not query.newest_first:
            order = (t.c.created_at.asc(), t.c.id.asc())
        stmt = select(t).where(where).order_by(*order)
        if query.size is not None:
            stmt = stmt.limit(query.size).offset((query.page - 1) * query.size)
        rows = (await self._conn.execute(stmt)).mappings().all()
        if query.size is None:
            total = len(rows)
        return await self._joined([records.to_document(r) for r in rows]), int(total)

    async def replace(
        self, doc: Document, *, expected_status: str | None = None
    ) -> bool:
        """Overwrite a document (only from ``expected_status`` when given)."""
        self._touch(doc.team_id)
        doc = await self._stowed(doc)
        values = {
            k: v for k, v in records.row(doc).items() if k not in ("id", "team_id")
        }
        params = {**values, "k_team": doc.team_id, "k_id": doc.id}
        guard = ""
        if expected_status is not None:
            guard, params["k_status"] = "status", expected_status
        stmt = statements.update_document(self._table, guard)
        return await self._run.write(stmt, params) > 0

    async def delete(self, team_id: str, doc_id: str) -> bool:
        self._touch(team_id)
        t = self._table
        stmt = delete(t).where(t.c.team_id == team_id, t.c.id == doc_id)
        return (await self._conn.execute(stmt)).rowcount > 0

    async def set_status(
        self,
        team_id: str,
        doc_id: str,
        status: str | None,
        *,
        expected_status: str | None,
        at: datetime,
        by: str | None,
    ) -> bool:
        """Change only the status column, if it still is ``expected_status``."""
        self._touch(team_id)
        params: dict[str, Any] = {
            "status": status,
            "updated_at": at,
            "updated_by": by,
            "k_team": team_id,
            "k_id": doc_id,
        }
        guard = "null"
        if expected_status is not None:
            guard, params["k_status"] = "status", expected_status
        stmt = statements.update_document(self._table, guard)
        return await self._run.write(stmt, params) > 0

    async def find_stale(
        self, status: str, updated_before: datetime, limit: int
    ) -> list[Document]:
        """Documents of any team in ``status`` not updated since ``updated_before``."""
        t = self._table
        stmt = (
            select(t)
            .where(t.c.status == status, t.c.updated_at < updated_before)
            .order_by(t.c.updated_at)
            .limit(limit)
        )
        rows = (await self._conn.execute(stmt)).mappings().all()
        return await self._joined([records.to_document(r) for r in rows])

    async def delete_where(self, team_id: str, equals: Mapping[str, Any]) -> int:
        self._touch(team_id)
        t = self._table
        conds = conditions.equals(t, team_id, equals)
        return (await self._conn.execute(delete(t).where(*conds))).rowcount

    async def count(
        self,
        team_id: str,
        equals: Mapping[str, Any],
        *,
        statuses: Collection[str] | None = None,
    ) -> int:
        """How many documents match ``equals`` (and have one of ``statuses``)."""
        t = self._table
        conds = conditions.equals(t, team_id, equals)
        if statuses is not None:
            conds.append(t.c.status.in_(list(statuses)))
        stmt = select(func.count()).select_from(t).where(*conds)
        return int((await self._conn.execute(stmt)).scalar_one())


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
        async with self._engine.begin() as conn:
            await dialect.lock_for_migration(conn)
            return await conn.run_sync(migrations.migrate)

    async def close(self) -> None:
        if self._serial is not None:
            await self._serial.close()
        await self._engine.dispose()


class _Unit:
    """``SqlStore.begin`` as one context manager: a unit of SQLite's group commit
    (a nested one in the same task: its own connection), else ``engine.begin()``."""

    __slots__ = ("_group", "_held", "_joined", "_plain", "_started", "_store", "_tx")

    def __init__(self, store: "SqlStore") -> None:
        self._store = store
        self._started = 0.0
        self._plain: AbstractAsyncContextManager[AsyncConnection] | None = None
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
            if serial is None or id(store) in holding:
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
        if kind is None and tx is not None and tx.touched:
            try:  # the last statement before the commit (definition_stamps)
                await definition_stamps.raise_stamps(tx.conn, tx.touched)
            except BaseException as error:
                failed, kind, exc, tb = error, type(error), error, error.__traceback__
        try:
            if self._plain is not None:
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
