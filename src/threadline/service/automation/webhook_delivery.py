"""Delivering webhook events: signing, one delivery pass, the backoff, the loop.

A pass (:func:`deliver_due`) works on every team's events:

1. events whose claim (column status ``delivering``) is older than the lease are
   handed back (``retrying``): their dispatcher died, so delivery is at least once;
2. ``pending`` events, and ``retrying`` ones whose ``next_retry_at`` has come, are
   claimed one by one with ``set_status(..., expected_status=...)``, so two
   processes never send the same event at the same time;
3. each claimed event is POSTed to its subscription's URL (through
   ``tools.http.send``, SSRF guard included), one ``webhook_attempts`` document is
   written and the event is updated, in one transaction.

Outcome of an attempt: 2xx → ``delivered``; a network error, a timeout or one of
:data:`RETRYABLE_STATUSES` → ``retrying`` after :func:`backoff` while the
subscription's ``max_retries`` allows, else ``failed``; any other status, a target
refused by the SSRF guard, or a deleted/disabled subscription → ``failed`` at once.

Signature (what the Interactly SDK's ``interactly.webhooks.verify_signature``
checks): ``X-Interactly-Signature`` = hex HMAC-SHA256 of the raw body with the
subscription's signing secret, ``X-Interactly-Timestamp`` = Unix seconds. The body
repeats that timestamp (``timestamp``), so the signature covers it and receivers
can reject replays by comparing both and checking freshness. Receivers that prefer
the ``"<timestamp>.<body>"`` scheme read ``X-Interactly-Signature-256``:
``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``.
"""

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

from threadline import __version__
from threadline.errors import SecretKeyMissing
from threadline.ids import new_object_id
from threadline.service import webhooks as wh
from threadline.service.team import secrets
from threadline.service.team.sealing import open_tree
from threadline.store import Document, Store
from threadline.telemetry import metrics, tracing
from threadline.tools import http
from threadline.tools.http import BlockedAddress, HttpCall, HttpOutcome, HttpPolicy

JsonDict = dict[str, Any]
log = logging.getLogger("threadline.webhooks")

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 30 * 60
LEASE_SECONDS = 120
JITTER = 0.2
"""Each delay is the doubled base times a random factor in [1 - JITTER, 1 + JITTER]."""
SIGNATURE_HEADER = "X-Interactly-Signature"
TIMESTAMPED_SIGNATURE_HEADER = "X-Interactly-Signature-256"
TIMESTAMP_HEADER = "X-Interactly-Timestamp"
EVENT_ID_HEADER = "X-Interactly-Event-Id"
MAX_RESPONSE_BODY = 2000
"""Characters of the receiver's response kept on the attempt."""
WORKER = "webhook_dispatcher"


class Rng(Protocol):
    def uniform(self, a: float, b: float, /) -> float: ...


@dataclass(frozen=True)
class DeliveryPolicy:
    """Deployment-wide delivery settings."""

    allow_private: bool = False
    """``THREADLINE_HTTP_ALLOW_PRIVATE``: may targets be loopback/private?"""
    interval_seconds: float = 5.0
    """Pause between passes of :func:`deliver_forever`."""
    batch: int = 100
    """Most events sent per pass."""
    concurrency: int = 10
    """Most events sent at the same time by one pass."""
    lease_seconds: int = LEASE_SECONDS
    max_response_bytes: int = 64_000


def sign(secret: str, body: bytes) -> str:
    """The ``X-Interactly-Signature`` value: hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def sign_timestamped(secret: str, body: bytes, ts: int) -> str:
    """The ``X-Interactly-Signature-256`` value: ``sha256=`` and the hex HMAC-SHA256
    of ``"<timestamp>.<body>"``, so the timestamp is signed outside the body too."""
    message = str(ts).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def backoff(attempt: int, base_seconds: float, rng: Rng | None = None) -> float:
    """Seconds before retry number ``attempt`` (1-based): ``base * 2**(attempt-1)``
    with ±20 % jitter, never above 30 minutes."""
    raw = min(base_seconds * 2 ** max(attempt - 1, 0), MAX_BACKOFF_SECONDS)
    factor = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    return float(min(raw * factor, MAX_BACKOFF_SECONDS))


def is_retryable(outcome: HttpOutcome) -> bool:
    """A network error or timeout (no status), or a transient status."""
    if outcome.status_code is None:
        return True
    return outcome.status_code in RETRYABLE_STATUSES


_EVENT_TYPES = {
    "workflow_created": "workflow.created",
    "workflow_updated": "workflow.updated",
    "workflow_deleted": "workflow.deleted",
    "workflow_run_started": "run.started",
}
_FAILED_RUNS = frozenset({"failed", "aborted_looping_risk"})


def event_type(action: str, run_status: str | None) -> str:
    """The body's ``type``: the event names the SDK's receiver example routes on
    (``run.completed``, ``run.failed``, ...); ``action`` keeps the enum value."""
    if action == "workflow_run_completed":
        return "run.failed" if run_status in _FAILED_RUNS else "run.completed"
    return _EVENT_TYPES.get(action, action)


def delivery_body(event: Document, attempt_number: int, timestamp: int) -> bytes:
    """The JSON POSTed to the receiver: the action, the workflow and the run."""
    b = event.body
    run_status = b.get("workflow_run_status")
    doc = {
        "event_id": b["event_id"],
        "action": b["action"],
        "type": event_type(b["action"], run_status),
        "timestamp": timestamp,
        "attempt_number": attempt_number,
        "team_id": event.team_id,
        "subscription_id": b["subscription_id"],
        "dedupe_key": b["dedupe_key"],
        "occurred_at": event.created_at.isoformat(),
        "workflow_id": b.get("workflow_id"),
        "workflow_name": b.get("workflow_name"),
        "workflow_run_id": b.get("workflow_run_id"),
        "run_id": b.get("workflow_run_id"),
        "workflow_run_status": b.get("workflow_run_status"),
        "payload": b.get("payload") or {},
    }
    if doc["type"] == "run.failed":
        doc["error"] = f"the run ended with status {run_status!r}"
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("utf-8")


def _headers(sub: Document, event: Document, body: bytes, ts: int) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"Threadline-Webhooks/{__version__}",
        SIGNATURE_HEADER: sign(wh.signing_secret(sub), body),
        TIMESTAMPED_SIGNATURE_HEADER: sign_timestamped(
            wh.signing_secret(sub), body, ts
        ),
        TIMESTAMP_HEADER: str(ts),
        EVENT_ID_HEADER: str(event.body["event_id"]),
    }
    token = wh.bearer_token(sub)
    if token:
        if token[:7].lower() == "bearer ":  # the SDK guide's example sends it so
            token = token[7:].strip()
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def _send(
    sub: Document,
    event: Document,
    attempt_number: int,
    policy: DeliveryPolicy,
    transport: httpx.AsyncBaseTransport | None,
) -> tuple[HttpOutcome, bool]:
    """POST the event once; returns the outcome and whether it was refused."""
    ts = int(time.time())
    body = delivery_body(event, attempt_number, ts)
    call = HttpCall(
        method="POST",
        url=sub.body["url"],
        headers=_headers(sub, event, body, ts),
        body=body,
        timeout_s=float(sub.body["timeout_seconds"]),
        response_format="text",
    )
    hpolicy = HttpPolicy(
        allow_private=policy.allow_private,
        max_response_bytes=policy.max_response_bytes,
        max_redirects=0,
    )
    secrets = [s for s in (wh.bearer_token(sub), wh.signing_secret(sub)) if s]
    try:
        await http.check_url(httpx.URL(call.url), hpolicy)
    except BlockedAddress as exc:
        refused = HttpOutcome(
            success=False,
            status_code=None,
            data=None,
            headers={},
            error=str(exc),
            latency_ms=0.0,
            curl_command="",
        )
        return refused, True
    except Exception:  # resolution problems: send() reports them
        pass
    return (
        await http.send(
            call, policy=hpolicy, secret_values=secrets, transport=transport
        ),
        False,
    )


def _text(data: Any) -> str | None:
    if data is None:
        return None
    text = data if isinstance(data, str) else json.dumps(data, default=str)
    return text[:MAX_RESPONSE_BODY]


async def _fail_unsendable(
    store: Store, event: Document, reason: str, at: datetime
) -> None:
    body = {
        **event.body,
        "status": "failed",
        "next_retry_at": None,
        "last_error": reason,
    }
    async with store.begin() as tx:
        await tx.documents(wh.EVENTS).replace(
            replace(
                event, body=body, status="failed", updated_at=at, updated_by=WORKER
            ),
            expected_status=wh.DELIVERING,
        )


async def deliver_one(
    store: Store,
    event: Document,
    *,
    now: datetime,
    policy: DeliveryPolicy,
    transport: httpx.AsyncBaseTransport | None = None,
    rng: Rng | None = None,
    clock: Callable[[], datetime] | None = None,
) -> str:
    """Send one claimed event (column status ``delivering``); return its new status.

    ``now`` stamps the attempt unless ``clock`` (read after sending) is given.
    """
    async with store.begin() as tx:
        sub = await tx.documents(wh.SUBSCRIPTIONS).get(
            event.team_id, event.body["subscription_id"]
        )
    if sub is None or not sub.body.get("enabled", True):
        reason = "subscription deleted" if sub is None else "subscription disabled"
        await _fail_unsendable(store, event, reason, now)
        return "failed"
    try:  # the token and signing secret are sealed at rest (service.team.sealing)
        sub = replace(sub, body=open_tree(sub.body, secrets.key_for(store)))
    except SecretKeyMissing as exc:
        await _fail_unsendable(store, event, exc.message, now)
        return "failed"
    number = int(event.body.get("attempts_count") or 0) + 1
    with tracing.span(
        "webhook.deliver",
        {"threadline.webhook.action": event.body.get("action"), "attempt": number},
        kind=tracing.CLIENT,
    ) as span:
        outcome, refused = await _send(sub, event, number, policy, transport)
        span.set("http.response.status_code", outcome.status_code)
    at = clock() if clock is not None else now
    retries_used = number - int(event.body.get("retry_base") or 0)
    next_retry_at: str | None = None
    if outcome.success:
        status = "delivered"
    elif (
        not refused
        and is_retryable(outcome)
        and retries_used <= int(sub.body["max_retries"])
    ):
        status = "retrying"
        delay = backoff(retries_used, float(sub.body["retry_backoff_seconds"]), rng)
        next_retry_at = (at + timedelta(seconds=delay)).isoformat()
    else:
        status = "failed"
    metrics.webhook_deliveries.labels(status).inc()
    if status != "delivered":
        metrics.webhook_failures.inc()
    attempt = Document(
        id=new_object_id(),
        team_id=event.team_id,
        body={
            "event_id": event.body["event_id"],
            "subscription_id": sub.id,
            "attempt_number": number,
            "action": event.body["action"],
            "request_url": sub.body["url"],
            "success": outcome.success,
            "response_status_code": outcome.status_code,
            "response_body": _text(outcome.data),
            "error_message": outcome.error,
            "latency_ms": round(outcome.latency_ms),
        },
        created_at=at,
        updated_at=at,
        created_by=WORKER,
        updated_by=WORKER,
        workflow_id=event.workflow_id,
        logical_id=event.id,
        type=event.body["action"],
        name=sub.id,
        status="succeeded" if outcome.success else "failed",
    )
    body = {
        **event.body,
        "status": status,
        "attempts_count": number,
        "next_retry_at": next_retry_at,
        "last_attempt_at": at.isoformat(),
        "last_status_code": outcome.status_code,
        "last_error": None if outcome.success else outcome.error,
        "delivered_at": at.isoformat()
        if outcome.success
        else event.body.get("delivered_at"),
    }
    async with store.begin() as tx:
        await tx.documents(wh.ATTEMPTS).insert(attempt)
        kept = await tx.documents(wh.EVENTS).replace(
            replace(event, body=body, status=status, updated_at=at, updated_by=WORKER),
            expected_status=wh.DELIVERING,
        )
    if not kept:
        log.warning("webhook event %s: lease lost while delivering", event.id)
    return status


async def _reclaim_stale(store: Store, now: datetime, lease: int, limit: int) -> None:
    """Hand back events whose dispatcher stopped mid-delivery."""
    async with store.begin() as tx:
        stale = await tx.documents(wh.EVENTS).find_stale(
            wh.DELIVERING, now - timedelta(seconds=lease), limit
        )
    for doc in stale:
        async with store.begin() as tx:
            await tx.documents(wh.EVENTS).set_status(
                doc.team_id,
                doc.id,
                "retrying",
                expected_status=wh.DELIVERING,
                at=now,
                by=WORKER,
            )


def _due(doc: Document, now: datetime) -> bool:
    at = _parse(doc.body.get("next_retry_at"))
    return at is None or at <= now


async def deliver_due(
    store: Store,
    now: datetime,
    *,
    policy: DeliveryPolicy | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    rng: Rng | None = None,
    team_ids: Collection[str] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> list[tuple[str, str]]:
    """One delivery pass over every team (or only ``team_ids``, for tests).

    ``now`` decides what is due; ``clock`` (default: ``now``) stamps claims and
    attempts, so a long pass keeps its leases fresh.

    Returns ``(event _id, new status)`` for each event this pass sent.
    """
    policy = policy or DeliveryPolicy()
    await _reclaim_stale(store, now, policy.lease_seconds, policy.batch)
    horizon = now + timedelta(microseconds=1)
    candidates: list[Document] = []
    async with store.begin() as tx:
        events = tx.documents(wh.EVENTS)
        for status in ("pending", "retrying"):
            # Retrying events not yet due are skipped here; scan a few batches.
            found = await events.find_stale(status, horizon, policy.batch * 10)
            candidates += [d for d in found if _due(d, now)]
    if team_ids is not None:
        candidates = [d for d in candidates if d.team_id in team_ids]
    stamp = clock or (lambda: now)
    gate = asyncio.Semaphore(max(policy.concurrency, 1))

    async def one(doc: Document) -> tuple[str, str] | None:
        async with gate:
            at = stamp()
            async with store.begin() as tx:
                claimed = await tx.documents(wh.EVENTS).set_status(
                    doc.team_id,
                    doc.id,
                    wh.DELIVERING,
                    expected_status=doc.status,
                    at=at,
                    by=WORKER,
                )
            if not claimed:
                return None  # another dispatcher has it, or it was re-queued
            held = replace(doc, status=wh.DELIVERING, updated_at=at, updated_by=WORKER)
            try:
                status = await deliver_one(
                    store,
                    held,
                    now=now,
                    policy=policy,
                    transport=transport,
                    rng=rng,
                    clock=clock,
                )
            except Exception:  # the lease lapses and the event is tried again
                log.exception("webhook event %s: delivery failed", doc.id)
                return None
            return doc.id, status

    results = await asyncio.gather(*(one(d) for d in candidates[: policy.batch]))
    return [r for r in results if r is not None]


async def deliver_forever(
    store: Store,
    policy: DeliveryPolicy,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> None:
    """Run :func:`deliver_due` every ``policy.interval_seconds`` (0 or less: never)."""
    if policy.interval_seconds <= 0:
        return
    while True:
        await asyncio.sleep(policy.interval_seconds)
        try:
            await deliver_due(
                store,
                datetime.now(UTC),
                policy=policy,
                transport=transport,
                clock=lambda: datetime.now(UTC),
            )
        except Exception:  # a failed pass is retried on the next tick
            log.exception("webhook delivery pass failed")
