"""The hooks that record webhook events when a workflow changes or a run moves.

:func:`on_workflow` runs inside the transaction that changes the workflow, so an
event exists exactly when the change committed; :func:`in_turn` runs inside the
transaction that saves a run's turn, and :func:`on_run_completed` after a run
ends outside a turn (the reaper, the safety net), never raising.
"""

import logging
from typing import Any

from threadline.service.caller import Caller
from threadline.service.commands import TERMINAL
from threadline.service.webhooks.events import (
    EventSubject,
    dedupe_key,
    emit,
    enabled_subscriptions,
    record_event,
)
from threadline.service.webhooks.subscriptions import (
    WORKFLOW_RUN_COMPLETED,
    WORKFLOW_RUN_STARTED,
    WORKFLOW_UPDATED,
    now,
)
from threadline.store import Document, Store, Transaction
from threadline.store.definition_stamps import StampedCache

JsonDict = dict[str, Any]
log = logging.getLogger("threadline.webhooks")


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


def turn_actions(run: Document, *, created: bool, previous: str | None) -> list[str]:
    """The run events a saved turn raises: ``run_started`` on the first turn,
    ``run_completed`` when the run reached a terminal status."""
    actions = [WORKFLOW_RUN_STARTED] if created else []
    if run.status in TERMINAL and previous not in TERMINAL:
        actions.append(WORKFLOW_RUN_COMPLETED)
    return actions


Subscriptions = StampedCache[list[Document]]
"""Teams' enabled subscriptions, kept under the team's definition stamp (which
every committed subscription write raises, from any process)."""


async def in_turn(
    tx: Transaction,
    caller: Caller,
    run: Document,
    *,
    created: bool,
    previous: str | None,
    kept: Subscriptions | None = None,
) -> tuple[int, list[Document]] | None:
    """Record a turn's run events inside the transaction that saves the turn, so
    an event exists exactly when the turn committed (one read of the team's
    subscriptions, none for a turn that raises no event, nor when ``kept`` has
    them under the team's current stamp). Returns the subscriptions it read
    with their stamp, for the caller to keep once the transaction committed."""
    actions = turn_actions(run, created=created, previous=previous)
    if not actions:
        return None
    fields = _run_fields(run)
    fresh = None
    if kept is None:
        enabled = await enabled_subscriptions(tx, caller.team_id)
    else:
        stamp = await tx.definition_stamp(caller.team_id)  # before the rows
        found = kept.get(caller.team_id, stamp)
        if found is None:
            found = await enabled_subscriptions(tx, caller.team_id)
            fresh = (stamp, found)
        enabled = found
    for action in actions:
        await record_event(
            tx,
            caller.team_id,
            action,
            EventSubject(**fields),
            by=caller.user_id,
            enabled=enabled,
        )
    return fresh


async def on_turn(
    store: Store, caller: Caller, run: Document, *, created: bool, previous: str | None
) -> None:
    """:func:`in_turn` in a transaction of its own, for a turn saved elsewhere.
    Never raises."""
    try:
        async with store.begin() as tx:
            await in_turn(tx, caller, run, created=created, previous=previous)
    except Exception:
        log.exception("could not record the webhook events of run %s", run.id)


async def on_run_completed(store: Store, run: Document) -> None:
    """Hook for runs finished outside a turn (reaper, safety net). Never raises."""
    await emit(store, run.team_id, WORKFLOW_RUN_COMPLETED, **_run_fields(run))
