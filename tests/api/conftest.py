"""API fixtures: the app on the test store, and teams with keys and clients."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from threadline.api.app import bootstrap, create_app
from threadline.ids import new_object_id
from threadline.service import auth
from threadline.settings import Settings
from threadline.store import Store


@dataclass
class Team:
    """A team with one API key, and a client that sends it."""

    team_id: str
    user_id: str
    key: str
    client: httpx.AsyncClient


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, max_body_bytes=200_000)


@pytest.fixture
async def app_client(
    store: Store, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, store=store)
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
async def other_team(store: Store, settings: Settings) -> AsyncIterator[Team]:
    app = create_app(settings, store=store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as client:
        yield await make_team(store, client)
