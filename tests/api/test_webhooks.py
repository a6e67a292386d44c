"""Workflow webhooks over HTTP: subscriptions, the one-time secret, events, retry."""

from datetime import UTC, datetime, timedelta

import httpx

from tests.api.conftest import Team
from threadline.service import webhooks as wh
from threadline.service.automation import webhook_delivery as wd
from threadline.store import Store

BASE = "/v1/workflow-webhooks"


def new_hook(**fields: object) -> dict[str, object]:
    return {
        "name": "Alerts",
        "url": "https://hooks.example.com/in",
        "actions": ["workflow_run_started", "workflow_run_completed"],
        **fields,
    }


SUBSCRIPTION_FIELDS = {
    "id",
    "name",
    "url",
    "actions",
    "enabled",
    "has_bearer_token",
    "timeout_seconds",
    "max_retries",
    "retry_backoff_seconds",
}


async def test_create_returns_the_secret_once_and_never_the_token(team: Team):
    r = await team.client.post(BASE, json=new_hook(bearer_token="tok"))
    assert r.status_code == 200, r.text
    sub = r.json()
    assert set(sub) >= SUBSCRIPTION_FIELDS
    assert sub["signing_secret"].startswith("whsec_")
    assert sub["has_bearer_token"] is True and "bearer_token" not in sub
    assert (sub["timeout_seconds"], sub["max_retries"]) == (10, 3)
    assert sub["retry_backoff_seconds"] == 10 and sub["enabled"] is True
    listed = (await team.client.get(BASE)).json()
    assert listed["total"] == 1
    [again] = listed["webhooks"]
    assert "signing_secret" not in again and "bearer_token" not in again
    assert again["id"] == sub["id"]
    # The gateway prefix serves the same routes.
    assert (await team.client.get(f"/workflows{BASE}")).json()["total"] == 1


async def test_create_validates_fields(team: Team):
    for bad in (
        new_hook(actions=["run.failed"]),
        new_hook(timeout_seconds=61),
        new_hook(max_retries=11),
        new_hook(retry_backoff_seconds=0),
        new_hook(url="ftp://x"),
        new_hook(name=""),
        new_hook(colour="red"),
    ):
        r = await team.client.post(BASE, json=bad)
        assert r.status_code == 422, (bad, r.text)


async def test_update_filters_and_delete(team: Team):
    a = (await team.client.post(BASE, json=new_hook(bearer_token="t"))).json()
    b = (
        await team.client.post(BASE, json=new_hook(actions=["workflow_created"]))
    ).json()
    r = await team.client.patch(
        f"{BASE}/{a['id']}", json={"enabled": False, "clear_bearer_token": True}
    )
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is False and r.json()["has_bearer_token"] is False
    assert "signing_secret" not in r.json()
    enabled = (await team.client.get(BASE, params={"enabled": "true"})).json()
    assert [w["id"] for w in enabled["webhooks"]] == [b["id"]]
    created = (
        await team.client.get(BASE, params={"action": "workflow_created"})
    ).json()
    assert [w["id"] for w in created["webhooks"]] == [b["id"]]
    assert (await team.client.delete(f"{BASE}/{a['id']}")).status_code == 204
    assert (await team.client.delete(f"{BASE}/{a['id']}")).status_code == 404
    assert (await team.client.get(BASE)).json()["total"] == 1


async def test_events_attempts_and_retry(store: Store, team: Team, other_team: Team):
    sub = (await team.client.post(BASE, json=new_hook(max_retries=0))).json()
    workflow_id = "c" * 24
    await wh.emit(
        store,
        team.team_id,
        wh.WORKFLOW_RUN_STARTED,
        workflow_id=workflow_id,
        run_id="d" * 24,
        run_status="running",
    )
    await wh.emit(store, team.team_id, wh.WORKFLOW_CREATED, workflow_id=workflow_id)
    page = (await team.client.get(f"{BASE}/events")).json()
    assert page["total"] == 1  # not subscribed to workflow_created
    [event] = page["events"]
    assert event["status"] == "pending" and event["subscription_id"] == sub["id"]
    assert event["workflow_run_id"] == "d" * 24 and event["_id"]
    filtered = await team.client.get(
        f"{BASE}/events",
        params={"subscription_id": sub["id"], "status": "pending"},
    )
    assert filtered.json()["total"] == 1
    bad = await team.client.get(f"{BASE}/events", params={"workflow_id": "nope"})
    assert bad.status_code == 422
    empty = await team.client.get(f"{BASE}/events", params={"status": "failed"})
    assert empty.json() == {
        "events": [],
        "total": 0,
        "page": 1,
        "size": 300,
        "pages": 0,
    }

    fail = httpx.MockTransport(lambda request: httpx.Response(500))
    await wd.deliver_due(
        store,
        datetime.now(UTC) + timedelta(seconds=1),
        policy=wd.DeliveryPolicy(allow_private=True),
        transport=fail,
        team_ids={team.team_id},
    )
    attempts = (
        await team.client.get(f"{BASE}/events/{event['event_id']}/attempts")
    ).json()
    assert attempts["total"] == 1
    assert attempts["attempts"][0]["response_status_code"] == 500
    # The SDK guide reads ``attempt.status_code`` and ``attempt.attempted_at``.
    assert attempts["attempts"][0]["status_code"] == 500
    assert (
        attempts["attempts"][0]["attempted_at"] == attempts["attempts"][0]["created_at"]
    )
    by_doc_id = await team.client.get(f"{BASE}/events/{event['_id']}/attempts")
    assert by_doc_id.json()["total"] == 1

    # Other teams see nothing and cannot retry.
    theirs = await other_team.client.get(f"{BASE}/events")
    assert theirs.json()["total"] == 0
    r = await other_team.client.post(f"{BASE}/events/{event['_id']}/retry")
    assert r.status_code == 404
    r = await other_team.client.get(f"{BASE}/events/{event['_id']}/attempts")
    assert r.status_code == 404

    r = await team.client.post(f"{BASE}/events/{event['_id']}/retry")
    assert r.status_code == 200, r.text
    assert r.json()["event_id"] == event["_id"] and r.json()["message"]
    [again] = (await team.client.get(f"{BASE}/events")).json()["events"]
    assert again["status"] == "pending" and again["attempts_count"] == 1


async def test_workflow_and_run_changes_queue_webhook_events(team: Team):
    sub = await team.client.post(
        "/v1/workflow-webhooks",
        json={
            "name": "all",
            "url": "https://hooks.example.com/in",
            "actions": [
                "workflow_created",
                "workflow_updated",
                "workflow_deleted",
                "workflow_run_started",
                "workflow_run_completed",
            ],
        },
    )
    assert sub.status_code in (200, 201), sub.text
    body = {
        "name": "Hooked",
        "workflow_config": {},
        "node_configs": [
            {
                "type": "say_static",
                "logical_id": "node_a",
                "is_start": True,
                "static_messages_config": {"static_messages": ["hi"]},
            }
        ],
        "edge_configs": [],
    }
    wid = (await team.client.post("/v1/workflows", json=body)).json()["workflow"]["_id"]
    await team.client.patch(f"/v1/workflows/{wid}", json={"name": "Renamed"})
    start = {
        "command": "start",
        "thread_to_node_inputs": {"0": {"node_run_inputs": []}},
    }
    run = (
        await team.client.post(
            f"/v1/workflows/{wid}/execute", json={"run_input": start}
        )
    ).json()
    assert run["status"] == "completed"
    await team.client.delete(f"/v1/workflows/{wid}")
    events = (
        await team.client.get(
            "/v1/workflow-webhooks/events", params={"workflow_id": wid}
        )
    ).json()
    actions = sorted(e["action"] for e in events["events"])
    assert actions == sorted(
        [
            "workflow_created",
            "workflow_updated",
            "workflow_run_started",
            "workflow_run_completed",
            "workflow_deleted",
        ]
    )
    completed = next(
        e for e in events["events"] if e["action"] == "workflow_run_completed"
    )
    assert completed["workflow_run_id"] == run["run_id"]
    assert completed["workflow_run_status"] == "completed"
