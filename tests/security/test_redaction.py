"""Redaction catches the forms of a secret that the server itself produces.

A secret global variable is redacted from events, outputs and stored state. Not
only its exact text: the server also writes it URL-encoded the way the curl
command encodes a path, lower-cased in a URL host, and through the template
filters (``upcase``, ``downcase``, ``replace``, ...). None of those forms may
reach a response, the run record or the database. A real loopback listener
receives the real value, proving the secret was used, not dropped.
"""

import json
from typing import Any

from tests.factories import edge, static_node
from tests.security.conftest import (
    START,
    RawListener,
    Seen,
    Served,
    raw_listener,
    serve,
)
from threadline.store import Store

PATH_SECRET = "Pa55 w0rd:Sec!ret"
"""Has a space and ``!``: the URL path encoding keeps ``:`` and ``!`` as they are."""
HOST_SECRET = "TenantHostSecret42"
FILTER_SECRET = "Filter-Secret-Value-77"


def _ok(_: Seen) -> tuple[int, dict[str, str], bytes]:
    return 200, {"content-type": "application/json"}, b'{"ok": true}'


async def _globals(served: Served) -> None:
    for name, value in (
        ("path_secret", PATH_SECRET),
        ("host_secret", HOST_SECRET),
        ("filter_secret", FILTER_SECRET),
    ):
        made = await served.team.client.post(
            "/v1/global-variables",
            json={"name": name, "value": value, "is_secret": True},
        )
        assert made.status_code == 200, made.text


def _workflow(port: int) -> dict[str, Any]:
    said = (
        "up {{global.filter_secret | upcase}} down {{global.filter_secret | downcase}}"
        " swapped {{global.filter_secret | replace: '-', '_'}}"
        " cut {{global.filter_secret | remove: 'Value'}}"
    )
    nodes = [
        {
            "type": "http_request",
            "logical_id": "node_path",
            "name": "path",
            "is_start": True,
            "url": f"http://127.0.0.1:{port}/users/{{{{global.path_secret}}}}/x",
            "timeout": 5,
        },
        {
            "type": "http_request",
            "logical_id": "node_host",
            "name": "host",
            "url": "http://{{global.host_secret}}.invalid/ping",
            "timeout": 5,
        },
        static_node("node_say", said),
    ]
    return {
        "name": "Forms",
        "node_configs": nodes,
        "edge_configs": [
            edge("e1", "node_path", "node_host"),
            edge("e2", "node_host", "node_say"),
        ],
    }


def _forms() -> dict[str, str]:
    return {
        "path-encoded": "Pa55%20w0rd:Sec!ret",
        "host-lower-case": HOST_SECRET.lower(),
        "upcase": FILTER_SECRET.upper(),
        "downcase": FILTER_SECRET.lower(),
        "replace": FILTER_SECRET.replace("-", "_"),
        "remove": FILTER_SECRET.replace("Value", ""),
    }


async def _run(served: Served, listener: RawListener) -> list[str]:
    client = served.team.client
    made = await client.post("/v1/workflows", json=_workflow(listener.port))
    assert made.status_code == 200, made.text
    wid = made.json()["workflow"]["_id"]
    turn = await client.post(f"/v1/workflows/{wid}/execute", json={"run_input": START})
    assert turn.status_code == 200, turn.text
    run_id = turn.json()["run_id"]
    record = await client.get(f"/v1/workflow-runs/{run_id}")
    listed = await client.get("/v1/workflow-runs")
    async with served.store.begin() as tx:
        turns = await tx.turns().list(served.team.team_id, run_id)
        doc = await tx.documents("workflow_runs").get(served.team.team_id, run_id)
    stored = json.dumps([turns, doc.body if doc else None], default=str)
    return [turn.text, record.text, listed.text, stored]


async def test_the_forms_the_server_produces_are_redacted(
    store: Store, database_url: str
) -> None:
    async with (
        raw_listener(_ok) as listener,
        serve(store, database_url, http_allow_private=True) as served,
    ):
        await _globals(served)
        texts = await _run(served, listener)
    # The endpoint got the real value (encoded as the URL needs it).
    assert [s.path for s in listener.seen] == ["/users/Pa55%20w0rd:Sec!ret/x"]
    said = json.loads(texts[0])["events"]
    assert any("[REDACTED]" in json.dumps(e) for e in said)
    for name, form in _forms().items():
        for text in texts:
            assert form not in text, f"{name} form {form!r} leaked"
