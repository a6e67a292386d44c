"""Outbound workflow webhooks: subscriptions, events, attempts.

Three document kinds, every one scoped to a team:

* ``webhook_subscriptions``: body ``{name, url, actions, enabled, bearer_token,
  signing_secret, timeout_seconds, max_retries, retry_backoff_seconds}``; indexed
  ``name`` and ``status`` (``enabled``/``disabled``); search text = name + url.
  The bearer token is never returned (``has_bearer_token``); the signing secret is
  returned once, as ``signing_secret``, by create.
* ``webhook_events``: one per subscription and ``dedupe_key`` (an event is never
  recorded twice for the same subscription and key). Indexed ``type`` = action,
  ``workflow_id``, ``logical_id`` = subscription id, ``name`` = dedupe key,
  ``status`` = delivery state. The public status (pending|retrying|delivered|
  failed) lives in the body; the column also takes ``delivering`` while a
  dispatcher holds the event (see ``service.webhook_delivery``).
* ``webhook_attempts``: one per delivery attempt; ``logical_id`` = event ``_id``,
  ``name`` = subscription id, ``type`` = action, ``status`` = succeeded|failed.

Events are recorded by the hooks :func:`on_workflow` (inside the transaction that
changes the workflow, so an event exists exactly when the change committed) and
:func:`on_turn` (after a run's turn is saved; never raises). Delivery is
``service.webhook_delivery``.

Secrets: ``service.secrets`` (encryption at rest with ``THREADLINE_SECRET_KEY``)
does not exist yet, so the signing secret and bearer token are stored as sent,
marked ``secret_scheme: "plain"`` so that a later migration can find them.
"""

import logging
import secrets as pysecrets
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from threadline.errors import Conflict, InvalidField, NotFound
from threadline.ids import is_object_id, new_object_id
from threadline.service.caller import Caller
from threadline.service.commands import TERMINAL
from threadline.store import Document, Query, Store, Transaction

JsonDict = dict[str, Any]
log = logging.getLogger("threadline.webhooks")

SUBSCRIPTIONS = "webhook_subscriptions"
EVENTS = "webhook_events"
ATTEMPTS = "webhook_attempts"

WORKFLOW_CREATED = "workflow_created"
WORKFLOW_UPDATED = "workflow_updated"
WORKFLOW_DELETED = "workflow_deleted"
WORKFLOW_RUN_STARTED = "workflow_run_started"
WORKFLOW_RUN_COMPLETED = "workflow_run_completed"
ACTIONS = (
    WORKFLOW_CREATED,
    WORKFLOW_UPDATED,
    WORKFLOW_DELETED,
    WORKFLOW_RUN_STARTED,
    WORKFLOW_RUN_COMPLETED,
)
EVENT_STATUSES = ("pending", "retrying", "delivered", "failed")
DELIVERING = "delivering"
"""Column-only status of an event a dispatcher has claimed (never rendered)."""
EVENT_ID_PREFIX = "evt_"
SECRET_PREFIX = "whsec_"

_LIMITS: dict[str, tuple[int, int, int]] = {
    "timeout_seconds": (10, 1, 60),
    "max_retries": (3, 0, 10),
    "retry_backoff_seconds": (10, 1, 300),
}
"""Integer settings: (default, minimum, maximum)."""
_CREATE_FIELDS = frozenset(
    {"name", "url", "actions", "enabled", "bearer_token", *_LIMITS}
)
_UPDATE_FIELDS = _CREATE_FIELDS | {"clear_bearer_token"}


def now() -> datetime:
    """The service clock (UTC)."""
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# ------------------------------------------------------------------ validation


def _invalid(field: str, message: str) -> InvalidField:
    return InvalidField(
        f"{field}: {message}",
        details=[{"field": field, "message": message, "type": "value_error"}],
    )


def _name(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= 150:
        raise _invalid("name", "must be a string of 1 to 150 characters")
    return value.strip()


def _url(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 2048:
        raise _invalid("url", "must be a string of 1 to 2048 characters")
    text = value.strip()
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest.strip("/"):
        raise _invalid("url", "must be an absolute http(s) URL")
    return text


def _actions(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise _invalid("actions", "must be a list of action names")
    unknown = [a for a in value if a not in ACTIONS]
    if unknown:
        raise _invalid(
            "actions", f"unknown action {unknown[0]!r}; use one of {', '.join(ACTIONS)}"
        )
    return list(dict.fromkeys(value))


def _int_setting(field: str, value: Any) -> int:
    _, low, high = _LIMITS[field]
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not low <= value <= high
    ):
        raise _invalid(field, f"must be an integer from {low} to {high}")
    return value


def _bearer(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 2000:
        raise _invalid("bearer_token", "must be a string of at most 2000 characters")
    return value or None


def _bool(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _invalid(field, "must be a boolean")
    return value


def _object(body: Any, allowed: frozenset[str]) -> JsonDict:
    if not isinstance(body, dict):
        raise _invalid("body", "must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise _invalid(unknown[0], "not a webhook subscription field")
    return body


def _search_text(name: str, url: str) -> str:
    return f"{name} {url}".lower()


# ---------------------------------------------------------------- subscriptions


def render_subscription(doc: Document) -> JsonDict:
    """The public ``WebhookSubscription`` (never the token or the secret)."""
    b = doc.body
    return {
        "id": doc.id,
        "name": b["name"],
        "url": b["url"],
        "actions": list(b.get("actions") or []),
        "enabled": bool(b.get("enabled", True)),
        "has_bearer_token": bool(b.get("bearer_token")),
        "timeout_seconds": b["timeout_seconds"],
        "max_retries": b["max_retries"],
        "retry_backoff_seconds": b["retry_backoff_seconds"],
        "created_at": _iso(doc.created_at),
        "updated_at": _iso(doc.updated_at),
    }


def signing_secret(sub: Document) -> str:
    """The subscription's HMAC signing secret (for the dispatcher)."""
    return str(sub.body["signing_secret"])


def bearer_token(sub: Document) -> str | None:
    """The subscription's bearer token, if any (for the dispatcher)."""
    token = sub.body.get("bearer_token")
    return str(token) if token else None


async def create_subscription(store: Store, caller: Caller, body: Any) -> JsonDict:
    """Create a subscription; the response carries ``signing_secret`` this once."""
    body = _object(body, _CREATE_FIELDS)
    if "name" not in body:
        raise _invalid("name", "field required")
    if "url" not in body:
        raise _invalid("url", "field required")
    name, url = _name(body["name"]), _url(body["url"])
    record: JsonDict = {
        "name": name,
        "url": url,
        "actions": _actions(body.get("actions", [])),
        "enabled": _bool("enabled", body.get("enabled", True)),
        "bearer_token": _bearer(body.get("bearer_token")),
        "signing_secret": SECRET_PREFIX + pysecrets.token_urlsafe(32),
        "secret_scheme": "plain",
    }
    for field, (default, _, _) in _LIMITS.items():
        record[field] = _int_setting(field, body.get(field, default))
    at = now()
    doc = Document(
        id=new_object_id(),
        team_id=caller.team_id,
        body=record,
        created_at=at,
        updated_at=at,
        created_by=caller.user_id,
        updated_by=caller.user_id,
        name=name,
        status="enabled" if record["enabled"] else "disabled",
        search_text=_search_text(name, url),
    )
    async with store.begin() as tx:
        await tx.documents(SUBSCRIPTIONS).insert(doc)
    return {**render_subscription(doc), "signing_secret": record["signing_secret"]}


async def list_subscriptions(
    store: Store,
    caller: Caller,
    query: Query,
    *,
    enabled: bool | None = None,
    action: str | None = None,
) -> tuple[list[JsonDict], int]:
    """The team's subscriptions, newest first (``enabled``/``action`` filters)."""
    if action is not None and action not in ACTIONS:
        raise _invalid("action", f"unknown action {action!r}")
    equals: JsonDict = {}
    if enabled is not None:
        equals["status"] = "enabled" if enabled else "disabled"
    async with store.begin() as tx:
        if action is None:
            docs, total = await tx.documents(SUBSCRIPTIONS).find(
                caller.team_id, replace(query, equals=equals)
            )
            return [render_subscription(d) for d in docs], total
        # ``actions`` is a list in the body: filter here, then page.
        every, _ = await tx.documents(SUBSCRIPTIONS).find(
            caller.team_id, replace(query, equals=equals, page=1, size=None)
        )
    matching = [d for d in every if action in (d.body.get("actions") or [])]
    if query.size is not None:
        start = (query.page - 1) * query.size
        page = matching[start : start + query.size]
    else:
        page = matching
    return [render_subscription(d) for d in page], len(matching)


async def _get_subscription(tx: Transaction, caller: Caller, sub_id: str) -> Document:
    doc = (
        await tx.documents(SUBSCRIPTIONS).get(caller.team_id, sub_id)
        if is_object_id(sub_id)
        else None
    )
    if doc is None:
        raise NotFound(f"webhook subscription {sub_id!r} not found")
    return doc


async def update_subscription(
    store: Store, caller: Caller, sub_id: str, body: Any
) -> JsonDict:
    """Change the fields given (``clear_bearer_token`` removes the token)."""
    body = _object(body, _UPDATE_FIELDS)
    async with store.begin() as tx:
        doc = await _get_subscription(tx, caller, sub_id)
        record = dict(doc.body)
        for field, value in body.items():
            if value is None and field not in ("bearer_token",):
                continue  # an explicit null leaves the field as it is
            if field == "name":
                record["name"] = _name(value)
            elif field == "url":
                record["url"] = _url(value)
            elif field == "actions":
                record["actions"] = _actions(value)
            elif field == "enabled":
                record["enabled"] = _bool("enabled", value)
            elif field == "bearer_token":
                if value is not None:
                    record["bearer_token"] = _bearer(value)
            elif field == "clear_bearer_token":
                if _bool("clear_bearer_token", value):
                    record["bearer_token"] = None
            else:
                record[field] = _int_setting(field, value)
        doc = replace(
            doc,
            body=record,
            name=record["name"],
            status="enabled" if record["enabled"] else "disabled",
            search_text=_search_text(record["name"], record["url"]),
            updated_at=now(),
            updated_by=caller.user_id,
        )
        await tx.documents(SUBSCRIPTIONS).replace(doc)
    return render_subscription(doc)


async def delete_subscription(store: Store, caller: Caller, sub_id: str) -> None:
    """Delete a subscription (its events and attempts stay, as history)."""
    async with store.begin() as tx:
        await _get_subscription(tx, caller, sub_id)
        await tx.documents(SUBSCRIPTIONS).delete(caller.team_id, sub_id)


# ----------------------------------------------------------------------- events


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
        "created_at": _iso(doc.created_at),
        "updated_at": _iso(doc.updated_at),
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
    """The public ``WebhookDeliveryAttempt``."""
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
        "created_at": _iso(doc.created_at),
        "updated_at": _iso(doc.updated_at),
        "success": bool(b.get("success", False)),
        "response_status_code": b.get("response_status_code"),
        "response_body": b.get("response_body"),
        "error_message": b.get("error_message"),
        "latency_ms": b.get("latency_ms"),
    }


def dedupe_key(
    action: str, workflow_id: str | None, run_id: str | None = None, *, extra: str = ""
) -> str:
    """``<action>:<workflow_id>:<run_id>`` (plus ``:<extra>`` when given)."""
    key = f"{action}:{workflow_id or ''}:{run_id or ''}"
    return f"{key}:{extra}" if extra else key


async def record_event(
    tx: Transaction,
    team_id: str,
    action: str,
    *,
    workflow_id: str | None,
    workflow_name: str | None = None,
    run_id: str | None = None,
    run_status: str | None = None,
    payload: JsonDict | None = None,
    key: str | None = None,
    by: str | None = None,
    at: datetime | None = None,
) -> list[Document]:
    """Queue ``action`` for every enabled subscription of the team that wants it.

    Runs in the caller's transaction. An event is created once per subscription
    and dedupe key (``key``, default :func:`dedupe_key`); returns the new events.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown webhook action {action!r}")
    subs, _ = await tx.documents(SUBSCRIPTIONS).find(
        team_id, Query(equals={"status": "enabled"}, newest_first=False)
    )
    subs = [s for s in subs if action in (s.body.get("actions") or [])]
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
            "workflow_run_status": run_status,
            "payload": payload or {},
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
    store: Store, team_id: str, action: str, **fields: Any
) -> list[Document]:
    """:func:`record_event` in a transaction of its own; logs and never raises."""
    try:
        async with store.begin() as tx:
            return await record_event(tx, team_id, action, **fields)
    except Exception:
        log.exception("could not record webhook event %s", action)
        return []


async def on_workflow(
    tx: Transaction,
    caller: Caller,
    action: str,
    workflow_id: str,
    name: str | None = None,
) -> None:
    """Hook for workflow create/update/delete, called inside the changing transaction.

    ``name`` defaults to the stored workflow's name (call it before deleting).
    """
    if name is None:
        wf = await tx.documents("workflows").get(caller.team_id, workflow_id)
        name = wf.name if wf is not None else None
    at = now()
    # Every update is its own event; create and delete happen once per workflow.
    extra = at.isoformat() if action == WORKFLOW_UPDATED else ""
    await record_event(
        tx,
        caller.team_id,
        action,
        workflow_id=workflow_id,
        workflow_name=name,
        payload={"workflow_id": workflow_id, "workflow_name": name},
        key=dedupe_key(action, workflow_id, extra=extra),
        by=caller.user_id,
        at=at,
    )


def _run_fields(run: Document) -> JsonDict:
    record = run.body.get("workflow_run") or {}
    snapshot = record.get("workflow_config_fully_hydrated") or {}
    name = snapshot.get("name") if isinstance(snapshot, dict) else None
    return {
        "workflow_id": run.workflow_id,
        "workflow_name": name,
        "run_id": run.id,
        "run_status": run.status,
        "payload": {
            "workflow_run_id": run.id,
            "workflow_run_logical_id": run.logical_id,
            "status": run.status,
            "termination_source": record.get("termination_source"),
            "version_number": run.version_number,
            "turn_count": run.body.get("turn_count"),
        },
    }


async def on_turn(
    store: Store, caller: Caller, run: Document, *, created: bool, previous: str | None
) -> None:
    """Hook after a run's turn is saved: ``run_started`` on the first turn,
    ``run_completed`` when the run reached a terminal status. Never raises."""
    fields = _run_fields(run)
    if created:
        await emit(
            store, caller.team_id, WORKFLOW_RUN_STARTED, by=caller.user_id, **fields
        )
    if run.status in TERMINAL and previous not in TERMINAL:
        await emit(
            store, caller.team_id, WORKFLOW_RUN_COMPLETED, by=caller.user_id, **fields
        )


async def on_run_completed(store: Store, run: Document) -> None:
    """Hook for runs finished outside a turn (reaper, safety net). Never raises."""
    await emit(store, run.team_id, WORKFLOW_RUN_COMPLETED, **_run_fields(run))


# ------------------------------------------------------------- events over API


def _hex_filter(field: str, value: str | None) -> str | None:
    if value is not None and not is_object_id(value):
        raise _invalid(field, "must be a 24-hex id")
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
            raise _invalid("action", f"unknown action {action!r}")
        equals["type"] = action
    if status is not None:
        if status not in EVENT_STATUSES:
            raise _invalid("status", f"must be one of {', '.join(EVENT_STATUSES)}")
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
