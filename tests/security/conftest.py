"""Security fixtures: the service as ``threadline serve`` builds it, and listeners.

``serve(store, **settings)`` starts the app with ``runtime_from_settings`` (real LLM
clients, the server's keys from settings), so a test sees exactly what a deployment
would send. ``listener`` is a real loopback server on a free port that records every
request it receives (headers included). The API fixtures (``app_client``, ``team``,
``other_team``, ``runtime`` ...) are those of ``tests/api``.
"""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.api import conftest as api_fixtures
from tests.api.conftest import Team, make_team
from threadline.api.app import bootstrap, create_app
from threadline.providers.fake_server import (
    FakeOpenAIServer,
    auto_reply,
    running_openai_server,
)
from threadline.service.runtime import Runtime, runtime_from_settings
from threadline.settings import Settings
from threadline.store import Store, open_store

# The API fixtures, found by name.
app_client = api_fixtures.app_client
llm = api_fixtures.llm
other_team = api_fixtures.other_team
runtime = api_fixtures.runtime
team = api_fixtures.team
FIXTURE_SECRET_KEY = Fernet.generate_key().decode()


@pytest.fixture
def settings(database_url: str) -> Settings:
    """``tests/api``'s settings with a secret key: batteries store encrypted
    secrets in the shared test database, and an app started on it without a key
    refuses to start."""
    return Settings(
        database_url=database_url,
        max_body_bytes=200_000,
        secret_key=FIXTURE_SECRET_KEY,
    )


START = {"command": "start", "thread_to_node_inputs": {"0": {"node_run_inputs": []}}}


@dataclass
class Served:
    """The app built from settings, one team on it, and its runtime."""

    team: Team
    runtime: Runtime
    settings: Settings
    store: Store


@contextlib.asynccontextmanager
async def serve(
    store: Store, database_url: str, **values: Any
) -> AsyncIterator[Served]:
    """The service as a deployment with these ``THREADLINE_*`` settings builds it."""
    settings = Settings(database_url=database_url, max_body_bytes=200_000, **values)
    runtime = runtime_from_settings(settings)
    app = create_app(settings, store=store, runtime=runtime)
    await bootstrap(store, settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            yield Served(await make_team(store, c), runtime, settings, store)
    finally:
        await runtime.drain()


@contextlib.asynccontextmanager
async def shared_service(database_url: str, **values: Any) -> AsyncIterator[Served]:
    """``serve`` on a store of its own, for a module of tests (each test then
    takes a fresh team with ``fresh_team``)."""
    store = open_store(database_url)
    await store.migrate()
    try:
        async with serve(store, database_url, **values) as served:
            yield served
    finally:
        await store.close()


async def fresh_team(served: Served) -> Served:
    """``served`` with a new team of its own (its client sends the new key)."""
    team = await make_team(served.store, served.team.client)
    return Served(team, served.runtime, served.settings, served.store)


@pytest.fixture
async def listener() -> AsyncIterator[FakeOpenAIServer]:
    """A loopback OpenAI-compatible listener (free port) recording every request."""
    async with running_openai_server(auto_reply()) as server:
        yield server


def headers_seen(server: FakeOpenAIServer) -> str:
    """Every header value the listener received, as one text (to search keys)."""
    return "\n".join(f"{k}: {v}" for r in server.requests for k, v in r.headers.items())
