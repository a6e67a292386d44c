"""Migrations: a fresh database gets every table; URLs get their async driver."""

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from threadline.errors import ConfigError
from threadline.store import normalize_url, open_store
from threadline.store.migrations import LATEST_VERSION, current_version
from threadline.store.schema import metadata


async def test_a_fresh_database_gets_every_table_and_the_latest_stamp(tmp_path: Path):
    path = tmp_path / "fresh.db"
    store = open_store(f"sqlite:///{path}")
    assert await store.migrate() == LATEST_VERSION
    await store.close()
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        assert current_version(conn) == LATEST_VERSION
        for table in metadata.sorted_tables:
            columns = {c["name"] for c in inspect(conn).get_columns(table.name)}
            assert columns == {c.name for c in table.columns}, table.name
    engine.dispose()
    # FTS5 keeps the knowledge-base full-text index in tables of its own
    fts = {t for t in tables if t.startswith("kb_chunks_fts")}
    assert "kb_chunks_fts" in fts
    assert tables - fts == {t.name for t in metadata.sorted_tables}


async def test_the_sqlite_database_uses_write_ahead_logging(tmp_path: Path):
    store = open_store(f"sqlite:///{tmp_path / 'wal.db'}")
    await store.migrate()
    await store.close()
    assert (tmp_path / "wal.db").exists()
    engine = create_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
        ("sqlite+aiosqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
        ("postgresql://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_plain_urls_get_the_async_driver(url: str, expected: str):
    assert normalize_url(url) == expected


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url at all"])
def test_unsupported_database_urls_are_refused_with_the_setting_named(url: str):
    with pytest.raises(ConfigError, match="THREADLINE_DATABASE_URL"):
        normalize_url(url)


async def test_an_older_database_gets_the_missing_steps(tmp_path: Path):
    path = tmp_path / "old.db"
    store = open_store(f"sqlite:///{path}")
    await store.migrate()
    await store.close()
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE run_turns")
        conn.exec_driver_sql("UPDATE threadline_schema_version SET version = 1")
    store = open_store(f"sqlite:///{path}")
    assert await store.migrate() == LATEST_VERSION - 1
    await store.close()
    with engine.connect() as conn:
        assert "run_turns" in inspect(conn).get_table_names()
        assert current_version(conn) == LATEST_VERSION
    engine.dispose()


async def test_an_older_database_gets_the_command_trace_context_column(
    tmp_path: Path,
):
    path = tmp_path / "old.db"
    store = open_store(f"sqlite:///{path}")
    await store.migrate()
    await store.close()
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE run_commands DROP COLUMN trace_context")
        conn.exec_driver_sql("UPDATE threadline_schema_version SET version = 9")
    store = open_store(f"sqlite:///{path}")
    assert await store.migrate() == LATEST_VERSION - 9
    await store.close()
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("run_commands")}
        assert "trace_context" in columns
        assert current_version(conn) == LATEST_VERSION
    engine.dispose()
