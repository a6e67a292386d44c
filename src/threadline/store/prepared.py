"""The hot statements, compiled once and run straight on SQLite's connection.

``Connection.execute`` costs SQLAlchemy ~80-150 µs a statement on top of the
5-10 µs SQLite takes for a by-key read or write: the compile-cache key, the
execution context, events, and the result object. On the SQLite path
(``sqlite_loop``: statements inline on the event loop) the by-key statements of a
turn run here instead. Each is compiled once per statement and set of parameter
names, by SQLAlchemy itself, and its values go through SQLAlchemy's own bind and
result processors (JSON, ``DateTime``, ``Boolean``), so what is written and read
back is the same as through ``Connection.execute``. Errors are raised as the same
``sqlalchemy.exc`` types.

On PostgreSQL they run the same way on the asyncpg connection under
SQLAlchemy's (``pg_prepared``). Only statements built once (``statements.py``),
whose every value is a bound parameter, may come here. Any other driver goes
through ``Connection.execute`` as before.
"""

import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import Executable
from sqlalchemy.sql.selectable import SelectBase

from threadline.store import pg_prepared, sqlite_loop

Row = dict[str, Any]
_Processor = Callable[[Any], Any]


class _Compiled:
    """One statement as SQL text, with where each parameter goes and how its
    values are converted (SQLAlchemy's processors for this dialect)."""

    __slots__ = ("binds", "columns", "names", "results", "sql")

    def __init__(self, stmt: Executable, keys: Sequence[str], dialect: Dialect) -> None:
        element: Any = stmt
        compiled: Any = element.compile(dialect=dialect, column_keys=list(keys))
        names = tuple(compiled.positiontup or ())
        if (
            compiled.insert_prefetch
            or compiled.update_prefetch
            or compiled.literal_execute_params
            or compiled.post_compile_params
            or not set(names) <= set(keys)
        ):
            raise ValueError(f"not a prepared statement: {compiled.string}")
        self.sql: str = compiled.string
        self.names = names
        processors = compiled._bind_processors
        # Only the positions that convert (JSON, DateTime, Boolean...).
        self.binds: tuple[tuple[int, _Processor], ...] = tuple(
            (i, processors[n]) for i, n in enumerate(names) if n in processors
        )
        self.columns: tuple[str, ...] = ()
        self.results: tuple[tuple[int, _Processor], ...] = ()
        if isinstance(stmt, SelectBase):
            selected = list(stmt.selected_columns)
            self.columns = tuple(str(c.key) for c in selected)
            converts = [
                c.type._cached_result_processor(dialect, None) for c in selected
            ]
            self.results = tuple((i, p) for i, p in enumerate(converts) if p)

    def bound(self, params: Mapping[str, Any]) -> list[Any]:
        """The statement's parameters, converted (``None`` too, as SQLAlchemy
        does: a JSON ``None`` is written as ``null``)."""
        values = [params[n] for n in self.names]
        for i, convert in self.binds:
            values[i] = convert(values[i])
        return values

    def row(self, fetched: Sequence[Any]) -> Row:
        values = list(fetched)
        for i, convert in self.results:
            if values[i] is not None:
                values[i] = convert(values[i])
        return dict(zip(self.columns, values, strict=True))


_COMPILED: dict[tuple[int, Executable, tuple[str, ...]], _Compiled] = {}
_MAX_COMPILED = 2000
"""Bounds the cache (statements are few and built once; keys sets vary little)."""


def _compiled(dialect: Dialect, stmt: Executable, keys: tuple[str, ...]) -> _Compiled:
    key = (id(type(dialect)), stmt, keys)
    found = _COMPILED.get(key)
    if found is None:
        if len(_COMPILED) >= _MAX_COMPILED:
            _COMPILED.clear()
        found = _COMPILED[key] = _Compiled(stmt, keys, dialect)
    return found


_TOGETHER: dict[tuple[_Compiled, ...], str] = {}
_PARAM = re.compile(r"\$(\d+)")


def _together(parts: tuple[_Compiled, ...]) -> str:
    """``parts`` (writes compiled for PostgreSQL, every value a ``$n`` parameter)
    as one statement: each a data-modifying ``WITH`` query, their parameters
    numbered on, selecting the rows each changed."""
    found = _TOGETHER.get(parts)
    if found is None:
        queries, counts, offset = [], [], 0
        for i, part in enumerate(parts):
            shift = offset

            def renumbered(m: re.Match[str], shift: int = shift) -> str:
                return f"${int(m.group(1)) + shift}"

            queries.append(f"w{i} AS ({_PARAM.sub(renumbered, part.sql)} RETURNING 1)")
            counts.append(f"(SELECT count(*) FROM w{i})")
            offset += len(part.names)
        found = f"WITH {', '.join(queries)} SELECT {', '.join(counts)}"
        if len(_TOGETHER) >= _MAX_COMPILED:
            _TOGETHER.clear()
        _TOGETHER[parts] = found
    return found


def loop_connection(conn: AsyncConnection) -> sqlite_loop.LoopConnection | None:
    """The ``sqlite_loop`` connection under ``conn``; None for any other driver."""
    sync = conn.sync_connection
    if sync is None or sync.dialect.driver != "threadline":
        return None
    raw = sync.connection.dbapi_connection
    return raw if isinstance(raw, sqlite_loop.LoopConnection) else None


def _wrapped(exc: sqlite3.Error, sql: str, params: Any) -> BaseException:
    return DBAPIError.instance(sql, params, exc, sqlite3.Error)


class Statements:
    """Runs prepared statements on one transaction's connection: directly on
    SQLite's (see the module), through SQLAlchemy elsewhere."""

    __slots__ = ("_conn", "_deferred", "_pg", "_raw")

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._raw = loop_connection(conn)
        self._pg = None if self._raw is not None else pg_prepared.connection(conn)
        self._deferred: list[tuple[Executable, Mapping[str, Any]]] = []

    async def write_together(
        self, writes: Sequence[tuple[Executable, Mapping[str, Any]]]
    ) -> list[int]:
        """Run writes in order; the rows each changed. On PostgreSQL they go as
        one statement (one round trip; PostgreSQL runs its parts on one snapshot,
        so none may depend on another's change)."""
        pg = self._pg
        if pg is None or len(writes) < 2:
            return [await self.write(stmt, params) for stmt, params in writes]
        dialect = self._conn.dialect
        parts = tuple(_compiled(dialect, stmt, tuple(p)) for stmt, p in writes)
        args: list[Any] = []
        for part, (_, params) in zip(parts, writes, strict=True):
            args += part.bound(params)
        rows = await pg.fetch(_together(parts), args)
        return [int(n) for n in rows[0]]

    async def write_later(self, stmt: Executable, params: Mapping[str, Any]) -> None:
        """A write whose count nobody needs: on PostgreSQL sent with this
        transaction's next statement run here (``write_together``), or before
        its commit (``send_later``); elsewhere now."""
        if self._pg is None:
            await self.write(stmt, params)
            return
        self._deferred.append((stmt, params))

    async def send_later(self) -> None:
        """Send the writes ``write_later`` kept (before a commit)."""
        if self._deferred:
            writes, self._deferred = self._deferred, []
            await self.write_together(writes)

    @property
    def pg(self) -> pg_prepared.PgConnection | None:
        """The asyncpg connection under this transaction's, if that is the driver."""
        return self._pg

    async def write(self, stmt: Executable, params: Mapping[str, Any]) -> int:
        """Run an ``INSERT``, ``UPDATE`` or ``DELETE``; the rows it changed."""
        raw = self._raw
        if raw is None:
            pg = self._pg
            if pg is not None:
                if self._deferred:
                    writes, self._deferred = self._deferred, []
                    return (await self.write_together([*writes, (stmt, params)]))[-1]
                c = _compiled(self._conn.dialect, stmt, tuple(params))
                return await pg.execute(c.sql, c.bound(params))
            return int((await self._conn.execute(stmt, params)).rowcount)
        c = _compiled(self._conn.dialect, stmt, tuple(params))
        bound = c.bound(params)
        try:
            cursor = raw.execute(c.sql, bound)
        except sqlite3.Error as exc:
            raise _wrapped(exc, c.sql, bound) from exc
        count = cursor.rowcount
        cursor.close()
        return count

    async def write_many(
        self, stmt: Executable, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """One statement for many rows (all with the same keys)."""
        raw = self._raw
        if raw is None or not rows:
            if not rows:
                return
            pg = self._pg
            if pg is not None:
                await self.send_later()
                c = _compiled(self._conn.dialect, stmt, tuple(rows[0]))
                await pg.executemany(c.sql, [c.bound(r) for r in rows])
                return
            await self._conn.execute(stmt, list(rows))
            return
        c = _compiled(self._conn.dialect, stmt, tuple(rows[0]))
        bound = [c.bound(r) for r in rows]
        try:
            raw.executemany(c.sql, bound).close()
        except sqlite3.Error as exc:
            raise _wrapped(exc, c.sql, bound) from exc

    async def rows(self, stmt: Executable, params: Mapping[str, Any]) -> list[Row]:
        """A ``SELECT``'s rows as column-key mappings."""
        raw = self._raw
        if raw is None:
            pg = self._pg
            if pg is not None:
                await self.send_later()
                c = _compiled(self._conn.dialect, stmt, tuple(params))
                return [c.row(v) for v in await pg.fetch(c.sql, c.bound(params))]
            result = await self._conn.execute(stmt, params)
            return [dict(r) for r in result.mappings().all()]
        c = _compiled(self._conn.dialect, stmt, tuple(params))
        bound = c.bound(params)
        try:
            cursor = raw.execute(c.sql, bound)
            values = cursor.fetchall()
        except sqlite3.Error as exc:
            raise _wrapped(exc, c.sql, bound) from exc
        cursor.close()
        return [c.row(v) for v in values]

    async def first(self, stmt: Executable, params: Mapping[str, Any]) -> Row | None:
        """A by-key ``SELECT``'s row, or None."""
        found = await self.rows(stmt, params)
        return found[0] if found else None
