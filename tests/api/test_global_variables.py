"""Team global variables over HTTP: CRUD, bulk, resolve, encryption, run-time use."""

import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.api.conftest import Team, make_team
from tests.factories import edge, static_node
from threadline.api.app import bootstrap, create_app
from threadline.errors import ConfigError
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.runtime import Runtime
from threadline.service.team import global_variables as service
from threadline.settings import Settings
from threadline.store import Store

TOKEN = "tok-Live-9f8e7d6c5b4a3210"
OTHER = "sk-other-team-55554444"
MASK = "********"
KEY = Fernet.generate_key().decode()
START = {"command": "start", "thread_to_node_inputs": {"0": {"node_run_inputs": []}}}


async def _drop_secrets(store: Store) -> None:
    """Secrets left in the shared test database would stop every later bootstrap."""
    far = wf.now() + timedelta(days=3650)
    async with store.begin() as tx:
        docs = await tx.documents(service.COLLECTION).find_stale(
            service.SECRET_STATUS, far, 10_000
        )
        for doc in docs:
            await tx.documents(service.COLLECTION).delete(doc.team_id, doc.id)


@pytest.fixture(autouse=True)
async def _no_secrets_left(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[None]:
    monkeypatch.delenv("THREADLINE_SECRET_KEY", raising=False)
    yield
    await _drop_secrets(store)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, max_body_bytes=200_000, secret_key=KEY)


async def create(team: Team, **body: Any) -> dict[str, Any]:
    response = await team.client.post("/v1/global-variables", json=body)
    assert response.status_code == 200, response.text
    variable: dict[str, Any] = response.json()["variable"]
    return variable


# ------------------------------------------------------------------- CRUD


async def test_crud_masks_secrets_and_keeps_plain_values(store: Store, team: Team):
    plain = await create(
        team, name="app_name", value="MyApp", category="metadata", description="d"
    )
    assert plain["value"] == "MyApp" and plain["is_secret"] is False
    assert plain["is_system"] is False and plain["team_id"] == team.team_id
    assert plain["created_by"] == team.user_id and plain["id"] == plain["_id"]
    secret = await create(team, name="api_token", value=TOKEN, is_secret=True)
    assert secret["value"] == MASK and secret["is_secret"] is True
    limits = await create(team, name="limits", value={"max": 3, "on": True})
    assert limits["value"] == {"max": 3, "on": True}

    got = await team.client.get(f"/v1/global-variables/{secret['id']}")
    assert got.status_code == 200 and got.json()["variable"]["value"] == MASK

    listed = await team.client.get("/v1/global-variables", params={"size": 2})
    body = listed.json()
    assert body["total"] == 3 and body["page"] == 1 and body["size"] == 2
    assert len(body["variables"]) == 2
    by_category = await team.client.get(
        "/v1/global-variables", params={"category": "metadata"}
    )
    assert [v["name"] for v in by_category.json()["variables"]] == ["app_name"]
    found = await team.client.get("/v1/global-variables", params={"search": "TOK"})
    assert [v["name"] for v in found.json()["variables"]] == ["api_token"]

    # The mask sent back keeps the secret; a new value replaces it.
    kept = await team.client.patch(
        f"/v1/global-variables/{secret['id']}",
        json={"value": MASK, "description": "vendor token"},
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["variable"]["description"] == "vendor token"
    values = (await service.for_run(store, team.team_id)).values
    assert values["api_token"] == TOKEN

    renamed = await team.client.patch(
        f"/v1/global-variables/{plain['id']}", json={"name": "product_name"}
    )
    assert renamed.json()["variable"]["name"] == "product_name"

    # A secret is never revealed by flipping the flag.
    flip = await team.client.patch(
        f"/v1/global-variables/{secret['id']}", json={"is_secret": False}
    )
    assert flip.status_code == 422 and TOKEN not in flip.text

    deleted = await team.client.delete(f"/v1/global-variables/{plain['id']}")
    assert deleted.status_code == 204
    gone = await team.client.get(f"/v1/global-variables/{plain['id']}")
    assert gone.status_code == 404


async def test_names_are_validated_unique_per_team_and_secrets_are_text(
    team: Team, other_team: Team
):
    await create(team, name="region", value="eu")
    duplicate = await team.client.post(
        "/v1/global-variables", json={"name": "region", "value": "us"}
    )
    assert duplicate.status_code == 409
    # Another team may use the same name.
    await create(other_team, name="region", value="us")
    for bad in ("my-variable", "1abc", "", "a b", "x" * 200):
        response = await team.client.post(
            "/v1/global-variables", json={"name": bad, "value": "v"}
        )
        assert response.status_code == 422, bad
    reserved = await team.client.post(
        "/v1/global-variables", json={"name": "interactly_api_token", "value": "v"}
    )
    assert reserved.status_code == 409
    not_text = await team.client.post(
        "/v1/global-variables",
        json={"name": "s", "value": {"a": 1}, "is_secret": True},
    )
    assert not_text.status_code == 422
    other = await create(team, name="zone", value="z")
    clash = await team.client.patch(
        f"/v1/global-variables/{other['id']}", json={"name": "region"}
    )
    assert clash.status_code == 409


async def test_bulk_creates_each_item_and_reports_failures(team: Team):
    await create(team, name="taken", value="1")
    response = await team.client.post(
        "/v1/global-variables/bulk",
        json={
            "variables": [
                {"name": "openai_api_key", "value": TOKEN, "is_secret": True},
                {"name": "app_name", "value": "MyApp", "category": "metadata"},
                {"name": "taken", "value": "2"},
                {"name": "bad-name", "value": "3"},
                {"name": "app_name", "value": "again"},
            ]
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [v["name"] for v in body["created"]] == ["openai_api_key", "app_name"]
    assert body["created"][0]["value"] == MASK
    assert [(e["index"], e["status"]) for e in body["errors"]] == [
        (2, 409),
        (3, 422),
        (4, 409),
    ]
    assert body["total_created"] == 2 and body["total_errors"] == 3
    assert TOKEN not in response.text
    bad = await team.client.post("/v1/global-variables/bulk", json={"variables": 1})
    assert bad.status_code == 422


async def test_resolve_masks_secrets(team: Team):
    await create(team, name="app_name", value="MyApp")
    await create(team, name="api_token", value=TOKEN, is_secret=True)
    response = await team.client.get("/v1/global-variables/resolve")
    assert response.status_code == 200
    assert response.json() == {"variables": {"app_name": "MyApp", "api_token": MASK}}


async def test_a_team_cannot_read_or_resolve_another_teams_variables(
    team: Team, other_team: Team
):
    mine = await create(team, name="api_token", value=TOKEN, is_secret=True)
    theirs = await create(other_team, name="their_token", value=OTHER, is_secret=True)
    for path in (f"/v1/global-variables/{mine['id']}",):
        assert (await other_team.client.get(path)).status_code == 404
        patched = await other_team.client.patch(path, json={"value": "x"})
        assert patched.status_code == 404
        assert (await other_team.client.delete(path)).status_code == 404
    resolved = await other_team.client.get("/v1/global-variables/resolve")
    assert resolved.json() == {"variables": {"their_token": MASK}}
    listed = await other_team.client.get("/v1/global-variables")
    assert [v["id"] for v in listed.json()["variables"]] == [theirs["id"]]
    mine_resolved = await team.client.get("/v1/global-variables/resolve")
    assert mine_resolved.json() == {"variables": {"api_token": MASK}}


# ------------------------------------------------------------ encryption


async def test_secrets_are_encrypted_in_the_database(store: Store, team: Team):
    secret = await create(team, name="api_token", value=TOKEN, is_secret=True)
    plain = await create(team, name="app_name", value="MyApp")
    async with store.begin() as tx:
        doc = await tx.documents(service.COLLECTION).get(team.team_id, secret["id"])
        plain_doc = await tx.documents(service.COLLECTION).get(
            team.team_id, plain["id"]
        )
    assert doc is not None and plain_doc is not None
    raw = json.dumps(doc.body)
    assert TOKEN not in raw
    assert doc.body["value"] is None and doc.body["ciphertext"].startswith("gAAAA")
    assert Fernet(KEY.encode()).decrypt(doc.body["ciphertext"]).decode() == TOKEN
    assert doc.status == service.SECRET_STATUS
    assert plain_doc.body["value"] == "MyApp"
    # An updated secret is re-encrypted, never stored in clear.
    await team.client.patch(
        f"/v1/global-variables/{secret['id']}", json={"value": TOKEN + "-v2"}
    )
    async with store.begin() as tx:
        doc = await tx.documents(service.COLLECTION).get(team.team_id, secret["id"])
    assert doc is not None and TOKEN not in json.dumps(doc.body)


async def test_storing_a_secret_without_a_key_is_refused(
    store: Store, database_url: str, runtime: Runtime
):
    keyless = Settings(database_url=database_url, max_body_bytes=200_000)
    app = create_app(keyless, store=store, runtime=runtime)
    await bootstrap(store, keyless)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as client:
        team = await make_team(store, client)
        response = await client.post(
            "/v1/global-variables",
            json={"name": "api_token", "value": TOKEN, "is_secret": True},
        )
        assert response.status_code == 409
        assert response.json()["code"] == "secret_key_not_set"
        assert "THREADLINE_SECRET_KEY" in response.text and TOKEN not in response.text
        ok = await client.post(
            "/v1/global-variables", json={"name": "app_name", "value": "MyApp"}
        )
        assert ok.status_code == 200
        resolved = await client.get("/v1/global-variables/resolve")
        assert resolved.json() == {"variables": {"app_name": "MyApp"}}
        assert team.team_id


async def test_bootstrap_refuses_to_start_with_secrets_stored_and_no_key(
    store: Store, database_url: str
):
    caller = Caller(team_id="0" * 23 + "a", user_id="0" * 23 + "b")
    await service.create(
        store, caller, {"name": "api_token", "value": TOKEN, "is_secret": True}, KEY
    )
    keyless = Settings(database_url=database_url)
    with pytest.raises(ConfigError, match="THREADLINE_SECRET_KEY"):
        await bootstrap(store, keyless)
    with pytest.raises(ConfigError, match="not a valid Fernet key"):
        await bootstrap(
            store, Settings(database_url=database_url, secret_key="not-a-key")
        )
    await bootstrap(store, Settings(database_url=database_url, secret_key=KEY))
    await _drop_secrets(store)
    await bootstrap(store, keyless)  # no secrets stored: starts without a key


# -------------------------------------------------------------- run time


def _secret_workflow() -> dict[str, Any]:
    return {
        "name": "Uses secrets",
        "node_configs": [
            {
                "type": "http_request",
                "logical_id": "node_call",
                "name": "node_call",
                "is_start": True,
                "method": "POST",
                "url": "http://vendor.example.test/v1/orders?region={{global.region}}",
                "headers": {
                    "Authorization": "Bearer {{global.api_token}}",
                    "X-Partner-Token": "{{global.api_token}}",
                },
                "body_parameters": '{"token": "{{global.api_token}}"}',
            },
            static_node("node_say", "Token {{global.api_token}} for {{global.region}}"),
        ],
        "edge_configs": [edge("edge_call_say", "node_call", "node_say")],
    }


async def test_a_run_uses_secrets_without_exposing_them(
    store: Store,
    team: Team,
    runtime: Runtime,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True, "echo": TOKEN})

    runtime.http_transport = httpx.MockTransport(handler)
    runtime.http_allow_private = True
    await create(team, name="api_token", value=TOKEN, is_secret=True)
    await create(team, name="region", value="eu-west")

    made = await team.client.post("/v1/workflows", json=_secret_workflow())
    assert made.status_code == 200, made.text
    wid = made.json()["workflow"]["_id"]
    executed = await team.client.post(
        f"/v1/workflows/{wid}/execute", json={"run_input": START}
    )
    assert executed.status_code == 200, executed.text
    run_id = executed.json()["run_id"]
    record = await team.client.get(f"/v1/workflow-runs/{run_id}")
    assert record.status_code == 200

    # The vendor got the real secret ...
    assert len(seen) == 1
    request = seen[0]
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["x-partner-token"] == TOKEN
    assert json.loads(request.content) == {"token": TOKEN}
    assert request.url.params["region"] == "eu-west"
    # ... and rendered the static message, shown redacted.
    events = executed.json()["events"]
    said = [e["content"] for e in events if e["type"] == "assistant_response"]
    assert said == ["Token [REDACTED] for eu-west"]
    curl = next(e for e in events if e["type"] == "http_request")["curl_command"]
    assert "[REDACTED]" in curl and "eu-west" in curl

    for text in (executed.text, record.text, caplog.text):
        assert TOKEN not in text
    async with store.begin() as tx:
        pairs = await tx.turns().list(team.team_id, run_id)
        doc = await tx.documents("workflow_runs").get(team.team_id, run_id)
    assert pairs and TOKEN not in json.dumps(pairs)
    assert doc is not None and TOKEN not in json.dumps(doc.body)


async def test_a_secret_found_in_state_keys_does_not_break_the_run(team: Team):
    # "tion" occurs in keys of the stored run state (e.g. "node_executions").
    await create(team, name="short_token", value="tion", is_secret=True)
    made = await team.client.post(
        "/v1/workflows",
        json={
            "name": "Short secret",
            "node_configs": [
                static_node("node_say", "Hi {{global.short_token}}", is_start=True)
            ],
            "edge_configs": [],
        },
    )
    wid = made.json()["workflow"]["_id"]
    executed = await team.client.post(
        f"/v1/workflows/{wid}/execute", json={"run_input": START}
    )
    assert executed.status_code == 200, executed.text
    said = [
        e["content"]
        for e in executed.json()["events"]
        if e["type"] == "assistant_response"
    ]
    assert said == ["Hi [REDACTED]"]


async def test_secrets_shorter_than_four_characters_are_refused(team: Team):
    response = await team.client.post(
        "/v1/global-variables", json={"name": "tiny", "value": "x", "is_secret": True}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "value"
    empty = await team.client.post(
        "/v1/global-variables", json={"name": "empty", "value": "", "is_secret": True}
    )
    assert empty.status_code == 200
