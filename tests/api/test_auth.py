"""Authentication: bearer keys bound to a team and user, the SDK's headers honoured."""

import httpx
from pydantic import SecretStr

from tests.api.conftest import Team
from threadline.service.team import auth
from threadline.settings import Settings
from threadline.store import Store


async def test_health_answers_without_a_key(app_client: httpx.AsyncClient):
    response = await app_client.get("/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


async def test_a_request_without_a_key_is_refused(app_client: httpx.AsyncClient):
    response = await app_client.get("/v1/workflows")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


async def test_an_unknown_key_is_refused(app_client: httpx.AsyncClient):
    response = await app_client.get(
        "/v1/workflows", headers={"Authorization": "Bearer nope"}
    )
    assert response.status_code == 401


async def test_a_revoked_key_stops_working(store: Store, team: Team):
    assert (await team.client.get("/v1/workflows")).status_code == 200
    [key] = await auth.list_keys(store, team.team_id)
    await auth.revoke_key(store, key.id)
    response = await team.client.get("/v1/workflows")
    assert response.status_code == 401
    assert "revoked" in response.json()["message"]


async def test_a_teamid_header_naming_another_team_is_forbidden(
    team: Team, other_team: Team
):
    response = await team.client.get(
        "/v1/workflows", headers={"teamid": other_team.team_id}
    )
    assert response.status_code == 403
    assert other_team.team_id in response.json()["message"]


async def test_a_uuid_header_naming_another_user_is_forbidden(team: Team):
    response = await team.client.get("/v1/workflows", headers={"uuid": "someone-else"})
    assert response.status_code == 403


async def test_the_sdk_headers_naming_the_keys_own_team_and_user_are_accepted(
    team: Team,
):
    headers = {
        "teamid": team.team_id,
        "uuid": team.user_id,
        "X-Interactly-API-Version": "2026-04-01",
    }
    response = await team.client.get("/v1/workflows", headers=headers)
    assert response.status_code == 200


async def test_the_bootstrap_key_is_valid_at_start_up(
    app_client: httpx.AsyncClient, store: Store, database_url: str
):
    from threadline.api.app import bootstrap

    settings = Settings(
        database_url=database_url,
        bootstrap_api_key=SecretStr("tl_bootstrap_for_tests"),
        bootstrap_team_id="aaaaaaaaaaaaaaaaaaaaaaaa",
        bootstrap_user_id="bbbbbbbbbbbbbbbbbbbbbbbb",
    )
    await bootstrap(store, settings)
    await bootstrap(store, settings)  # idempotent across restarts
    response = await app_client.post(
        "/v1/workflows",
        json={"name": "boot"},
        headers={"Authorization": "Bearer tl_bootstrap_for_tests"},
    )
    assert response.status_code == 200
    assert response.json()["workflow"]["team_id"] == "aaaaaaaaaaaaaaaaaaaaaaaa"
    assert response.json()["workflow"]["created_by"] == "bbbbbbbbbbbbbbbbbbbbbbbb"


async def test_keys_are_stored_hashed(store: Store, team: Team):
    [key] = await auth.list_keys(store, team.team_id)
    assert key.key_hash == auth.hash_key(team.key)
    assert team.key not in (key.key_hash, key.prefix)
