"""A team on an app whose models are the fake provider server's, for the tests
that compare a run's accounting with what the provider served."""

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from tests.api.conftest import Team, make_team
from threadline.api.app import bootstrap, create_app
from threadline.providers.fake_server import FakeOpenAIServer
from threadline.providers.groups import GroupLLM
from threadline.providers.keys import ServerKeys
from threadline.providers.pai_retries import Backoff
from threadline.providers.router import ConfigurableLLM
from threadline.service.runtime import Runtime
from threadline.settings import Settings
from threadline.store import Store


@asynccontextmanager
async def team_on_fake_provider(
    store: Store, settings: Settings, fake: FakeOpenAIServer
) -> AsyncIterator[Team]:
    """A team whose runs call ``fake`` (OpenAI and Anthropic wires, server keys,
    no retry backoff); the runtime's background work is drained on exit."""
    keys = ServerKeys(
        api_keys={"openai": "sk-server", "anthropic": "sk-server-anthropic"},
        endpoints={"openai": fake.base_url, "anthropic": fake.root_url},
        backoff=Backoff(0.0, 0.0),
    )
    runtime = Runtime(
        llm=ConfigurableLLM(keys=keys, group_factory=GroupLLM), rng=random.Random(1)
    )
    app = create_app(settings, store=store, runtime=runtime)
    await bootstrap(store, settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        yield await make_team(store, http)
    await runtime.drain()
