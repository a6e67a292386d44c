"""Console fixtures: the API fixtures, and a signed-in browser-like client."""

import re

import httpx

from tests.api.conftest import (  # noqa: F401  (fixtures)
    Team,
    app_client,
    llm,
    make_team,
    other_team,
    runtime,
    settings,
    team,
)

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


async def sign_in(client: httpx.AsyncClient, key: str) -> str:
    """Sign ``client`` in with ``key``; return the session's CSRF token."""
    response = await client.post(
        "/ui/login", data={"api_key": key, "next": "/ui/workflows"}
    )
    assert response.status_code == 303, response.text
    page = await client.get("/ui/workflows")
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)
