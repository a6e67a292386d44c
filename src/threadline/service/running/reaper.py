"""The stale-run reaper: no run stays "running" (or idle) forever.

A run whose turn has been ``running`` longer than the maximum turn duration (its
process died, or it hangs) and, when an idle TTL is configured, a run that has been
waiting for input longer than that, is marked ``failed`` with
``termination_source = "stale_run_reaper"``. Paused runs are left alone. One pass is
``reap(store, ...)``; ``serve`` runs it periodically. The pass is idempotent and safe
to run from several processes at once: each update is conditional on the run still
being in the status it was found in.
"""

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from threadline.store import Document, Store, Transaction
from threadline.telemetry import metrics

JsonDict = dict[str, Any]
REAPER = "stale_run_reaper"


def _failed(doc: Document, reason: str, at: datetime) -> Document:
    run = {
        **(doc.body.get("workflow_run") or {}),
        "status": "failed",
        "termination_source": REAPER,
        "error": reason,
    }
    state = doc.body.get("state")
    if isinstance(state, dict):
        state = {
            **state,
            "status": "failed",
            "termination_source": REAPER,
            "error": reason,
        }
    return replace(
        doc,
        body={**doc.body, "workflow_run": run, "state": state},
        status="failed",
        updated_at=at,
        updated_by=REAPER,
    )


async def _refuse_queued(tx: Transaction, run_id: str, now: datetime) -> None:
    """Commands queued behind the reaped turn get their answer: the run failed."""
    answer = {
        "error": {
            "status": 409,
            "code": "conflict",
            "message": "the run failed (stale_run_reaper); it accepts no more commands",
        }
    }
    for queued in await tx.commands().of_run(run_id, ["pending"]):
        await tx.commands().update(queued.id, at=now, status="failed", response=answer)


async def _candidates(store: Store, status: str, before: datetime) -> list[Document]:
    async with store.begin() as tx:
        return await tx.documents("workflow_runs").find_stale(status, before, 500)


_ACTIONS = {
    "running": "stale_turn",
    "started": "stale_start",
    "waiting_for_user_input": "idle",
}
"""The ``action`` label of ``threadline_reaper_actions_total`` per status."""


async def reap(
    store: Store,
    *,
    now: datetime,
    max_turn: timedelta,
    idle_ttl: timedelta | None = None,
) -> list[str]:
    """One pass; returns the ids of the runs it failed."""
    plan: list[tuple[str, datetime, str]] = [
        ("running", now - max_turn, f"turn running longer than {max_turn}"),
        ("started", now - max_turn, f"run start older than {max_turn}"),
    ]
    if idle_ttl is not None:
        plan.append(
            (
                "waiting_for_user_input",
                now - idle_ttl,
                f"no input for longer than {idle_ttl}",
            )
        )
    reaped: list[str] = []
    for status, before, reason in plan:
        for doc in await _candidates(store, status, before):
            async with store.begin() as tx:
                done = await tx.documents("workflow_runs").replace(
                    _failed(doc, reason, now), expected_status=status
                )
                if done:
                    await _refuse_queued(tx, doc.id, now)
            if done:
                reaped.append(doc.id)
                metrics.reaper_actions.labels(_ACTIONS[status]).inc()
    return reaped
