"""Security fixtures: the service as ``threadline serve`` builds it, and listeners.

``serve(store, **settings)`` starts the app with ``runtime_from_settings`` (real LLM
clients, the server's keys from settings), so a test sees exactly what a deployment
would send. ``listener`` is a real loopback server on a free port that records every
request it receives (headers included). The API fixtures (``app_client``, ``team``,
``other_team``, ``runtime`` ...) are those of ``tests/api``.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
from threadline.service.processes import runtime_from_settings
from threadline.service.runtime import Runtime
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
SECRET_KEY = Fernet.generate_key().decode()
"""THREADLINE_SECRET_KEY of every deployment here (unless a test sets its own)."""
SECRET_KINDS = ("global_variables", "team_settings")
"""Collections whose secret rows make a keyless start-up refuse (see ``serve``)."""


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
    """The service as a deployment with these ``THREADLINE_*`` settings builds it.

    Secrets stored meanwhile are dropped on exit: a later test starting the service
    without a secret key must not find them (start-up would refuse).
    """
    values.setdefault("secret_key", SECRET_KEY)
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
        await drop_secrets(store)


async def drop_secrets(store: Store) -> None:
    """Delete every stored secret row (of any team)."""
    far = datetime.now(UTC) + timedelta(days=3650)
    async with store.begin() as tx:
        for kind in SECRET_KINDS:
            for doc in await tx.documents(kind).find_stale("secret", far, 10_000):
                await tx.documents(kind).delete(doc.team_id, doc.id)


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


@dataclass
class Seen:
    """One request a ``RawListener`` received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RawListener:
    """A loopback HTTP listener (free port) answering every request with ``answer``
    (``(status, headers, body)`` from the request) and recording it."""

    answer: Any
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            size = int(headers.get("content-length", "0"))
            body = await reader.readexactly(size) if size else b""
            request = Seen(method, path, headers, body)
            self.seen.append(request)
            status, extra, content = self.answer(request)
            lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(content)}"]
            lines += [f"{k}: {v}" for k, v in extra.items()]
            lines += ["Connection: close", "", ""]
            writer.write("\r\n".join(lines).encode("latin-1") + content)
            await writer.drain()
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def raw_listener(answer: Any) -> AsyncIterator[RawListener]:
    """A started ``RawListener`` on 127.0.0.1, stopped on exit."""
    listener = RawListener(answer)
    server = await asyncio.start_server(listener._handle, "127.0.0.1", 0)
    listener.port = server.sockets[0].getsockname()[1]
    try:
        yield listener
    finally:
        server.close()
        await server.wait_closed()
