"""Secret global variables on a server without THREADLINE_SECRET_KEY, via the SDK."""

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import make_team
from threadline.api.app import bootstrap, create_app
from threadline.service.runtime import Runtime
from threadline.settings import Settings
from threadline.store import open_store

interactly = pytest.importorskip("interactly")


async def test_a_secret_without_a_key_is_a_409_saying_what_to_set(
    tmp_path: Path, runtime: Runtime
):
    # A database of its own: a keyless server refuses to start on one where other
    # tests stored secrets (which the shared test database may hold).
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'keyless.db'}"
    store = open_store(database_url)
    await store.migrate()
    keyless = Settings(database_url=database_url, max_body_bytes=200_000)
    app = create_app(keyless, store=store, runtime=runtime)
    await bootstrap(store, keyless)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        team = await make_team(store, http)
        sdk: Any = interactly.AsyncWorkflowClient(
            api_key=team.key,
            team_id=team.team_id,
            user_id=team.user_id,
            base_url="http://t",
            max_retries=0,
            http_client=http,
        )
        secret = {"name": "api_token", "value": "tok-123456", "is_secret": True}
        for method, kwargs in (
            (sdk.global_variables.create, secret),
            (sdk.global_variables.bulk_create, {"variables": [secret]}),
        ):
            with pytest.raises(interactly.ConflictError) as raised:
                await method(**kwargs)
            assert raised.value.body["code"] == "secret_key_not_set"
            assert "set THREADLINE_SECRET_KEY" in str(raised.value)
            assert "Fernet.generate_key" in str(raised.value)
        listed = await sdk.global_variables.list()
        assert listed.total == 0
    await store.close()
