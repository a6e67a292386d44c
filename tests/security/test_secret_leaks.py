"""Secret-leak battery: a team's secrets appear nowhere they are not needed.

One realistic session stores and uses every kind of secret a tenant hands the
server: a secret global variable, a saved LLM config's ``api_key``, a node-level
``api_key``, a webhook's ``bearer_token``, a team vendor credential and the team's
API key, plus an end user typing the secret variable's value into the run input.
Real loopback listeners receive the real values (so the secrets were used, not
dropped); afterwards none of them may appear in any API response, any event, any
captured log line, any database row, or the raw bytes of the SQLite database
(its WAL included).
"""

import itertools
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import moving_say_node
from tests.security.conftest import (
    START,
    RawListener,
    Seen,
    Served,
    drop_secrets,
    headers_seen,
    raw_listener,
    serve,
)
from threadline.providers.fake_server import FakeOpenAIServer
from threadline.service.automation import webhook_delivery as wd
from threadline.store import Query, Store
from threadline.store.schema import DOCUMENT_KINDS

GLOBAL = "glob-secret-Value-5521"
CONFIG_KEY = "sk-saved-config-key-7781"
NODE_KEY = "sk-node-level-key-3349"
BEARER = "whk-bearer-token-9902"
VENDOR = "sk-vendor-credential-6610"
PROMPT = {"system_prompt": "Say hi.", "messages": [{"role": "human", "content": "hi"}]}


def _ok(_: Seen) -> tuple[int, dict[str, str], bytes]:
    return 200, {"content-type": "application/json"}, b'{"ok": true}'


def _workflow(llm: FakeOpenAIServer, hook: RawListener) -> dict[str, Any]:
    own = {"type": "custom_llm", "base_url": llm.base_url, "model": "node-model"}
    nodes = [
        {
            "type": "http_request",
            "logical_id": "node_http",
            "name": "http",
            "is_start": True,
            "url": f"http://127.0.0.1:{hook.port}/partner?t={{{{global.partner}}}}",
            "headers": {"X-Partner": "{{global.partner}}"},
            "timeout": 5,
        },
        moving_say_node("node_own_key", {**own, "api_key": NODE_KEY, "max_retries": 0}),
        moving_say_node("node_team_key", {"type": "openai_llm", "model": "team-model"}),
        {
            "type": "say_static",
            "logical_id": "node_bye",
            "name": "bye",
            "static_messages_config": {
                "static_messages": ["Bye {{global.partner}} ({{note}})"]
            },
        },
    ]
    ids = [n["logical_id"] for n in nodes]
    edges = [
        {
            "logical_id": f"e{i}",
            "source_node_logical_id": a,
            "destination_node_logical_id": b,
        }
        for i, (a, b) in enumerate(itertools.pairwise(ids))
    ]
    return {"name": "Secrets", "node_configs": nodes, "edge_configs": edges}


async def _store_secrets(served: Served, llm: FakeOpenAIServer, hook: RawListener):
    client = served.team.client
    steps = [
        client.post(
            "/v1/global-variables",
            json={"name": "partner", "value": GLOBAL, "is_secret": True},
        ),
        client.put(
            "/v1/teams/current/credentials/openai",
            json={"api_key": VENDOR, "base_url": llm.base_url},
        ),
        client.post(
            "/v1/llm-configs",
            json={
                "name": "saved",
                "config": {
                    "type": "custom_llm",
                    "base_url": llm.base_url,
                    "model": "saved-model",
                    "api_key": CONFIG_KEY,
                },
            },
        ),
        client.post(
            "/v1/workflow-webhooks",
            json={
                "name": "hook",
                "url": f"http://127.0.0.1:{hook.port}/hook",
                "actions": ["workflow_created", "workflow_run_started"],
                "bearer_token": BEARER,
            },
        ),
    ]
    answers = []
    for step in steps:
        response = await step
        assert response.status_code in (200, 201), response.text
        answers.append(response)
    return answers


async def _session(
    served: Served, llm: FakeOpenAIServer, hook: RawListener
) -> tuple[list[httpx.Response], httpx.Response]:
    """Store every secret, use it, read everything back: (responses, the turn)."""
    client = served.team.client
    seen = await _store_secrets(served, llm, hook)
    config_id = seen[2].json()["llm_config"]["id"]
    seen.append(await client.post(f"/v1/llm-configs/{config_id}/test", json=PROMPT))
    made = await client.post("/v1/workflows", json=_workflow(llm, hook))
    assert made.status_code == 200, made.text
    wid = made.json()["workflow"]["_id"]
    typed = {**START, "dynamic_variables": {"note": f"my token is {GLOBAL}"}}
    turn = await client.post(f"/v1/workflows/{wid}/execute", json={"run_input": typed})
    assert turn.status_code == 200, turn.text
    run_id = turn.json()["run_id"]
    later = datetime.now(UTC) + timedelta(seconds=1)
    policy = wd.DeliveryPolicy(allow_private=True)
    await wd.deliver_due(
        served.store, later, policy=policy, team_ids={served.team.team_id}
    )
    events = (await client.get("/v1/workflow-webhooks/events")).json()["events"]
    reads = [
        "/v1/global-variables",
        "/v1/global-variables/resolve",
        "/v1/teams/current/credentials",
        "/v1/llm-configs",
        f"/v1/llm-configs/{config_id}",
        "/v1/workflow-webhooks",
        "/v1/workflow-webhooks/events",
        *[f"/v1/workflow-webhooks/events/{e['event_id']}/attempts" for e in events],
        "/v1/workflows",
        f"/v1/workflows/{wid}?fully_hydrate=true",
        f"/v1/workflows/{wid}/export",
        "/v1/nodes",
        "/v1/workflow-runs",
        f"/v1/workflow-runs/{run_id}",
    ]
    seen += [made, turn]
    for path in reads:
        response = await client.get(path)
        assert response.status_code == 200, (path, response.text)
        seen.append(response)
    return seen, turn


async def _rows(store: Store, team_id: str) -> str:
    """Every row the team has, as the database holds it (decoded JSON)."""
    found: list[Any] = []
    async with store.begin() as tx:
        for kind in DOCUMENT_KINDS:
            docs, _ = await tx.documents(kind).find(team_id, Query())
            found += [d.body for d in docs]
            for doc in docs:
                if kind == "workflow_runs":
                    found += await tx.turns().list(team_id, doc.id)
                    statuses = ("pending", "running", "done", "failed", "interrupted")
                    commands = await tx.commands().of_run(doc.id, statuses)
                    found += [(c.body, c.response) for c in commands]
        found += [repr(k) for k in await tx.list_api_keys(team_id)]
    return json.dumps(found, default=str)


def _file_bytes(database_url: str) -> bytes:
    """The SQLite database's bytes, WAL and journal included (b"" elsewhere)."""
    if not database_url.startswith("sqlite"):
        return b""
    path = Path(database_url.split("///", 1)[1])
    parts = [path, Path(f"{path}-wal"), Path(f"{path}-journal")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


async def test_no_secret_appears_in_responses_events_logs_or_the_database(
    store: Store,
    database_url: str,
    listener: FakeOpenAIServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with (
        raw_listener(_ok) as hook,
        serve(store, database_url, http_allow_private=True) as served,
    ):
        responses, turn = await _session(served, listener, hook)
        rows = await _rows(store, served.team.team_id)
        api_key = served.team.key
    raw = _file_bytes(database_url)

    # Each secret was used where it belongs ...
    upstream = headers_seen(listener)
    for key in (CONFIG_KEY, NODE_KEY, VENDOR):
        assert f"Bearer {key}" in upstream
    hook_headers = [json.dumps(s.headers) for s in hook.seen]
    assert any(f"Bearer {BEARER}" in h for h in hook_headers)
    assert any(GLOBAL in h for h in hook_headers)
    # ... and nowhere else.
    events = json.dumps(turn.json()["events"])
    texts = {
        "responses": "\n".join(r.text for r in responses),
        "events": events,
        "logs": caplog.text,
        "rows": rows,
    }
    for secret in (GLOBAL, CONFIG_KEY, NODE_KEY, BEARER, VENDOR, api_key):
        for where, text in texts.items():
            assert secret not in text, f"{secret!r} found in {where}"
        assert secret.encode() not in raw, f"{secret!r} in the database file"
    assert "[REDACTED]" in events


async def test_without_a_secret_key_no_secret_is_stored(
    store: Store, database_url: str
) -> None:
    """No THREADLINE_SECRET_KEY: every request that would store a secret is refused
    with 409 ``secret_key_not_set`` naming the field (never a 500), and nothing
    is stored; everything else keeps working."""
    await drop_secrets(store)  # a keyless start-up refuses stored secrets
    async with serve(store, database_url, secret_key=None) as served:
        client = served.team.client
        node = moving_say_node(
            "node_k", {"type": "openai_llm", "model": "m", "api_key": NODE_KEY}
        )
        attempts = {
            "llm_configs": client.post(
                "/v1/llm-configs",
                json={
                    "name": "k",
                    "config": {"type": "openai_llm", "api_key": CONFIG_KEY},
                },
            ),
            "workflow": client.post(
                "/v1/workflows",
                json={"name": "K", "node_configs": [{**node, "is_start": True}]},
            ),
            "webhook": client.post(
                "/v1/workflow-webhooks",
                json={
                    "name": "h",
                    "url": "https://hooks.example/x",
                    "bearer_token": BEARER,
                },
            ),
            "variable": client.post(
                "/v1/global-variables",
                json={"name": "p", "value": GLOBAL, "is_secret": True},
            ),
            "credential": client.put(
                "/v1/teams/current/credentials/openai", json={"api_key": VENDOR}
            ),
        }
        for name, pending in attempts.items():
            refused = await pending
            assert refused.status_code == 409, (name, refused.text)
            assert refused.json()["code"] == "secret_key_not_set", name
            assert "THREADLINE_SECRET_KEY" in refused.text
        plain = await client.post("/v1/workflows", json={"name": "no secrets"})
        assert plain.status_code == 200, plain.text
        rows = await _rows(store, served.team.team_id)
    for secret in (GLOBAL, CONFIG_KEY, NODE_KEY, BEARER, VENDOR):
        assert secret not in rows
