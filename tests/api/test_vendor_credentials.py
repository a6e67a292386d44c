"""Team vendor credentials over HTTP: stored encrypted, never shown, used by the
team's runs (node key -> team credential -> server key) and only by them."""

import itertools
import json
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.api.conftest import Team, make_team
from tests.factories import edge, moving_say_node, static_node
from threadline.api.app import bootstrap, create_app
from threadline.errors import ConfigError
from threadline.ids import new_object_id
from threadline.providers.fake_server import (
    FakeOpenAIServer,
    auto_reply,
    running_openai_server,
)
from threadline.providers.groups import GroupLLM
from threadline.providers.keys import ServerKeys
from threadline.providers.pai_retries import Backoff
from threadline.providers.router import ConfigurableLLM
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.runtime import Runtime
from threadline.service.team import vendor_credentials as service
from threadline.settings import Settings
from threadline.store import Store

KEY = Fernet.generate_key().decode()
TEAM_KEY = "sk-team-A-credential-7f3e9a"
NODE_KEY = "sk-node-own-key-4411"
SERVER_KEY = "sk-server-fallback-0000"
SMS_TOKEN = "sms-team-A-token-5521"
MASK = "********"
START = {"command": "start", "thread_to_node_inputs": {"0": {"node_run_inputs": []}}}


async def _drop_credentials(store: Store) -> None:
    far = wf.now() + timedelta(days=3650)
    async with store.begin() as tx:
        docs = await tx.documents(service.KIND).find_stale(
            service.SECRET_STATUS, far, 10_000
        )
        for doc in docs:
            if doc.type == service.TYPE:
                await tx.documents(service.KIND).delete(doc.team_id, doc.id)


@pytest.fixture(autouse=True)
async def _no_credentials_left(store: Store) -> AsyncIterator[None]:
    yield
    await _drop_credentials(store)


@pytest.fixture
async def provider() -> AsyncIterator[FakeOpenAIServer]:
    async with running_openai_server(auto_reply()) as fake:
        yield fake


@dataclass
class EchoVendor:
    """An SMS vendor that records calls and echoes the credentials it got."""

    calls: list[tuple[str, dict[str, Any]]]

    async def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((operation, payload))
        return {"status": "queued", "echo": json.dumps(payload.get("credentials"))}


@dataclass
class World:
    a: Team
    b: Team
    sms: EchoVendor
    provider: FakeOpenAIServer


@pytest.fixture
async def world(
    store: Store, database_url: str, provider: FakeOpenAIServer
) -> AsyncIterator[World]:
    keys = ServerKeys(
        api_keys={"openai": SERVER_KEY},
        endpoints={"openai": provider.base_url},
        backoff=Backoff(0.0, 0.0),
    )
    sms = EchoVendor([])
    runtime = Runtime(
        llm=ConfigurableLLM(keys=keys, group_factory=GroupLLM),
        rng=random.Random(3),
        vendors={"sms": sms},
    )
    settings = Settings(database_url=database_url, secret_key=KEY)
    app = create_app(settings, store=store, runtime=runtime)
    await bootstrap(store, settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://t") as one,
        httpx.AsyncClient(transport=transport, base_url="http://t") as two,
    ):
        yield World(
            await make_team(store, one), await make_team(store, two), sms, provider
        )


def _llm(model: str, **extra: Any) -> dict[str, Any]:
    return {"type": "openai_llm", "provider": "openai", "model": model, **extra}


def _workflow() -> dict[str, Any]:
    nodes = [
        static_node("node_start", "Hello", is_start=True),
        moving_say_node("node_team", _llm("gpt-team")),
        moving_say_node("node_own", _llm("gpt-own", api_key=NODE_KEY)),
        {
            "type": "send_sms",
            "logical_id": "node_sms",
            "name": "node_sms",
            "destination_phone_number": "+15550001",
            "message": "Your code is 1234",
        },
    ]
    ids = [n["logical_id"] for n in nodes]
    edges = [edge(f"e{i}", a, b) for i, (a, b) in enumerate(itertools.pairwise(ids))]
    return {"name": "Keys", "node_configs": nodes, "edge_configs": edges}


async def _run(team: Team) -> tuple[httpx.Response, httpx.Response]:
    made = await team.client.post("/v1/workflows", json=_workflow())
    assert made.status_code == 200, made.text
    wid = made.json()["workflow"]["_id"]
    turn = await team.client.post(
        f"/v1/workflows/{wid}/execute", json={"run_input": START}
    )
    assert turn.status_code == 200, turn.text
    record = await team.client.get(f"/v1/workflow-runs/{turn.json()['run_id']}")
    assert record.status_code == 200, record.text
    return turn, record


def _auth_by_model(provider: FakeOpenAIServer, first: int) -> dict[str, str]:
    return {
        str(r.body["model"]): r.headers.get("authorization", "")
        for r in provider.requests[first:]
    }


def _usage(record: httpx.Response) -> dict[str, Any]:
    usage: dict[str, Any] = record.json()["workflow_run"]["workflow_run"][
        "llm_token_usage"
    ]
    return usage


# ------------------------------------------------------------------ API


async def test_the_api_stores_masks_and_scopes_credentials(store: Store, world: World):
    a, b = world.a.client, world.b.client
    put = await a.put(
        "/v1/teams/current/credentials/openai",
        json={"credentials": {"api_key": TEAM_KEY}, "description": "prod"},
    )
    assert put.status_code == 201, put.text
    shown = put.json()["credential"]
    assert shown["vendor"] == "openai" and shown["fields"] == {"api_key": MASK}
    assert shown["team_id"] == world.a.team_id and shown["description"] == "prod"
    again = await a.put(
        "/workflows/v1/teams/current/credentials/azure",
        json={"api_key": TEAM_KEY, "endpoint": "https://a.example.test"},
    )
    assert again.status_code == 201 and again.json()["credential"]["fields"] == {
        "api_key": MASK,
        "endpoint": MASK,
    }
    replaced = await a.put(
        "/v1/teams/current/credentials/openai", json={"api_key": TEAM_KEY + "-v2"}
    )
    assert replaced.status_code == 200
    assert replaced.json()["credential"]["id"] == shown["id"]
    listed = await a.get("/v1/teams/current/credentials")
    assert [c["vendor"] for c in listed.json()["credentials"]] == [
        "azure_openai",
        "openai",
    ]
    got = await a.get("/workflows/v1/teams/current/credentials/openai")
    assert got.json()["credential"]["fields"] == {"api_key": MASK}
    for response in (put, again, replaced, listed, got):
        assert TEAM_KEY not in response.text

    # Team B sees none of it and cannot remove it.
    assert (await b.get("/v1/teams/current/credentials")).json() == {
        "credentials": [],
        "total": 0,
    }
    assert (await b.get("/v1/teams/current/credentials/openai")).status_code == 404
    assert (await b.delete("/v1/teams/current/credentials/openai")).status_code == 404
    assert (await a.get("/v1/teams/current/credentials/openai")).status_code == 200

    # At rest: only a Fernet token of the fields.
    async with store.begin() as tx:
        doc = await tx.documents(service.KIND).get(world.a.team_id, shown["id"])
    assert doc is not None and TEAM_KEY not in json.dumps(doc.body)
    plain = Fernet(KEY.encode()).decrypt(doc.body["ciphertext"]).decode()
    assert json.loads(plain) == {"api_key": TEAM_KEY + "-v2"}

    gone = await a.delete("/v1/teams/current/credentials/openai")
    assert gone.status_code == 204
    assert (await a.get("/v1/teams/current/credentials/openai")).status_code == 404


@pytest.mark.parametrize(
    ("vendor", "body", "field"),
    [
        ("nope", {"api_key": "x"}, "vendor"),
        ("openai", {"organization": "org"}, "api_key"),
        ("openai", {"api_key": 5.5, "region": "x"}, "region"),
        ("anthropic", {"credentials": {"api_key": ["x"]}}, "credentials.api_key"),
        ("bedrock", {"region": "us-east-1"}, "api_key"),
        ("sms", {}, "body"),
        ("sms", [1], "body"),
    ],
)
async def test_bad_credentials_are_refused_naming_the_field(
    world: World, vendor: str, body: Any, field: str
):
    response = await world.a.client.put(
        f"/v1/teams/current/credentials/{vendor}", json=body
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


# -------------------------------------------------------------- run time


async def test_each_team_runs_with_its_own_credentials(
    world: World, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    put = await world.a.client.put(
        "/v1/teams/current/credentials/openai", json={"api_key": TEAM_KEY}
    )
    assert put.status_code == 201
    sms = await world.a.client.put(
        "/v1/teams/current/credentials/sms", json={"auth_token": SMS_TOKEN}
    )
    assert sms.status_code == 201

    first = len(world.provider.requests)
    turn_a, record_a = await _run(world.a)
    assert _auth_by_model(world.provider, first) == {
        "gpt-team": f"Bearer {TEAM_KEY}",  # no key on the node: the team's
        "gpt-own": f"Bearer {NODE_KEY}",  # the node's own key wins
    }
    usage = _usage(record_a)
    assert usage["call_count"] == 2
    assert usage["call_count_with_user_keys"] == 2
    assert usage["call_count_with_fallback_keys"] == 0
    assert world.sms.calls[-1][1]["credentials"] == {"auth_token": SMS_TOKEN}

    first = len(world.provider.requests)
    turn_b, record_b = await _run(world.b)
    assert _auth_by_model(world.provider, first) == {
        "gpt-team": f"Bearer {SERVER_KEY}",  # B has no credential: the server's
        "gpt-own": f"Bearer {NODE_KEY}",
    }
    usage = _usage(record_b)
    assert usage["call_count_with_user_keys"] == 1
    assert usage["call_count_with_fallback_keys"] == 1
    assert "credentials" not in world.sms.calls[-1][1]

    # The vendor echoed the token in its reply: redacted before it reached events.
    assert "[REDACTED]" in record_a.text
    for text in (turn_a.text, record_a.text, turn_b.text, record_b.text, caplog.text):
        assert TEAM_KEY not in text and SMS_TOKEN not in text


async def test_a_credential_changed_here_is_used_by_the_next_turn(world: World):
    """The team's credentials are cached per process (``service.team.team_cache``);
    a PUT or DELETE through this process is seen by the very next turn."""
    url = "/v1/teams/current/credentials/openai"
    assert (await world.a.client.put(url, json={"api_key": TEAM_KEY})).is_success
    first = len(world.provider.requests)
    await _run(world.a)  # the credentials are now cached
    assert _auth_by_model(world.provider, first)["gpt-team"] == f"Bearer {TEAM_KEY}"

    rotated = "sk-team-A-rotated-0c1d2e"
    assert (await world.a.client.put(url, json={"api_key": rotated})).is_success
    first = len(world.provider.requests)
    await _run(world.a)
    assert _auth_by_model(world.provider, first)["gpt-team"] == f"Bearer {rotated}"

    assert (await world.a.client.delete(url)).status_code == 204
    first = len(world.provider.requests)
    await _run(world.a)
    assert _auth_by_model(world.provider, first)["gpt-team"] == f"Bearer {SERVER_KEY}"


async def test_the_service_refuses_to_start_with_credentials_and_no_key(
    store: Store, database_url: str
):
    caller = Caller(team_id=new_object_id(), user_id=new_object_id())
    await service.put(store, caller, "openai", {"api_key": TEAM_KEY}, KEY)
    with pytest.raises(ConfigError, match="THREADLINE_SECRET_KEY"):
        await bootstrap(store, Settings(database_url=database_url))
    await bootstrap(store, Settings(database_url=database_url, secret_key=KEY))


async def test_testing_a_saved_config_without_a_key_uses_the_team_credential(
    world: World,
):
    a = world.a.client
    put = await a.put(
        "/v1/teams/current/credentials/openai", json={"api_key": TEAM_KEY}
    )
    assert put.status_code == 201, put.text
    saved = await a.post(
        "/v1/llm-configs", json={"name": "No key", "config": _llm("gpt-saved")}
    )
    assert saved.status_code == 200, saved.text
    cid = saved.json()["llm_config"]["_id"]
    first = len(world.provider.requests)
    tried = await a.post(f"/v1/llm-configs/{cid}/test", json={"system_prompt": "Hi"})
    assert tried.status_code == 200 and tried.json()["success"] is True, tried.text
    assert _auth_by_model(world.provider, first) == {"gpt-saved": f"Bearer {TEAM_KEY}"}
