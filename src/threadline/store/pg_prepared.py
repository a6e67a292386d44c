"""The hot statements on PostgreSQL, run on the asyncpg connection under SQLAlchemy's.

``Connection.execute`` costs ~170 µs of client CPU a statement over asyncpg's own
(docs/benchmarks.md, "The PostgreSQL path"): the compile-cache key, the
execution context, the greenlet switch into SQLAlchemy's adapter, the cursor and
the result object. ``prepared.Statements`` sends the by-key statements of a turn
here instead. The SQL is what SQLAlchemy compiles for this dialect (the same
text, casts and parameter order), its values go through SQLAlchemy's bind
processors (``prepared._Compiled``), and asyncpg runs it as a prepared statement
(its statement cache) on the same connection, with the codecs SQLAlchemy set up on
it (JSON as text), so the bytes sent are the ones ``Connection.execute`` sends.

The transaction is SQLAlchemy's: when nothing has been sent in it yet, it is
begun here as the adapter's cursor begins it, and its commit or rollback stays
with ``engine.begin()``. Errors are translated as SQLAlchemy translates them
(asyncpg's error -> the adapter's DBAPI error -> ``sqlalchemy.exc``), and a lost
connection is invalidated, as ``Connection.execute`` would.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn, cast

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from threadline.store import pg_engine


class PgConnection:
    """SQLAlchemy's asyncpg adapter of one checked-out connection, and the asyncpg
    connection under it."""

    __slots__ = ("_adapter", "_conn", "_raw")

    def __init__(self, conn: AsyncConnection, adapter: Any) -> None:
        self._conn = conn
        self._adapter = adapter
        self._raw = adapter._connection

    async def execute(self, sql: str, args: Sequence[Any]) -> int:
        """Run a write; the rows it changed (its status's count)."""
        status: str = await self._run(sql, args, lambda: self._raw.execute(sql, *args))
        return _count(status)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One statement for many rows (asyncpg sends them in one pipeline)."""
        await self._run(sql, rows, lambda: self._raw.executemany(sql, rows))

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Any]:
        """A query's rows (asyncpg records)."""
        rows: list[Any] = await self._run(
            sql, args, lambda: self._raw.fetch(sql, *args)
        )
        return rows

    async def fetch_alone(self, sql: str, args: Sequence[Any]) -> list[Any]:
        """A statement's rows, the statement its own transaction when nothing
        began one: no ``BEGIN``/``COMMIT``, PostgreSQL commits it atomically (one
        round trip); inside a begun transaction, a statement of it."""
        rows: list[Any] = await self._run(
            sql, args, lambda: self._raw.fetch(sql, *args), alone=True
        )
        return rows

    async def _run(
        self,
        sql: str,
        args: Any,
        call: Callable[[], Awaitable[Any]],
        *,
        alone: bool = False,
    ) -> Any:
        """``call`` in the transaction, begun first if nothing began it, as the
        adapter's cursor runs a statement (``alone``: unless nothing began one,
        then in PostgreSQL's implicit transaction of the statement)."""
        adapter = self._adapter
        async with adapter._execute_mutex:
            try:
                if adapter._transaction is None and not (
                    alone and pg_engine._unbegun(adapter)
                ):
                    if pg_engine._unbegun(adapter):
                        await pg_engine.begin(adapter)
                    else:
                        await adapter._start_transaction()
                try:
                    return await call()
                except Exception as error:  # translated as the adapter does
                    adapter._handle_exception(error)
                    raise  # (it always raises)
            except adapter.dbapi.Error as error:
                await self._failed(error, sql, args)

    async def _failed(self, error: Exception, sql: str, args: Any) -> NoReturn:
        """Raise ``error`` as ``Connection.execute`` would: as ``sqlalchemy.exc``'s
        type for it, the connection invalidated if it was lost."""
        dialect = self._conn.dialect
        lost = bool(dialect.is_disconnect(cast(Any, error), self._adapter, None))
        if lost:
            await self._conn.invalidate(error)
        raise DBAPIError.instance(
            sql,
            args,
            error,
            self._adapter.dbapi.Error,
            connection_invalidated=lost,
            dialect=dialect,
        ) from error


def _count(status: str) -> int:
    """The row count of a command status (``UPDATE 2``, ``INSERT 0 1``)."""
    last = status.rpartition(" ")[2]
    return int(last) if last.isdigit() else -1


def connection(conn: AsyncConnection) -> PgConnection | None:
    """The asyncpg connection under ``conn``; None for any other driver or set-up."""
    sync = conn.sync_connection
    if sync is None or sync.dialect.driver != "asyncpg":
        return None
    adapter = sync.connection.dbapi_connection
    if not (
        hasattr(adapter, "_execute_mutex")
        and hasattr(adapter, "_start_transaction")
        and hasattr(adapter, "_connection")
    ):
        return None
    return PgConnection(conn, adapter)
