"""Webhook delivery: signing, retries and backoff, SSRF refusal, dedupe, restarts."""

import hashlib
import hmac
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from threadline.errors import NotFound
from threadline.ids import new_object_id
from threadline.service import webhooks as wh
from threadline.service.automation import webhook_delivery as wd
from threadline.service.caller import Caller
from threadline.store import Query, Store, open_store

URL = "https://hooks.example.com/in"
ALLOW = wd.DeliveryPolicy(allow_private=True)


def caller() -> Caller:
    return Caller(team_id=new_object_id(), user_id=new_object_id())


class Receiver:
    """A MockTransport answering with scripted statuses (or raising)."""

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer, text=f"status {answer}")

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


async def subscribe(store: Store, who: Caller, **fields: Any) -> dict[str, Any]:
    body = {"name": "hook", "url": URL, "actions": list(wh.ACTIONS), **fields}
    return await wh.create_subscription(store, who, body)


async def run_completed(store: Store, who: Caller, run_id: str | None = None) -> None:
    await wh.emit(
        store,
        who.team_id,
        wh.WORKFLOW_RUN_COMPLETED,
        workflow_id="a" * 24,
        workflow_name="Intake",
        run_id=run_id or new_object_id(),
        run_status="completed",
    )


async def events(store: Store, who: Caller) -> list[dict[str, Any]]:
    items, _ = await wh.list_events(store, who, Query())
    return items


async def attempts(store: Store, who: Caller, event_id: str) -> list[dict[str, Any]]:
    items, _ = await wh.list_attempts(store, who, event_id, Query(newest_first=False))
    return items


def later(minutes: float = 0) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=1, minutes=minutes)


async def deliver(
    store: Store, who: Caller, receiver: Receiver, minutes: float = 0, **kw: Any
) -> list[tuple[str, str]]:
    return await wd.deliver_due(
        store,
        later(minutes),
        policy=kw.pop("policy", ALLOW),
        transport=receiver.transport,
        team_ids={who.team_id},
        **kw,
    )


async def test_delivery_is_signed_sdk_style_with_bearer_and_names_action_workflow_run(
    store: Store,
):
    who = caller()
    sub = await subscribe(store, who, bearer_token="Bearer tok-123")
    run_id = new_object_id()
    await run_completed(store, who, run_id)
    receiver = Receiver(200)
    [(_, status)] = await deliver(store, who, receiver)
    assert status == "delivered"
    [request] = receiver.requests
    raw = request.content
    secret = sub["signing_secret"]
    # What interactly.webhooks.verify_signature computes: hex HMAC of the raw body.
    expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    assert request.headers["X-Interactly-Signature"] == expected
    ts = request.headers["X-Interactly-Timestamp"]
    assert abs(int(ts) - datetime.now(UTC).timestamp()) < 60
    # The "<timestamp>.<body>" scheme, for receivers that verify that way.
    stamped = hmac.new(secret.encode(), f"{ts}.".encode() + raw, hashlib.sha256)
    assert request.headers["X-Interactly-Signature-256"] == (
        f"sha256={stamped.hexdigest()}"
    )
    assert request.headers["Authorization"] == "Bearer tok-123"
    body = json.loads(raw)
    assert body["timestamp"] == int(ts)  # signed, so replays can be rejected
    assert body["action"] == "workflow_run_completed"
    assert body["workflow_id"] == "a" * 24
    assert body["workflow_run_id"] == run_id
    assert body["workflow_run_status"] == "completed"
    # The SDK's receiver example routes on ``type`` and reads ``run_id``.
    assert (body["type"], body["run_id"]) == ("run.completed", run_id)
    [event] = await events(store, who)
    assert body["event_id"] == event["event_id"]
    assert event["status"] == "delivered" and event["attempts_count"] == 1
    assert event["delivered_at"] and event["last_status_code"] == 200
    [attempt] = await attempts(store, who, event["event_id"])
    assert attempt["success"] is True and attempt["response_status_code"] == 200
    assert attempt["request_url"] == URL and attempt["attempt_number"] == 1


async def test_503_is_retried_then_delivered(store: Store):
    who = caller()
    await subscribe(store, who)
    await run_completed(store, who)
    receiver = Receiver(503, 200)
    [(_, status)] = await deliver(store, who, receiver)
    assert status == "retrying"
    [event] = await events(store, who)
    assert event["next_retry_at"] and event["last_status_code"] == 503
    assert await deliver(store, who, receiver) == []  # not due yet
    [(_, status)] = await deliver(store, who, receiver, minutes=60)
    assert status == "delivered"
    assert [a["success"] for a in await attempts(store, who, event["_id"])] == [
        False,
        True,
    ]


async def test_400_fails_at_once(store: Store):
    who = caller()
    await subscribe(store, who)
    await run_completed(store, who)
    [(_, status)] = await deliver(store, who, Receiver(400))
    assert status == "failed"
    [event] = await events(store, who)
    assert event["status"] == "failed" and event["attempts_count"] == 1
    assert await deliver(store, who, Receiver(), minutes=120) == []


async def test_max_retries_exhausted_fails(store: Store):
    who = caller()
    await subscribe(store, who, max_retries=2, retry_backoff_seconds=1)
    await run_completed(store, who)
    receiver = Receiver(500, 502, 504, 200)
    statuses = [
        s for m in (0, 60, 120, 180) for _, s in await deliver(store, who, receiver, m)
    ]
    assert statuses == ["retrying", "retrying", "failed"]
    [event] = await events(store, who)
    assert event["attempts_count"] == 3 and event["last_status_code"] == 504


async def test_network_error_and_timeout_are_retried(store: Store):
    who = caller()
    await subscribe(store, who)
    await run_completed(store, who)
    receiver = Receiver(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), 204)
    statuses = [
        s for m in (0, 60, 120) for _, s in await deliver(store, who, receiver, m)
    ]
    assert statuses == ["retrying", "retrying", "delivered"]
    tried = await attempts(store, who, (await events(store, who))[0]["event_id"])
    assert tried[0]["response_status_code"] is None and tried[0]["error_message"]


def test_backoff_doubles_with_jitter_and_is_capped():
    rng = random.Random(1)
    for attempt, base in [(1, 10), (2, 20), (3, 40), (4, 80)]:
        for _ in range(50):
            delay = wd.backoff(attempt, 10, rng)
            assert base * 0.8 <= delay <= base * 1.2
    delays = {wd.backoff(1, 10, rng) for _ in range(20)}
    assert len(delays) > 1  # jittered
    assert wd.backoff(20, 300, rng) <= 30 * 60
    assert wd.backoff(20, 300, rng) >= 30 * 60 * 0.8


async def test_retry_reschedules_with_backoff_from_subscription(store: Store):
    who = caller()
    await subscribe(store, who, retry_backoff_seconds=100)
    await run_completed(store, who)
    start = later()
    await wd.deliver_due(
        store, start, policy=ALLOW, transport=Receiver(429).transport,
        team_ids={who.team_id},
    )  # fmt: skip
    [event] = await events(store, who)
    wait = datetime.fromisoformat(event["next_retry_at"]) - start
    assert timedelta(seconds=80) <= wait <= timedelta(seconds=120)


async def test_retry_requeues_a_failed_event(store: Store):
    who = caller()
    await subscribe(store, who, max_retries=0)
    await run_completed(store, who)
    await deliver(store, who, Receiver(500))
    [event] = await events(store, who)
    assert event["status"] == "failed"
    answer = await wh.retry_event(store, who, event["_id"])
    assert answer["event_id"] == event["_id"]
    [event] = await events(store, who)
    assert event["status"] == "pending"
    [(_, status)] = await deliver(store, who, Receiver(200))
    assert status == "delivered"
    numbers = [a["attempt_number"] for a in await attempts(store, who, event["_id"])]
    assert numbers == [1, 2]


async def test_private_target_refused_unless_allowed(store: Store):
    who = caller()
    await subscribe(store, who, url="http://127.0.0.1:9/hook")
    await run_completed(store, who)
    receiver = Receiver(200)
    refused = wd.DeliveryPolicy(allow_private=False)
    [(_, status)] = await deliver(store, who, receiver, policy=refused)
    assert status == "failed" and receiver.requests == []
    [event] = await events(store, who)
    [attempt] = await attempts(store, who, event["_id"])
    assert attempt["success"] is False and attempt["error_message"]
    await wh.retry_event(store, who, event["_id"])
    [(_, status)] = await deliver(store, who, receiver)  # allowed
    assert status == "delivered" and len(receiver.requests) == 1


async def test_an_event_is_recorded_once_per_subscription_and_dedupe_key(store: Store):
    who = caller()
    await subscribe(store, who)
    await subscribe(store, who, actions=["workflow_created"])
    run_id = new_object_id()
    await run_completed(store, who, run_id)
    await run_completed(store, who, run_id)
    found = await events(store, who)
    assert len(found) == 1
    assert found[0]["dedupe_key"] == f"workflow_run_completed:{'a' * 24}:{run_id}"


async def test_actions_filter_and_disabled_subscriptions(store: Store):
    who = caller()
    created_only = await subscribe(store, who, actions=["workflow_created"])
    await subscribe(store, who, enabled=False)
    await run_completed(store, who)
    assert await events(store, who) == []
    await wh.emit(store, who.team_id, wh.WORKFLOW_CREATED, workflow_id="b" * 24)
    [event] = await events(store, who)
    assert event["subscription_id"] == created_only["id"]
    assert event["action"] == "workflow_created"


async def test_claimed_events_are_not_sent_twice_and_stale_claims_return(store: Store):
    who = caller()
    await subscribe(store, who)
    await run_completed(store, who)
    [event] = await events(store, who)
    async with store.begin() as tx:  # another dispatcher holds it
        assert await tx.documents(wh.EVENTS).set_status(
            who.team_id,
            event["_id"],
            wh.DELIVERING,
            expected_status="pending",
            at=datetime.now(UTC),
            by="other",
        )
    receiver = Receiver(200)
    assert await deliver(store, who, receiver) == []
    # The other dispatcher died: after the lease the event is delivered again.
    [(_, status)] = await deliver(store, who, receiver, minutes=3)
    assert status == "delivered" and len(receiver.requests) == 1


async def test_deleted_subscription_fails_its_pending_events(store: Store):
    who = caller()
    sub = await subscribe(store, who)
    await run_completed(store, who)
    await wh.delete_subscription(store, who, sub["id"])
    receiver = Receiver(200)
    [(_, status)] = await deliver(store, who, receiver)
    assert status == "failed" and receiver.requests == []
    [event] = await events(store, who)
    assert event["last_error"] == "subscription deleted"


async def test_teams_never_see_each_others_events(store: Store):
    mine, theirs = caller(), caller()
    await subscribe(store, mine)
    await run_completed(store, mine)
    [event] = await events(store, mine)
    assert await events(store, theirs) == []
    with pytest.raises(NotFound):
        await wh.list_attempts(store, theirs, event["_id"], Query())
    with pytest.raises(NotFound):
        await wh.retry_event(store, theirs, event["_id"])


async def test_pending_events_survive_a_restart(database_url: str):
    who = caller()
    first = open_store(database_url)
    await first.migrate()
    await subscribe(first, who)
    await run_completed(first, who)
    await first.close()  # the process stops before delivering
    second = open_store(database_url)
    try:
        receiver = Receiver(200)
        [(_, status)] = await deliver(second, who, receiver)
        assert status == "delivered" and len(receiver.requests) == 1
    finally:
        await second.close()


async def test_hooks_record_workflow_and_run_events(store: Store):
    from threadline.store import Document

    who = caller()
    await subscribe(store, who)
    wf_id = new_object_id()
    async with store.begin() as tx:
        await wh.on_workflow(tx, who, wh.WORKFLOW_CREATED, wf_id, "Intake")
        await wh.on_workflow(tx, who, wh.WORKFLOW_UPDATED, wf_id, "Intake")
    at = datetime.now(UTC)
    run = Document(
        id=new_object_id(),
        team_id=who.team_id,
        body={"workflow_run": {"termination_source": None}, "turn_count": 1},
        created_at=at,
        updated_at=at,
        workflow_id=wf_id,
        status="completed",
    )
    await wh.on_turn(store, who, run, created=True, previous="not_started")
    await wh.on_turn(store, who, run, created=False, previous="running")  # dup
    actions = sorted(e["action"] for e in await events(store, who))
    assert actions == [
        "workflow_created",
        "workflow_run_completed",
        "workflow_run_started",
        "workflow_updated",
    ]


def test_the_body_type_is_the_receiver_event_name() -> None:
    assert wd.event_type("workflow_run_completed", "failed") == "run.failed"
    assert wd.event_type("workflow_run_completed", "cancelled") == "run.completed"
    assert wd.event_type("workflow_run_started", "running") == "run.started"
    assert wd.event_type("workflow_created", None) == "workflow.created"
