"""Webhook events and delivery attempts: recording, dedupe, listing, retry.

* ``webhook_events``: one per subscription and ``dedupe_key`` (an event is never
  recorded twice for the same subscription and key). Indexed ``type`` = action,
  ``workflow_id``, ``logical_id`` = subscription id, ``name`` = dedupe key,
  ``status`` = delivery state. The public status (pending|retrying|delivered|
  failed) lives in the body; the column also takes ``delivering`` while a
  dispatcher holds the event (see ``service.automation.webhook_delivery``).
* ``webhook_attempts``: one per delivery attempt; ``logical_id`` = event ``_id``,
  ``name`` = subscription id, ``type`` = action, ``status`` = succeeded|failed.

The public API is ``service.webhooks``.
"""

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from threadline.errors import Conflict, NotFound
from threadline.ids import is_object_id, new_object_id
from threadline.service.caller import Caller
from threadline.service.webhooks.subscriptions import (
    ACTIONS,
    SUBSCRIPTIONS,
    invalid,
    iso,
    now,
)
from threadline.store import Document, Query, Store, Transaction

JsonDict = dict[str, Any]
log = logging.getLogger("threadline.webhooks")

EVENTS = "webhook_events"
ATTEMPTS = "webhook_attempts"

EVENT_STATUSES = ("pending", "retrying", "delivered", "failed")
DELIVERING = "delivering"
"""Column-only status of an event a dispatcher has claimed (never rendered)."""
EVENT_ID_PREFIX = "evt_"

# ----------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class EventSubject:
    """What an event is about: a workflow and, for run events, one of its runs."""

    workflow_id: str | None
    workflow_name: str | None = None
    run_id: str | None = None
    run_status: str | None = None
    payload: JsonDict | None = None


def event_id_of(doc_id: str) -> str:
    """The public ``event_id`` of the event document ``doc_id``."""
    return EVENT_ID_PREFIX + doc_id


def _event_doc_id(event_id: str) -> str | None:
    """The document id behind an ``_id`` or an ``event_id`` (None if neither)."""
    raw = (
        event_id[len(EVENT_ID_PREFIX) :]
        if event_id.startswith(EVENT_ID_PREFIX)
        else event_id
    )
    return raw if is_object_id(raw) else None


def render_event(doc: Document) -> JsonDict:
    """The public ``WebhookEvent``."""
    b = doc.body
    return {
        "_id": doc.id,
        "id": doc.id,
        "event_id": b["event_id"],
        "subscription_id": b["subscription_id"],
        "action": b["action"],
        "team_id": doc.team_id,
        "created_by": doc.created_by,
        "updated_by": doc.updated_by,
        "created_at": iso(doc.created_at),
        "updated_at": iso(doc.updated_at),
        "workflow_id": b.get("workflow_id"),
        "workflow_name": b.get("workflow_name"),
        "workflow_run_id": b.get("workflow_run_id"),
        "workflow_run_status": b.get("workflow_run_status"),
        "payload": b.get("payload") or {},
        "dedupe_key": b["dedupe_key"],
        "status": b["status"],
        "attempts_count": int(b.get("attempts_count") or 0),
        "next_retry_at": b.get("next_retry_at"),
        "delivered_at": b.get("delivered_at"),
        "last_attempt_at": b.get("last_attempt_at"),
        "last_status_code": b.get("last_status_code"),
        "last_error": b.get("last_error"),
    }


def render_attempt(doc: Document) -> JsonDict:
    """The public ``WebhookDeliveryAttempt``.

    ``status_code`` and ``attempted_at`` repeat ``response_status_code`` and
    ``created_at``: the SDK's webhooks guide reads those names (its model keeps
    unknown fields)."""
    b = doc.body
    return {
        "_id": doc.id,
        "id": doc.id,
        "event_id": b["event_id"],
        "subscription_id": b["subscription_id"],
        "attempt_number": b["attempt_number"],
        "action": b["action"],
        "request_url": b["request_url"],
        "team_id": doc.team_id,
        "created_by": doc.created_by,
        "updated_by": doc.updated_by,
        "created_at": iso(doc.created_at),
        "updated_at": iso(doc.updated_at),
        "success": bool(b.get("success", False)),
        "response_status_code": b.get("response_status_code"),
        "response_body": b.get("response_body"),
        "error_message": b.get("error_message"),
        "latency_ms": b.get("latency_ms"),
        "status_code": b.get("response_status_code"),
        "attempted_at": iso(doc.created_at),
    }


def dedupe_key(
    action: str, workflow_id: str | None, run_id: str | None = None, *, extra: str = ""
) -> str:
    """``<action>:<workflow_id>:<run_id>`` (plus ``:<extra>`` when given)."""
    key = f"{action}:{workflow_id or ''}:{run_id or ''}"
    return f"{key}:{extra}" if extra else key


async def enabled_subscriptions(tx: Transaction, team_id: str) -> list[Document]:
    """The team's enabled subscriptions, oldest first."""
    subs, _ = await tx.documents(SUBSCRIPTIONS).find(
        team_id, Query(equals={"status": "enabled"}, newest_first=False)
    )
    return subs


async def record_event(
    tx: Transaction,
    team_id: str,
    action: str,
    subject: EventSubject,
    *,
    key: str | None = None,
    by: str | None = None,
    at: datetime | None = None,
    enabled: list[Document] | None = None,
) -> list[Document]:
    """Queue ``action`` about ``subject`` for every enabled subscription of the
    team that wants it.

    Runs in the caller's transaction. An event is created once per subscription
    and dedupe key (``key``, default :func:`dedupe_key`); returns the new events.
    ``enabled``: the team's enabled subscriptions, when the caller already read
    them in this transaction (:func:`enabled_subscriptions`).
    """
    workflow_id, workflow_name = subject.workflow_id, subject.workflow_name
    run_id = subject.run_id
    if action not in ACTIONS:
        raise ValueError(f"unknown webhook action {action!r}")
    if enabled is None:
        enabled = await enabled_subscriptions(tx, team_id)
    subs = [s for s in enabled if action in (s.body.get("actions") or [])]
    if not subs:
        return []
    key = key or dedupe_key(action, workflow_id, run_id)
    at = at or now()
    events = tx.documents(EVENTS)
    created: list[Document] = []
    for sub in subs:
        await tx.lock(f"webhook_event:{sub.id}:{key}")
        found, _ = await events.find(
            team_id, Query(equals={"logical_id": sub.id, "name": key}, size=1)
        )
        if found:
            continue
        doc_id = new_object_id()
        body: JsonDict = {
            "event_id": event_id_of(doc_id),
            "subscription_id": sub.id,
            "action": action,
            "workflow_id": workflow_id,
            "workflow_name": workflow_name,
            "workflow_run_id": run_id,
            "workflow_run_status": subject.run_status,
            "payload": subject.payload or {},
            "dedupe_key": key,
            "status": "pending",
            "attempts_count": 0,
            "retry_base": 0,
            "next_retry_at": None,
            "delivered_at": None,
            "last_attempt_at": None,
            "last_status_code": None,
            "last_error": None,
        }
        doc = Document(
            id=doc_id,
            team_id=team_id,
            body=body,
            created_at=at,
            updated_at=at,
            created_by=by,
            updated_by=by,
            workflow_id=workflow_id,
            logical_id=sub.id,
            type=action,
            name=key,
            status="pending",
            search_text=f"{action} {workflow_name or ''} {body['event_id']}".lower(),
        )
        await events.insert(doc)
        created.append(doc)
    return created


async def emit(
    store: Store, team_id: str, action: str, *, by: str | None = None, **subject: Any
) -> list[Document]:
    """:func:`record_event` in a transaction of its own (``subject``: the fields
    of an :class:`EventSubject`); logs and never raises."""
    try:
        async with store.begin() as tx:
            return await record_event(
                tx, team_id, action, EventSubject(**subject), by=by
            )
    except Exception:
        log.exception("could not record webhook event %s", action)
        return []


# ------------------------------------------------------------- events over API


def _hex_filter(field: str, value: str | None) -> str | None:
    if value is not None and not is_object_id(value):
        raise invalid(field, "must be a 24-hex id")
    return value


async def list_events(
    store: Store,
    caller: Caller,
    query: Query,
    *,
    subscription_id: str | None = None,
    workflow_id: str | None = None,
    action: str | None = None,
    status: str | None = None,
) -> tuple[list[JsonDict], int]:
    """The team's events, newest first, filtered."""
    equals: JsonDict = {}
    if _hex_filter("subscription_id", subscription_id):
        equals["logical_id"] = subscription_id
    if _hex_filter("workflow_id", workflow_id):
        equals["workflow_id"] = workflow_id
    if action is not None:
        if action not in ACTIONS:
            raise invalid("action", f"unknown action {action!r}")
        equals["type"] = action
    if status is not None:
        if status not in EVENT_STATUSES:
            raise invalid("status", f"must be one of {', '.join(EVENT_STATUSES)}")
        equals["status"] = status
    async with store.begin() as tx:
        docs, total = await tx.documents(EVENTS).find(
            caller.team_id, replace(query, equals=equals)
        )
    return [render_event(d) for d in docs], total


async def _get_event(tx: Transaction, caller: Caller, event_id: str) -> Document:
    doc_id = _event_doc_id(event_id)
    doc = await tx.documents(EVENTS).get(caller.team_id, doc_id) if doc_id else None
    if doc is None:
        raise NotFound(f"webhook event {event_id!r} not found")
    return doc


async def list_attempts(
    store: Store, caller: Caller, event_id: str, query: Query
) -> tuple[list[JsonDict], int]:
    """Delivery attempts of one event (``_id`` or ``event_id``), newest first."""
    async with store.begin() as tx:
        event = await _get_event(tx, caller, event_id)
        docs, total = await tx.documents(ATTEMPTS).find(
            caller.team_id, replace(query, equals={"logical_id": event.id})
        )
    return [render_attempt(d) for d in docs], total


async def retry_event(store: Store, caller: Caller, event_id: str) -> JsonDict:
    """Re-queue an event for delivery now, with a fresh retry budget.

    409 while a dispatcher is sending it.
    """
    async with store.begin() as tx:
        event = await _get_event(tx, caller, event_id)
        if event.status == DELIVERING:
            raise Conflict("the event is being delivered right now; retry later")
        body = {
            **event.body,
            "status": "pending",
            "next_retry_at": None,
            "retry_base": int(event.body.get("attempts_count") or 0),
        }
        done = await tx.documents(EVENTS).replace(
            replace(
                event,
                body=body,
                status="pending",
                updated_at=now(),
                updated_by=caller.user_id,
            ),
            expected_status=event.status,
        )
        if not done:
            raise Conflict("the event changed meanwhile; retry later")
    return {"message": "Webhook event re-queued for delivery", "event_id": event.id}
