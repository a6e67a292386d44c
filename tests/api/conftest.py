"""API fixtures: the app on the test store, and teams with keys and clients."""

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from cryptography.fernet import Fernet

from threadline.api.app import bootstrap, create_app
from threadline.ids import new_object_id
from threadline.providers.fake import ScriptedLLM
from threadline.service.runtime import Runtime
from threadline.service.team import auth
from threadline.settings import Settings
from threadline.store import Store


@dataclass
class Team:
    """A team with one API key, and a client that sends it."""

    team_id: str
    user_id: str
    key: str
    client: httpx.AsyncClient


SECRET_KEY = Fernet.generate_key().decode()
"""Every app here can store secrets (LLM keys, webhook tokens): they are sealed."""


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, max_body_bytes=200_000, secret_key=SECRET_KEY
    )


@pytest.fixture
def llm() -> ScriptedLLM:
    """The scripted model every run of the test talks to (empty unless a test adds)."""
    return ScriptedLLM()


@pytest.fixture
async def runtime(llm: ScriptedLLM, store: Store) -> AsyncIterator[Runtime]:
    clock = iter(range(1_700_000_000, 1_800_000_000))
    runtime = Runtime(llm=llm, clock=lambda: float(next(clock)), rng=random.Random(7))
    yield runtime
    await runtime.drain()


@pytest.fixture
async def app_client(
    store: Store, settings: Settings, runtime: Runtime
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, store=store, runtime=runtime)
    await bootstrap(store, settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as client:
        yield client


async def make_team(store: Store, app_client: httpx.AsyncClient) -> Team:
    team_id, user_id = new_object_id(), new_object_id()
    new = await auth.create_key(store, team_id, user_id, name="test")
    app_client.headers["Authorization"] = f"Bearer {new.secret}"
    return Team(team_id, user_id, new.secret, app_client)


@pytest.fixture
async def team(store: Store, app_client: httpx.AsyncClient) -> Team:
    return await make_team(store, app_client)


@pytest.fixture
async def other_team(
    store: Store, settings: Settings, runtime: Runtime
) -> AsyncIterator[Team]:
    app = create_app(settings, store=store, runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as client:
        yield await make_team(store, client)
