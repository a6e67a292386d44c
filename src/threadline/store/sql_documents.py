"""One document table of the SQL store, used through a live connection."""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, Table, and_, delete, false, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from threadline.store import conditions, records, statements
from threadline.store.base import Document, Query, Sealer
from threadline.store.prepared import Statements
from threadline.store.sql_snapshots import RUNS, SqlSnapshots

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
        expected_updated_at: datetime | None = None,
    ) -> bool:
        """Change only the status column, if it still is ``expected_status``
        (and, when given, ``updated_at`` still is ``expected_updated_at``: the
        run cache's check that the row is the one it keeps)."""
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
        if expected_updated_at is not None:
            guard, params["k_updated_at"] = f"{guard}_at", expected_updated_at
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
