"""The hooks that record webhook events when a workflow changes or a run moves.

:func:`on_workflow` runs inside the transaction that changes the workflow, so an
event exists exactly when the change committed; :func:`on_turn` runs after a
run's turn is saved and :func:`on_run_completed` after a run ends outside a turn
(the reaper, the safety net); those two never raise.
"""

from typing import Any

from threadline.service.caller import Caller
from threadline.service.commands import TERMINAL
from threadline.service.webhooks.events import (
    EventSubject,
    dedupe_key,
    emit,
    record_event,
)
from threadline.service.webhooks.subscriptions import (
    WORKFLOW_RUN_COMPLETED,
    WORKFLOW_RUN_STARTED,
    WORKFLOW_UPDATED,
    now,
)
from threadline.store import Document, Store, Transaction

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
