"""What differs between SQLite and PostgreSQL: URLs, engine set-up and locking."""

import hashlib
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from threadline.errors import ConfigError
from threadline.store import json_text, pg_engine, sqlite_loop

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
_MIGRATION_LOCK_KEY = 861_100_001


def normalize_url(url: str) -> str:
    """Give plain ``sqlite://`` and ``postgresql://`` URLs their async driver."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises several types for a bad URL
        raise ConfigError(
            f"THREADLINE_DATABASE_URL {url!r} is not a valid URL"
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "postgres":  # Heroku-style alias
        backend = "postgresql"
    if backend not in _ASYNC_DRIVERS:
        raise ConfigError(
            f"THREADLINE_DATABASE_URL uses {backend!r}; use sqlite or postgresql"
        )
    if parsed.drivername in (backend, "postgres"):
        parsed = parsed.set(drivername=_ASYNC_DRIVERS[backend])
    return parsed.render_as_string(hide_password=False)


_BUSY_MS = 10_000
"""How long ``BEGIN IMMEDIATE`` waits for another process's write lock."""


def _sqlite_pragmas(synchronous: str) -> Any:
    def connect(dbapi_conn: Any, _record: Any) -> None:
        # Autocommit at the driver level: the "begin" hook below then opens each
        # transaction with BEGIN IMMEDIATE, so two writers never deadlock on
        # upgrade.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        # Statements run on the event loop: nothing may wait there. Checkpoints
        # run on a thread (``sqlite_loop``) and BEGIN waits on one when busy.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.close()
        if isinstance(dbapi_conn, sqlite_loop.LoopConnection):
            dbapi_conn.fsync = synchronous in sqlite_loop.FSYNC_ON_COMMIT
            dbapi_conn.busy_ms = _BUSY_MS

    return connect


_VEC_ENGINES: set[int] = set()
"""The SQLite engines whose connections load sqlite-vec (``sqlite_vec_loaded``)."""


def _load_sqlite_vec(dbapi_conn: Any) -> bool:
    """Load sqlite-vec into a new SQLite connection; False where the Python build
    cannot load extensions (then vectors are scanned exactly, in Python)."""
    try:
        import sqlite_vec  # type: ignore[import-untyped]

        dbapi_conn.enable_load_extension(True)
        dbapi_conn.load_extension(sqlite_vec.loadable_path())
        dbapi_conn.enable_load_extension(False)
    except Exception:  # no extension loading in this build, or no package
        return False
    return True


def _probe_sqlite_vec() -> bool:
    """Whether this Python can load sqlite-vec at all (checked once)."""
    import sqlite3

    try:
        import sqlite_vec

        probe = sqlite3.connect(":memory:")
        try:
            probe.enable_load_extension(True)
            sqlite_vec.load(probe)
        finally:
            probe.close()
    except Exception:  # no extension loading in this build, or no package
        return False
    return True


def sqlite_vec_loaded(engine: AsyncEngine) -> bool:
    """Whether ``engine``'s connections have sqlite-vec (SQLite only)."""
    return id(engine) in _VEC_ENGINES


def _sqlite_begin(conn: Any) -> None:
    dbapi_conn = conn.connection.dbapi_connection
    if dbapi_conn.in_transaction:  # begun by the group commit (``group_commit``)
        return
    sqlite_loop.begin_immediate(dbapi_conn, _BUSY_MS)


def create_engine(url: str, *, sqlite_synchronous: str = "NORMAL") -> AsyncEngine:
    """Create the async engine for ``url`` with the dialect's settings.

    SQLite runs on the event loop's thread (``sqlite_loop``) whatever driver the
    URL names; ``sqlite_synchronous`` is its ``PRAGMA synchronous``.
    """
    url = normalize_url(url)
    if url.startswith("sqlite"):
        synchronous = sqlite_synchronous.upper()
        if synchronous not in sqlite_loop.SYNC_LEVELS:
            raise ConfigError(
                f"THREADLINE_SQLITE_SYNCHRONOUS {sqlite_synchronous!r} is not one "
                f"of {', '.join(sqlite_loop.SYNC_LEVELS)}"
            )
        parsed = make_url(url).set(drivername=sqlite_loop.DRIVER)
        memory = parsed.database in (None, "", ":memory:")
        # Transactions are queued in the process (``SqlStore.begin``), so one
        # connection does the work; overflow serves the rare nested transaction.
        kwargs: dict[str, Any] = (
            {"poolclass": StaticPool}
            if memory
            else {"pool_size": 1, "max_overflow": 10}
        )
        connect_args = {
            "factory": sqlite_loop.LoopConnection,
            "check_same_thread": False,  # BEGIN's wait and commits may use a thread
            "timeout": 0,
        }
        engine = create_async_engine(
            parsed,
            connect_args=connect_args,
            json_serializer=json_text.dumps,
            **kwargs,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(synchronous))
        if _probe_sqlite_vec():
            _VEC_ENGINES.add(id(engine))

            def _vec(dbapi_conn: Any, _record: Any) -> None:
                if not _load_sqlite_vec(dbapi_conn):
                    _VEC_ENGINES.discard(id(engine))

            event.listen(engine.sync_engine, "connect", _vec)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return pg_engine.create(url)


async def lock_for_migration(conn: AsyncConnection) -> None:
    """Serialize migrations across processes (SQLite's BEGIN IMMEDIATE already does)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
        )


def _lock_id(key: str) -> int:
    """A stable signed 64-bit id for a lock name (PostgreSQL advisory locks)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock(conn: AsyncConnection, key: str) -> None:
    """Take the transaction-scoped lock ``key``.

    PostgreSQL: an advisory lock released at commit or rollback. SQLite: nothing to
    do, every transaction already begins with BEGIN IMMEDIATE and so holds the
    database's single write lock from its first statement.
    """
    if conn.dialect.name == "postgresql":
        await pg_engine.lock(conn, _lock_id(key))
