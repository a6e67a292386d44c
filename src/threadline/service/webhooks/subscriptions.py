"""Webhook subscriptions: validation, rendering and CRUD.

``webhook_subscriptions`` documents, scoped to a team: body ``{name, url,
actions, enabled, bearer_token, signing_secret, timeout_seconds, max_retries,
retry_backoff_seconds}``; indexed ``name`` and ``status`` (``enabled``/
``disabled``); search text = name + url. The bearer token is never returned
(``has_bearer_token``); the signing secret is returned once, as
``signing_secret``, by create.

Also home to what the webhook modules share: the action names, the service
clock and the field-error helper. The public API is ``service.webhooks``.

Secrets: ``service.team.secrets`` (encryption at rest with ``THREADLINE_SECRET_KEY``)
does not exist yet, so the signing secret and bearer token are stored as sent,
marked ``secret_scheme: "plain"`` so that a later migration can find them.
"""

import secrets as pysecrets
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from threadline.errors import InvalidField, NotFound
from threadline.ids import is_object_id, new_object_id
from threadline.service.caller import Caller
from threadline.store import Document, Query, Store, Transaction

JsonDict = dict[str, Any]

SUBSCRIPTIONS = "webhook_subscriptions"

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


def iso(value: datetime | None) -> str | None:
    """``value`` as ISO 8601 text (None stays None)."""
    return value.isoformat() if value is not None else None


# ------------------------------------------------------------------ validation


def invalid(field: str, message: str) -> InvalidField:
    """The 422 error for ``field``."""
    return InvalidField(
        f"{field}: {message}",
        details=[{"field": field, "message": message, "type": "value_error"}],
    )


def _name(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= 150:
        raise invalid("name", "must be a string of 1 to 150 characters")
    return value.strip()


def _url(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 2048:
        raise invalid("url", "must be a string of 1 to 2048 characters")
    text = value.strip()
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest.strip("/"):
        raise invalid("url", "must be an absolute http(s) URL")
    return text


def _actions(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise invalid("actions", "must be a list of action names")
    unknown = [a for a in value if a not in ACTIONS]
    if unknown:
        raise invalid(
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
        raise invalid(field, f"must be an integer from {low} to {high}")
    return value


def _bearer(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 2000:
        raise invalid("bearer_token", "must be a string of at most 2000 characters")
    return value or None


def _bool(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise invalid(field, "must be a boolean")
    return value


def _object(body: Any, allowed: frozenset[str]) -> JsonDict:
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise invalid(unknown[0], "not a webhook subscription field")
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
        "created_at": iso(doc.created_at),
        "updated_at": iso(doc.updated_at),
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
        raise invalid("name", "field required")
    if "url" not in body:
        raise invalid("url", "field required")
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
        raise invalid("action", f"unknown action {action!r}")
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
