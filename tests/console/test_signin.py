"""Signing in to the console: the form, the cookie, sign-out, CSRF, redirects."""

import httpx

from tests.api.conftest import Team
from tests.console.conftest import sign_in
from threadline.service.team import auth
from threadline.store import Store


def browser(team: Team) -> httpx.AsyncClient:
    """The team's client without its API key header: it has only cookies."""
    team.client.headers.pop("Authorization", None)
    return team.client


async def test_every_page_sends_a_visitor_without_a_session_to_the_login_form(
    team: Team,
):
    client = browser(team)
    root = await client.get("/")
    assert root.status_code == 303 and root.headers["location"] == "/ui/"
    for path in ("/ui/", "/ui/workflows", "/ui/workflows/aaaaaaaaaaaaaaaaaaaaaaaa"):
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/ui/login")
    form = await client.get("/ui/login")
    assert form.status_code == 200
    assert 'name="api_key"' in form.text and form.text.count("<input") == 2


async def test_signing_in_sets_an_httponly_strict_cookie_without_the_key(team: Team):
    client = browser(team)
    bad = await client.post("/ui/login", data={"api_key": "tl_wrong"})
    assert bad.status_code == 401 and "unknown or revoked" in bad.text
    assert "set-cookie" not in bad.headers
    good = await client.post(
        "/ui/login", data={"api_key": team.key, "next": "/ui/workflows"}
    )
    assert good.status_code == 303 and good.headers["location"] == "/ui/workflows"
    cookie = good.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert team.key not in cookie and team.key not in good.headers["location"]
    page = await client.get("/ui/workflows")
    assert page.status_code == 200 and team.team_id in page.text


async def test_next_never_leaves_the_console(team: Team):
    client = browser(team)
    for target in ("https://evil.example/", "//evil.example/ui/", "/v1/workflows"):
        response = await client.post(
            "/ui/login", data={"api_key": team.key, "next": target}
        )
        assert response.headers["location"] == "/ui/workflows"


async def test_sign_out_needs_the_csrf_token_and_ends_the_session(team: Team):
    client = browser(team)
    csrf = await sign_in(client, team.key)
    refused = await client.post("/ui/logout", data={})
    assert refused.status_code == 403
    assert (await client.get("/ui/workflows")).status_code == 200
    other_site = await client.post(
        "/ui/logout",
        data={"csrf_token": csrf},
        headers={"Origin": "https://evil.example"},
    )
    assert other_site.status_code == 403
    out = await client.post("/ui/logout", data={"csrf_token": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert (await client.get("/ui/workflows")).status_code == 303


async def test_a_forged_cookie_or_a_revoked_key_signs_nobody_in(
    team: Team, store: Store
):
    client = browser(team)
    await sign_in(client, team.key)
    [key] = await auth.list_keys(store, team.team_id)
    await auth.revoke_key(store, key.id)
    assert (await client.get("/ui/workflows")).status_code == 303
    client.cookies.set("threadline_console", f"{key.key_hash}.99999999999.00")
    assert (await client.get("/ui/workflows")).status_code == 303
