"""Shared fixtures: the database switch, stores, the app and API clients.

``THREADLINE_TEST_DATABASE_URL`` unset: store, service and API tests run on a SQLite
file. Set to a PostgreSQL URL (``make test-pg``): they run there instead. Every test
works in teams of its own (fresh random ids), so tests never see each other's rows.
"""

import inspect
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from threadline.store import Store, open_store

TEST_DATABASE_URL = os.environ.get("THREADLINE_TEST_DATABASE_URL")


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(
    collector: pytest.Collector, name: str, obj: object
) -> None:
    """Run every ``async def`` test on asyncio through anyio's plugin.

    The mark goes on the function before anyio's own hook parametrises it.
    """
    if inspect.iscoroutinefunction(obj) and name.startswith("test"):
        pytest.mark.anyio(obj)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if TEST_DATABASE_URL:
        yield TEST_DATABASE_URL
        return
    path: Path = tmp_path_factory.mktemp("db") / "threadline.db"
    yield f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    s = open_store(database_url)
    await s.migrate()
    try:
        yield s
    finally:
        await s.close()
