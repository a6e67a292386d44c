"""Why a schedule (a scheduled or background start) has not started its run.

The answer is one of ``scheduled`` (not due yet), ``waiting_for_slot`` (a
concurrency limit: ``level``, ``limit``, ``position``), ``due`` (starts on the
next scheduler pass), ``starting``, or ``ended`` (and the run it started).
"""

from datetime import UTC, datetime
from typing import Any

from threadline.service.automation import schedules
from threadline.service.automation.schedule_queue import due_time
from threadline.service.caller import Caller
from threadline.service.running.diagnosis_cases import iso
from threadline.store import Store

JsonDict = dict[str, Any]


async def diagnose_start(
    store: Store, caller: Caller, schedule_id: str, *, now: datetime | None = None
) -> JsonDict:
    """Why a schedule (a scheduled or background start) has not started its run."""
    at = now or datetime.now(UTC)
    doc = await schedules.get_doc(store, caller, schedule_id)
    body = doc.body
    status = str(doc.status)
    due = due_time(doc) if body.get("scheduled_time") else None
    run_id = body.get("actual_run_id")
    base: JsonDict = {
        "schedule_id": doc.id,
        "status": status,
        "checked_at": iso(at),
        "due_at": iso(due),
        "run_id": run_id,
    }
    waiting = body.get("waiting")
    if status == "pending" and due is not None and due > at:
        return {
            **base,
            "state": "scheduled",
            "sentence": f"The start is scheduled for {iso(due)}.",
        }
    if status == "pending" and isinstance(waiting, dict):
        level, limit = waiting.get("level"), waiting.get("limit")
        return {
            **base,
            "state": "waiting_for_slot",
            "sentence": (
                f"The start waits for a concurrency slot: the {level}'s limit of "
                f"{limit} active runs is reached, and it is number "
                f"{waiting.get('position')} in the queue."
            ),
            "level": level,
            "limit": limit,
            "position": waiting.get("position"),
        }
    if status == "pending":
        return {
            **base,
            "state": "due",
            "sentence": "The start is due; the scheduler starts it on its next pass.",
        }
    if status == "in_progress":
        return {
            **base,
            "state": "starting",
            "sentence": "The scheduler is starting the run now.",
        }
    sentence = f"The schedule has ended: it is {status}"
    if body.get("error_message"):
        sentence += f": {body['error_message']}"
    elif run_id:
        sentence += f"; its run {run_id} has its own diagnosis"
    return {
        **base,
        "state": "ended",
        "sentence": sentence + ".",
        "error_message": body.get("error_message"),
    }
