"""Outbound workflow webhooks: subscriptions, delivery events and attempts.

Paths and shapes follow the Interactly SDK's ``WorkflowWebhooksResource``:
subscriptions are bare ``WebhookSubscription`` objects (create adds
``signing_secret``, once), lists ``{"webhooks": [...], "total", "page", "size"}``,
events ``{"events": [...], "total"}``, attempts ``{"attempts": [...], "total"}``.
There is no GET of one subscription (the SDK lists). Fixed paths (``events``) come
before ``/{webhook_id}``.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response

from threadline.api.deps import CallerDep, StoreDep
from threadline.api.params import Page
from threadline.api.routes.common import JsonBody, ObjectIdPath
from threadline.ids import OBJECT_ID_PATTERN
from threadline.service import webhooks
from threadline.service.definitions.envelopes import page as envelope
from threadline.store import Query as StoreQuery

router = APIRouter(tags=["workflow_webhooks"])
BASE = "/workflow-webhooks"
AnyBody = Annotated[Any, Body()]
HexId = Annotated[str | None, Query(pattern=OBJECT_ID_PATTERN)]
Size = Annotated[int, Query(ge=1, le=1000)]


def _query(
    page: int,
    size: int,
    search: str | None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> StoreQuery:
    return StoreQuery(page=page, size=size, search=search or None, start=start, end=end)


@router.post(BASE, name="create_workflow_webhook")
async def create(store: StoreDep, caller: CallerDep, body: AnyBody) -> JsonBody:
    """Create a subscription; ``signing_secret`` is in this response only."""
    return await webhooks.create_subscription(store, caller, body)


@router.get(BASE, name="list_workflow_webhooks")
async def list_(
    store: StoreDep,
    caller: CallerDep,
    page: Page = 1,
    size: Size = 100,
    search: str | None = None,
    enabled: bool | None = None,
    action: str | None = None,
) -> JsonBody:
    """The team's subscriptions (``enabled``, ``action``, ``search``, paging)."""
    items, total = await webhooks.list_subscriptions(
        store, caller, _query(page, size, search), enabled=enabled, action=action
    )
    return envelope("webhooks", items, total, page=page, size=size)


@dataclass
class EventFilters:
    """The query parameters of the events list."""

    subscription_id: HexId = None
    workflow_id: HexId = None
    action: str | None = None
    status: str | None = None
    page: Page = 1
    size: Size = 300
    search: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@router.get(f"{BASE}/events", name="list_workflow_webhook_events")
async def list_events(
    store: StoreDep, caller: CallerDep, filters: Annotated[EventFilters, Depends()]
) -> JsonBody:
    """Delivery events, newest first."""
    f = filters
    items, total = await webhooks.list_events(
        store,
        caller,
        _query(f.page, f.size, f.search, f.start, f.end),
        subscription_id=f.subscription_id,
        workflow_id=f.workflow_id,
        action=f.action,
        status=f.status,
    )
    return envelope("events", items, total, page=f.page, size=f.size)


@router.get(
    f"{BASE}/events/{{event_id}}/attempts", name="list_workflow_webhook_attempts"
)
async def list_attempts(
    store: StoreDep,
    caller: CallerDep,
    event_id: str,
    page: Page = 1,
    size: Size = 300,
) -> JsonBody:
    """Delivery attempts of one event (its ``_id`` or its ``event_id``)."""
    items, total = await webhooks.list_attempts(
        store, caller, event_id, _query(page, size, None)
    )
    return envelope("attempts", items, total, page=page, size=size)


@router.post(f"{BASE}/events/{{event_id}}/retry", name="retry_workflow_webhook_event")
async def retry(store: StoreDep, caller: CallerDep, event_id: str) -> JsonBody:
    """Re-queue an event for delivery now (``{message, event_id}``)."""
    return await webhooks.retry_event(store, caller, event_id)


@router.patch(f"{BASE}/{{webhook_id}}", name="update_workflow_webhook")
async def update(
    store: StoreDep, caller: CallerDep, webhook_id: ObjectIdPath, body: AnyBody
) -> JsonBody:
    """Change the fields given (``clear_bearer_token`` removes the token)."""
    return await webhooks.update_subscription(store, caller, webhook_id, body)


@router.delete(
    f"{BASE}/{{webhook_id}}", status_code=204, name="delete_workflow_webhook"
)
async def delete(
    store: StoreDep, caller: CallerDep, webhook_id: ObjectIdPath
) -> Response:
    """Delete a subscription."""
    await webhooks.delete_subscription(store, caller, webhook_id)
    return Response(status_code=204)
