"""Delivering webhook events: a delivery pass over every team's events, and the loop.

A pass (:func:`deliver_due`) works on every team's events:

1. events whose claim (column status ``delivering``) is older than the lease are
   handed back (``retrying``): their dispatcher died, so delivery is at least once;
2. ``pending`` events, and ``retrying`` ones whose ``next_retry_at`` has come, are
   claimed one by one with ``set_status(..., expected_status=...)``, so two
   processes never send the same event at the same time;
3. each claimed event is POSTed to its subscription's URL (through
   ``tools.http.send``, SSRF guard included), one ``webhook_attempts`` document is
   written and the event is updated, in one transaction.

One attempt (its outcome, the backoff, the attempt document) is
``webhook_attempts.py``'s; the request it sends (body, signatures, headers)
``webhook_requests.py``'s.
"""

import asyncio
import logging
from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from threadline.service import webhooks as wh
from threadline.service.automation.webhook_attempts import (
    WORKER,
    DeliveryPolicy,
    Rng,
    backoff,
    deliver_one,
)
from threadline.service.automation.webhook_requests import event_type
from threadline.store import Document, Store

__all__ = [
    "DeliveryPolicy",
    "backoff",
    "deliver_due",
    "deliver_forever",
    "deliver_one",
    "event_type",
]

log = logging.getLogger("threadline.webhooks")


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


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
