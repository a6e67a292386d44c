"""SSRF battery: every way of naming a private address, on every outbound path.

Each URL form below names loopback, a private range, link-local (cloud metadata)
or the unspecified address, in a spelling a naive check misses. Each path is a
way a tenant makes the server send a request: HTTP nodes, ``external_api`` tools,
webhooks, and the LLM URLs a tenant chooses (``base_url``/``endpoint`` of saved
configs, of node configs and of team credentials), checked when saved or tested
and again when the call connects. The service runs as a deployment does, with the
default ``THREADLINE_HTTP_ALLOW_PRIVATE=0``.

Forms that point at loopback carry the port of a real listener: were the guard to
let one through, the listener would record the request. Every case asserts that
the listener received nothing and that the refusal is reported.

Knowledge-base tools fetch no URL (the retriever is a server-side seam,
``tools.knowledge``), so they have no row here.
"""

import asyncio
import dataclasses
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.factories import edge, static_node
from tests.security.conftest import START, Served, fresh_team, serve, shared_service
from threadline.providers.fake_server import FakeOpenAIServer
from threadline.providers.router import ConfigurableLLM
from threadline.service.automation import webhook_delivery as wd
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.team import llm_configs, vendor_credentials
from threadline.service.team.llm_endpoints import EndpointRules
from threadline.store import Store
from threadline.tools import http as http_mod
from threadline.tools.http_call import HttpPolicy
from threadline.tools.llm_endpoints import EndpointGuard

SECRET_KEY = Fernet.generate_key().decode()
TENANT_KEY = "sk-tenant-ssrf-key-0042"
PROMPT = {"system_prompt": "Say hi.", "messages": [{"role": "human", "content": "hi"}]}
ANYWHERE = EndpointRules(EndpointGuard(HttpPolicy(allow_private=True)))
"""Stores rows as an older release (no save-time check) would have."""

FORMS: dict[str, str] = {
    "loopback-v4": "http://127.0.0.1:{port}",
    "loopback-v6": "http://[::1]:{port}",
    "localhost": "http://localhost:{port}",
    "localhost-mixed-case": "http://LocalHost:{port}",
    "decimal-v4": "http://2130706433:{port}",
    "octal-v4": "http://017700000001:{port}",
    "hex-v4": "http://0x7f000001:{port}",
    "dotted-hex-v4": "http://0x7f.0.0.1:{port}",
    "short-v4": "http://127.1:{port}",
    "v4-mapped-v6": "http://[::ffff:127.0.0.1]:{port}",
    "v4-mapped-v6-hex": "http://[::ffff:7f00:1]:{port}",
    "6to4-loopback": "http://[2002:7f00:1::]:{port}",
    "unspecified-v4": "http://0.0.0.0:{port}",
    "unspecified-v6": "http://[::]:{port}",
    "userinfo": "http://public.example@127.0.0.1:{port}",
    "userinfo-password": "http://user:pass@127.0.0.1:{port}",
    "fragment-trick": "http://127.0.0.1:{port}#@public.example",
    "https-loopback": "https://127.0.0.1:{port}",
    "private-10": "http://10.0.0.1:{port}",
    "private-172-16": "http://172.16.0.1:{port}",
    "private-192-168": "http://192.168.0.1:{port}",
    "shared-100-64": "http://100.64.0.1:{port}",
    "metadata": "http://169.254.169.254:{port}",
    "metadata-v4-mapped": "http://[::ffff:169.254.169.254]:{port}",
    "ula-v6": "http://[fd00::1]:{port}",
    "link-local-v6": "http://[fe80::1]:{port}",
}
REFUSAL_WORDS = ("Refused", "refused")


@pytest.fixture(scope="module")
async def service(database_url: str) -> AsyncIterator[Served]:
    """One deployment for the module (default settings: private addresses refused)."""
    async with shared_service(database_url, secret_key=SECRET_KEY) as served:
        yield served


@pytest.fixture
async def served(service: Served) -> AsyncIterator[Served]:
    """The deployment with a team of the test's own."""
    yield await fresh_team(service)
    service.runtime.http_transport = None


def _refused(text: str) -> bool:
    return any(word in text for word in REFUSAL_WORDS)


def _caller(served: Served) -> Caller:
    return Caller(served.team.team_id, served.team.user_id)


def _llm_workflow(config: dict[str, Any]) -> dict[str, Any]:
    say = {
        "type": "say_llm",
        "logical_id": "node_say",
        "name": "say",
        "wait_for_user_message": False,
        "self_loop": False,
        "llms_config": config,
        "main_response_config": {"prompt": "Answer briefly."},
    }
    return {
        "name": "SSRF",
        "node_configs": [static_node("node_hi", "Hello", is_start=True), say],
        "edge_configs": [edge("e1", "node_hi", "node_say")],
    }


def _custom(url: str) -> dict[str, Any]:
    return {
        "type": "custom_llm",
        "base_url": f"{url}/v1",
        "model": "m",
        "api_key": TENANT_KEY,
        "max_retries": 0,
        "request_timeout_ms": 3000,
    }


def _azure(url: str) -> dict[str, Any]:
    return {
        "type": "azure_openai_llm",
        "endpoint": url,
        "model": "m",
        "api_key": TENANT_KEY,
        "max_retries": 0,
        "request_timeout_ms": 3000,
    }


async def _execute(served: Served, workflow_id: str) -> str:
    turn = await served.team.client.post(
        f"/v1/workflows/{workflow_id}/execute", json={"run_input": START}
    )
    assert turn.status_code == 200, turn.text
    return turn.text


# ---------------------------------------------------------------- the paths
# Each path makes the server try ``url`` and returns what it reported.


async def http_node(served: Served, url: str) -> str:
    node = {
        "type": "http_request",
        "logical_id": "node_http",
        "name": "http",
        "is_start": True,
        "url": f"{url}/hook",
        "timeout": 3,
    }
    made = await served.team.client.post(
        "/v1/workflows", json={"name": "H", "node_configs": [node]}
    )
    assert made.status_code == 200, made.text
    return await _execute(served, made.json()["workflow"]["_id"])


async def external_api_tool(served: Served, url: str) -> str:
    tool = {
        "type": "external_api",
        "name": "lookup",
        "api_endpoint": f"{url}/lookup",
        "api_method": "GET",
        "timeout_seconds": 3,
    }
    ran = await served.team.client.post(
        "/v1/tools/execute", json={"tool_config": tool, "args": {}}
    )
    assert ran.status_code == 200, ran.text
    assert ran.json()["success"] is False
    return ran.text


async def webhook(served: Served, url: str) -> str:
    client = served.team.client
    hook = {"name": "h", "url": f"{url}/in", "actions": ["workflow_created"]}
    made = await client.post("/v1/workflow-webhooks", json=hook)
    assert made.status_code == 200, made.text
    created = await client.post("/v1/workflows", json={"name": "W"})
    assert created.status_code == 200, created.text
    store = served.store
    later = datetime.now(UTC) + timedelta(seconds=1)
    await wd.deliver_due(store, later, team_ids={served.team.team_id})
    events = (await client.get("/v1/workflow-webhooks/events")).json()["events"]
    assert len(events) == 1
    attempts = await client.get(
        f"/v1/workflow-webhooks/events/{events[0]['event_id']}/attempts"
    )
    return attempts.text


async def llm_config_save(served: Served, url: str) -> str:
    saved = await served.team.client.post(
        "/v1/llm-configs", json={"name": "x", "config": _custom(url)}
    )
    assert saved.status_code == 422, saved.text
    assert saved.json()["errors"][0]["field"] == "config.base_url"
    return saved.text


async def llm_config_azure_save(served: Served, url: str) -> str:
    saved = await served.team.client.post(
        "/v1/llm-configs", json={"name": "x", "config": _azure(url)}
    )
    assert saved.status_code == 422, saved.text
    assert saved.json()["errors"][0]["field"] == "config.endpoint"
    return saved.text


async def llm_config_test(served: Served, url: str) -> str:
    tested = await served.team.client.post(
        "/v1/llm-configs/test", json={"config": _custom(url), **PROMPT}
    )
    assert tested.status_code == 422, tested.text
    return tested.text


async def node_config_save(served: Served, url: str) -> str:
    made = await served.team.client.post(
        "/v1/workflows", json=_llm_workflow(_custom(url))
    )
    assert made.status_code == 422, made.text
    assert made.json()["errors"][0]["field"] == "node_configs.1.llms_config.base_url"
    return made.text


async def node_part_save(served: Served, url: str) -> str:
    node = _llm_workflow(_azure(url))["node_configs"][1]
    made = await served.team.client.post("/v1/nodes", json=node)
    assert made.status_code == 422, made.text
    return made.text


async def team_credential_save(served: Served, url: str) -> str:
    put = await served.team.client.put(
        "/v1/teams/current/credentials/openai",
        json={"api_key": TENANT_KEY, "base_url": f"{url}/v1"},
    )
    assert put.status_code == 422, put.text
    assert put.json()["errors"][0]["field"] == "base_url"
    return put.text


async def saved_config_call(served: Served, url: str) -> str:
    """A config stored before the guard existed: refused when the call connects."""
    body = {"name": "old", "config": _custom(url)}
    saved = await llm_configs.create(served.store, _caller(served), body)
    tested = await served.team.client.post(
        f"/v1/llm-configs/{saved['id']}/test", json=PROMPT
    )
    assert tested.status_code == 200, tested.text
    assert tested.json()["success"] is False
    return tested.text


async def node_config_call(served: Served, url: str) -> str:
    """A node config stored before the guard existed: refused during the run."""
    store, caller = served.store, _caller(served)
    made = await wf.create(store, caller, _llm_workflow(_azure(url)))
    return await _execute(served, made["_id"])


async def team_credential_call(served: Served, url: str) -> str:
    """A team credential stored before the guard existed: refused when used."""
    store, caller = served.store, _caller(served)
    fields = {"api_key": TENANT_KEY, "base_url": f"{url}/v1"}
    await vendor_credentials.put(
        store, caller, "openai", fields, SECRET_KEY, rules=ANYWHERE
    )
    config = {"type": "openai_llm", "model": "m", "max_retries": 0}
    saved = await served.team.client.post(
        "/v1/llm-configs", json={"name": "t", "config": config}
    )
    assert saved.status_code == 200, saved.text
    config_id = saved.json()["llm_config"]["id"]
    tested = await served.team.client.post(
        f"/v1/llm-configs/{config_id}/test", json=PROMPT
    )
    assert tested.status_code == 200, tested.text
    assert tested.json()["success"] is False
    return tested.text


PATHS: dict[str, Callable[[Served, str], Awaitable[str]]] = {
    "http-node": http_node,
    "external-api-tool": external_api_tool,
    "webhook": webhook,
    "llm-config-save": llm_config_save,
    "llm-config-azure-save": llm_config_azure_save,
    "llm-config-test": llm_config_test,
    "node-config-save": node_config_save,
    "node-part-save": node_part_save,
    "team-credential-save": team_credential_save,
    "saved-config-call": saved_config_call,
    "node-config-call": node_config_call,
    "team-credential-call": team_credential_call,
}


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("form", list(FORMS))
async def test_private_addresses_are_refused_on_every_path(
    served: Served, listener: FakeOpenAIServer, form: str, path: str
) -> None:
    url = FORMS[form].format(port=listener.port)
    reported = await asyncio.wait_for(PATHS[path](served, url), timeout=30)
    assert listener.requests == []
    assert _refused(reported), reported


# ------------------------------------------------------------ redirects, DNS


async def test_a_redirect_to_a_private_address_is_refused(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A public host answering with a redirect to loopback: the hop is refused."""

    async def public(host: str, port: int) -> list[Any]:
        return [ipaddress.ip_address("93.184.216.34")]

    monkeypatch.setattr(http_mod, "resolve_host", public)
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"location": "http://127.0.0.1:9/"})

    served.runtime.http_transport = httpx.MockTransport(handler)
    for path in (http_node, external_api_tool):
        reported = await path(served, "http://public.example")
        assert _refused(reported), reported
    assert all("93.184.216.34" in url for url in seen)


async def test_an_llm_endpoint_is_checked_again_when_it_connects(
    store: Store, database_url: str, listener: FakeOpenAIServer
) -> None:
    """DNS rebinding: a name that was public when saved and is loopback now."""
    answers = iter(["93.184.216.34"])

    async def rebinding(host: str, port: int) -> list[Any]:
        return [ipaddress.ip_address(next(answers, "127.0.0.1"))]

    async with serve(store, database_url, secret_key=SECRET_KEY) as served:
        guard = EndpointGuard(served.runtime.llm_policy(), resolve=rebinding)
        router = served.runtime.llm
        assert isinstance(router, ConfigurableLLM)
        router.keys = dataclasses.replace(router.keys, guard=guard)
        url = f"http://rebind.example:{listener.port}"
        rules = EndpointRules(guard)
        await rules.check(f"{url}/v1", "base_url")  # public now: accepted
        body = {"name": "r", "config": _custom(url)}
        saved = await llm_configs.create(store, _caller(served), body)
        tested = await served.team.client.post(
            f"/v1/llm-configs/{saved['id']}/test", json=PROMPT
        )
    assert tested.json()["success"] is False
    assert "loopback" in tested.json()["error"]
    assert listener.requests == []


async def test_the_operator_allow_list_lets_a_named_private_host_through(
    store: Store, database_url: str, listener: FakeOpenAIServer
) -> None:
    """THREADLINE_LLM_ALLOWED_HOSTS: a self-hosted model server the operator named
    is reachable by that name; other private addresses stay refused."""
    allowed = f"http://localhost:{listener.port}"
    async with serve(
        store, database_url, secret_key=SECRET_KEY, llm_allowed_hosts="LOCALHOST, x"
    ) as served:
        client = served.team.client
        saved = await client.post(
            "/v1/llm-configs", json={"name": "own", "config": _custom(allowed)}
        )
        assert saved.status_code == 200, saved.text
        config_id = saved.json()["llm_config"]["id"]
        tested = await client.post(f"/v1/llm-configs/{config_id}/test", json=PROMPT)
        assert tested.json()["success"] is True, tested.text
        other = f"http://127.0.0.1:{listener.port}"
        refused = await client.post(
            "/v1/llm-configs", json={"name": "no", "config": _custom(other)}
        )
        assert refused.status_code == 422, refused.text
        # HTTP nodes keep their own rule: the LLM allow-list does not open them.
        assert _refused(await http_node(served, allowed))
    assert len(listener.requests) == 1
    assert listener.requests[0].headers["authorization"] == f"Bearer {TENANT_KEY}"
