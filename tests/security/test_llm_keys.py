"""Which LLM key goes where: the server's keys only to endpoints the operator set.

A tenant's LLM config may name its own ``base_url`` (openai, custom) or ``endpoint``
(azure). Such a URL gets the tenant's own key (the config's, or the team's stored
credential) and never the server's fallback key (``THREADLINE_OPENAI_API_KEY``,
``THREADLINE_AZURE_OPENAI_API_KEY``). A real loopback listener proves which key
arrives where; ``THREADLINE_HTTP_ALLOW_PRIVATE=1`` lets tenant URLs reach it, so the
key rule is tested apart from the SSRF guard (``test_ssrf.py``).
"""

from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.factories import edge, static_node
from tests.security.conftest import START, headers_seen, serve
from threadline.providers.fake_server import FakeOpenAIServer
from threadline.store import Store

SERVER_OPENAI = "sk-server-openai-fallback-5150"
SERVER_AZURE = "server-azure-fallback-key-7731"
TENANT_KEY = "sk-tenant-own-key-2468"
TEAM_KEY = "sk-team-credential-1357"
SECRET_KEY = Fernet.generate_key().decode()
SERVER_KEYS = {
    "openai_api_key": SERVER_OPENAI,
    "azure_openai_api_key": SERVER_AZURE,
    "secret_key": SECRET_KEY,
}
PROMPT = {"system_prompt": "Say hi.", "messages": [{"role": "human", "content": "hi"}]}


def _tenant_configs(listener: FakeOpenAIServer) -> list[dict[str, Any]]:
    common = {"model": "m", "max_retries": 0}
    return [
        {"type": "openai_llm", "base_url": listener.base_url, **common},
        {"type": "azure_openai_llm", "endpoint": listener.root_url, **common},
        {"type": "custom_llm", "base_url": listener.base_url, **common},
    ]


def _workflow(config: dict[str, Any]) -> dict[str, Any]:
    say = {
        "type": "say_llm",
        "logical_id": "node_say",
        "name": "say",
        "wait_for_user_message": False,
        "self_loop": False,
        "llms_config": config,
        "main_response_config": {"prompt": "Answer briefly."},
    }
    nodes = [static_node("node_hi", "Hello", is_start=True), say]
    return {
        "name": "Keys",
        "node_configs": nodes,
        "edge_configs": [edge("e1", "node_hi", "node_say")],
    }


def _no_server_key(listener: FakeOpenAIServer) -> None:
    seen = headers_seen(listener)
    assert SERVER_OPENAI not in seen
    assert SERVER_AZURE not in seen


@pytest.mark.parametrize("index", [0, 1, 2], ids=["openai", "azure", "custom"])
async def test_a_config_test_never_sends_the_server_key_to_a_tenant_url(
    store: Store, database_url: str, listener: FakeOpenAIServer, index: int
) -> None:
    config = _tenant_configs(listener)[index]
    async with serve(
        store, database_url, http_allow_private=True, **SERVER_KEYS
    ) as served:
        client = served.team.client
        tested = await client.post(
            "/v1/llm-configs/test", json={"config": config, **PROMPT}
        )
        assert tested.status_code == 200, tested.text
        saved = await client.post(
            "/v1/llm-configs", json={"name": "tenant", "config": config}
        )
        assert saved.status_code == 200, saved.text
        config_id = saved.json()["llm_config"]["id"]
        retested = await client.post(f"/v1/llm-configs/{config_id}/test", json=PROMPT)
        assert retested.status_code == 200, retested.text
    _no_server_key(listener)
    if index < 2:  # openai and azure need a key: refused, saying which to fill
        for result in (tested.json(), retested.json()):
            assert result["success"] is False
            assert "api_key" in result["error"]


@pytest.mark.parametrize("index", [0, 1, 2], ids=["openai", "azure", "custom"])
async def test_a_run_never_sends_the_server_key_to_a_node_url(
    store: Store, database_url: str, listener: FakeOpenAIServer, index: int
) -> None:
    config = _tenant_configs(listener)[index]
    async with serve(
        store, database_url, http_allow_private=True, **SERVER_KEYS
    ) as served:
        client = served.team.client
        made = await client.post("/v1/workflows", json=_workflow(config))
        assert made.status_code == 200, made.text
        wid = made.json()["workflow"]["_id"]
        turn = await client.post(
            f"/v1/workflows/{wid}/execute", json={"run_input": START}
        )
        assert turn.status_code == 200, turn.text
    _no_server_key(listener)


@pytest.mark.parametrize("index", [0, 1, 2], ids=["openai", "azure", "custom"])
async def test_a_tenant_url_gets_the_tenant_key(
    store: Store, database_url: str, listener: FakeOpenAIServer, index: int
) -> None:
    config = {**_tenant_configs(listener)[index], "api_key": TENANT_KEY}
    async with serve(
        store, database_url, http_allow_private=True, **SERVER_KEYS
    ) as served:
        tested = await served.team.client.post(
            "/v1/llm-configs/test", json={"config": config, **PROMPT}
        )
    assert tested.json()["success"] is True, tested.text
    assert TENANT_KEY in headers_seen(listener)
    _no_server_key(listener)


async def test_a_team_credential_with_its_own_base_url_gets_the_team_key(
    store: Store, database_url: str, listener: FakeOpenAIServer
) -> None:
    async with serve(
        store, database_url, http_allow_private=True, **SERVER_KEYS
    ) as served:
        client = served.team.client
        put = await client.put(
            "/v1/teams/current/credentials/openai",
            json={"api_key": TEAM_KEY, "base_url": listener.base_url},
        )
        assert put.status_code == 201, put.text
        saved = await client.post(
            "/v1/llm-configs",
            json={"name": "t", "config": {"type": "openai_llm", "model": "m"}},
        )
        config_id = saved.json()["llm_config"]["id"]
        tested = await client.post(f"/v1/llm-configs/{config_id}/test", json=PROMPT)
    assert tested.json()["success"] is True, tested.text
    assert f"Bearer {TEAM_KEY}" in headers_seen(listener)
    _no_server_key(listener)


async def test_the_operator_endpoint_still_gets_the_server_key(
    store: Store, database_url: str, listener: FakeOpenAIServer
) -> None:
    """THREADLINE_AZURE_OPENAI_ENDPOINT is the operator's: the server key goes there,
    also when a config names that same endpoint, and with the SSRF guard on."""
    async with serve(
        store, database_url, azure_openai_endpoint=listener.root_url, **SERVER_KEYS
    ) as served:
        for config in (
            {"type": "azure_openai_llm", "model": "m", "max_retries": 0},
            {"type": "azure_openai_llm", "model": "m", "endpoint": listener.root_url},
        ):
            tested = await served.team.client.post(
                "/v1/llm-configs/test", json={"config": config, **PROMPT}
            )
            assert tested.json()["success"] is True, tested.text
    assert headers_seen(listener).count(SERVER_AZURE) == 2


async def test_the_override_url_keeps_working_on_loopback(
    store: Store, database_url: str, listener: FakeOpenAIServer
) -> None:
    """THREADLINE_LLM_OVERRIDE_URL is operator-configured: loopback is fine, and
    every config goes there whatever URL it names."""
    async with serve(
        store, database_url, llm_override_url=listener.base_url, **SERVER_KEYS
    ) as served:
        config = {"type": "openai_llm", "model": "m", "base_url": "https://x.test/v1"}
        tested = await served.team.client.post(
            "/v1/llm-configs/test", json={"config": config, **PROMPT}
        )
    assert tested.json()["success"] is True, tested.text
    assert len(listener.requests) == 1


async def test_a_tenant_url_on_loopback_is_refused_when_saved_tested_and_run(
    store: Store, database_url: str, listener: FakeOpenAIServer
) -> None:
    """With the default THREADLINE_HTTP_ALLOW_PRIVATE=0, a tenant LLM URL naming
    loopback never gets a request, even with the tenant's own key."""
    config = {**_tenant_configs(listener)[2], "api_key": TENANT_KEY}
    async with serve(store, database_url, **SERVER_KEYS) as served:
        client = served.team.client
        saved = await client.post(
            "/v1/llm-configs", json={"name": "x", "config": config}
        )
        tested = await client.post(
            "/v1/llm-configs/test", json={"config": config, **PROMPT}
        )
        made = await client.post("/v1/workflows", json=_workflow(config))
        put = await client.put(
            "/v1/teams/current/credentials/openai",
            json={"api_key": TEAM_KEY, "base_url": listener.base_url},
        )
    for response in (saved, tested, made, put):
        assert response.status_code == 422, response.text
        assert "loopback" in response.text
    assert listener.requests == []
