"""Outbound workflow webhooks: the lowest room of the service, below everything
that records events.

Three document kinds, every one scoped to a team: ``webhook_subscriptions``
(``subscriptions``), ``webhook_events`` and ``webhook_attempts`` (``events``).
Events are recorded by the ``hooks`` (:func:`on_workflow` inside the
transaction that changes the workflow, :func:`in_turn` inside the transaction
that saves a run's turn); sending them (signing, retries, the delivery loop)
is background work that opens sealed secrets, in
``service.automation.webhook_delivery``.

This package re-exports the public names of ``subscriptions``, ``events`` and
``hooks`` (the ``__all__`` below), so callers import everything from here;
its modules import each other, never this package. May import: ``caller``,
``commands``.
"""

from threadline.service.webhooks.events import (
    ATTEMPTS,
    DELIVERING,
    EVENT_ID_PREFIX,
    EVENT_STATUSES,
    EVENTS,
    EventSubject,
    dedupe_key,
    emit,
    enabled_subscriptions,
    event_id_of,
    list_attempts,
    list_events,
    record_event,
    render_attempt,
    render_event,
    retry_event,
)
from threadline.service.webhooks.hooks import (
    in_turn,
    on_run_completed,
    on_turn,
    on_workflow,
    turn_actions,
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
    "enabled_subscriptions",
    "event_id_of",
    "in_turn",
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
    "turn_actions",
    "update_subscription",
]
