"""Tests through the Interactly SDK's own client (skipped when it is not installed).

``make test-sdk SDK=/path/to/sdk/checkout`` installs a checkout of the SDK into the
environment and runs this folder. The client talks to the app in-process (the
same ASGI transport as ``tests/api``), with a key of a fresh team.
"""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import (  # noqa: F401 (the API tests' fixtures)
    Team,
    app_client,
    llm,
    other_team,
    runtime,
    settings,
    team,
)

interactly = pytest.importorskip("interactly")


@pytest.fixture
async def sdk(app_client: httpx.AsyncClient, team: Team) -> AsyncIterator[Any]:  # noqa: F811
    """An ``AsyncWorkflowClient`` of ``team``, on the test app."""
    transport = app_client._transport  # the app's ASGI transport
    async with httpx.AsyncClient(transport=transport) as http:
        client = interactly.AsyncWorkflowClient(
            api_key=team.key,
            team_id=team.team_id,
            user_id=team.user_id,
            base_url="http://testserver",
            max_retries=0,
            http_client=http,
        )
        yield client
