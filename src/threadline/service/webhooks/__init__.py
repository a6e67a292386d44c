"""Outbound workflow webhooks: the public API and the hooks that record events.

Three document kinds, every one scoped to a team: ``webhook_subscriptions``
(see ``service.webhooks.subscriptions``), ``webhook_events`` and
``webhook_attempts`` (see ``service.webhooks.events``). This module re-exports
their public names, so callers import everything from here.

Events are recorded by the hooks :func:`on_workflow` (inside the transaction that
changes the workflow, so an event exists exactly when the change committed) and
:func:`on_turn` (after a run's turn is saved; never raises). Delivery is
``service.automation.webhook_delivery``.
"""

from typing import Any

from threadline.service.caller import Caller
from threadline.service.commands import TERMINAL
from threadline.service.webhooks.events import (
    ATTEMPTS,
    DELIVERING,
    EVENT_ID_PREFIX,
    EVENT_STATUSES,
    EVENTS,
    EventSubject,
    dedupe_key,
    emit,
    event_id_of,
    list_attempts,
    list_events,
    record_event,
    render_attempt,
    render_event,
    retry_event,
)
from threadline.service.webhooks.subscriptions import (
    ACTIONS,
    SECRET_PREFIX,
    SUBSCRIPTIONS,
    WORKFLOW_CREATED,
    WORKFLOW_DELETED,
    WORKFLOW_RUN_COMPLETED,
    WORKFLOW_RUN_STARTED,
    WORKFLOW_UPDATED,
    bearer_token,
    create_subscription,
    delete_subscription,
    list_subscriptions,
    now,
    render_subscription,
    signing_secret,
    update_subscription,
)
from threadline.store import Document, Store, Transaction

__all__ = [
    "ACTIONS",
    "ATTEMPTS",
    "DELIVERING",
    "EVENTS",
    "EVENT_ID_PREFIX",
    "EVENT_STATUSES",
    "SECRET_PREFIX",
    "SUBSCRIPTIONS",
    "WORKFLOW_CREATED",
    "WORKFLOW_DELETED",
    "WORKFLOW_RUN_COMPLETED",
    "WORKFLOW_RUN_STARTED",
    "WORKFLOW_UPDATED",
    "EventSubject",
    "bearer_token",
    "create_subscription",
    "dedupe_key",
    "delete_subscription",
    "emit",
    "event_id_of",
    "list_attempts",
    "list_events",
    "list_subscriptions",
    "now",
    "on_run_completed",
    "on_turn",
    "on_workflow",
    "record_event",
    "render_attempt",
    "render_event",
    "render_subscription",
    "retry_event",
    "signing_secret",
    "update_subscription",
]

JsonDict = dict[str, Any]


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
        EventSubject(
            workflow_id,
            name,
            payload={"workflow_id": workflow_id, "workflow_name": name},
        ),
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
