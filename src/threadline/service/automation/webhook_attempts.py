"""One webhook delivery attempt: sending a claimed event, recording the attempt.

Outcome of an attempt: 2xx → ``delivered``; a network error, a timeout or one of
:data:`RETRYABLE_STATUSES` → ``retrying`` after :func:`backoff` while the
subscription's ``max_retries`` allows, else ``failed``; any other status, a target
refused by the SSRF guard, or a deleted/disabled subscription → ``failed`` at once.
The request itself is ``webhook_requests.py``'s.
"""

import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx

from threadline.errors import SecretKeyMissing
from threadline.ids import new_object_id
from threadline.service import webhooks as wh
from threadline.service.automation.webhook_requests import send
from threadline.service.team import secrets
from threadline.service.team.sealing import open_tree
from threadline.store import Document, Store
from threadline.telemetry import metrics, tracing
from threadline.tools.http import HttpOutcome, HttpPolicy

JsonDict = dict[str, Any]
log = logging.getLogger("threadline.webhooks")

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 30 * 60
LEASE_SECONDS = 120
JITTER = 0.2
"""Each delay is the doubled base times a random factor in [1 - JITTER, 1 + JITTER]."""
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
    hpolicy = HttpPolicy(
        allow_private=policy.allow_private,
        max_response_bytes=policy.max_response_bytes,
        max_redirects=0,
    )
    with tracing.span(
        "webhook.deliver",
        {"threadline.webhook.action": event.body.get("action"), "attempt": number},
        kind=tracing.CLIENT,
    ) as span:
        outcome, refused = await send(sub, event, number, hpolicy, transport)
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
