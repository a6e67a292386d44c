"""Firing due schedules (one pass is ``service.processes.fire_due``).

Exactly once, across processes and restarts:

- **Claim.** A due schedule is claimed with ``set_status(pending -> in_progress)``;
  only one process wins. The schedule is re-read in the claiming transaction, so a
  ``PATCH`` that moved it into the future just before the claim is honoured (the
  claim is then given back).
- **Tagging.** The run is started with ``miscellaneous.threadline_schedule =
  {schedule_id, scheduled_time}`` in its run input. The run id is only known when
  the first turn returns, so the tag is what lets a later pass find a run that was
  created by a process that died (or hung) before recording it.
- **Record.** Right after the start the run id is written (``actual_run_id``) with a
  conditional replace from ``in_progress``: one-off schedules become ``completed``
  (the run has started, whatever its outcome), recurring ones go back to ``pending``
  with their next occurrence.
- **Recovery.** A schedule ``in_progress`` for longer than ``stuck_after`` (default:
  the maximum turn duration, so a live first turn is never second-guessed) is
  recovered: if a run tagged with this firing exists it is recorded as above, else
  the schedule goes back to ``pending`` and fires again. A run is therefore never
  started twice for one firing.

Waiting in the queue: a start refused by a concurrency limit (``TooManyRequests``
with code ``concurrency_limit``) goes back to ``pending`` with ``waiting`` (level,
limit) in its body; its place in the queue is kept (``scheduled_time``). Which
waiting start is tried when, fairly across teams, is
``service.automation.start_queue``'s job: ``fire_due`` is its pass. A schedule
starts its run with the ``StartRun`` it is given (``fire``).

Misfires: a schedule due while the service was down fires once on the first pass
after restart (``schedule_forever`` runs a pass at start). A recurring schedule that
missed several occurrences fires once; its next time is the first occurrence after
the firing, not the missed ones.

Failures: a start that fails before a run exists (workflow or version deleted, no
start node, invalid run input) makes a one-off schedule ``failed`` with
``error_message``. A recurring one keeps its ``pending`` status for the next
occurrence with ``error_message`` set, except when its workflow is gone (``failed``).

Starts run one after the other within a pass (each runs its first turn inline); a
slow first turn delays the rest of the pass.
"""

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from threadline.errors import NotFound, ThreadlineError, TooManyRequests
from threadline.service.automation import schedule_queue as sch
from threadline.service.automation.schedule_times import next_occurrence
from threadline.service.caller import Caller
from threadline.service.runtime import Runtime
from threadline.service.team import admission
from threadline.service.turns import StartRun, TurnRequest
from threadline.store import Document, Query, Store
from threadline.telemetry import metrics

JsonDict = dict[str, Any]
log = logging.getLogger("threadline.scheduler")

SCHEDULER = "scheduler"
"""``updated_by`` of the scheduler's own writes."""
TAG = sch.TAG
"""The ``miscellaneous`` key tying a run to the schedule firing that started it."""
BATCH = 200
"""Due schedules taken per pass; the rest are taken on the next pass."""
PASS_INTERVAL_S = 5.0
"""Seconds between passes of ``schedule_forever``."""
DEFAULT_STUCK_AFTER = timedelta(minutes=15)


@dataclass
class PassReport:
    """What one pass did, by schedule id."""

    fired: dict[str, str] = field(default_factory=dict)
    """schedule id -> the run it started."""
    failed: dict[str, str] = field(default_factory=dict)
    """schedule id -> error message."""
    waiting: dict[str, str] = field(default_factory=dict)
    """schedule id -> the concurrency level that refused it (tried this pass)."""
    skipped: dict[str, str] = field(default_factory=dict)
    """schedule id -> the level that kept it waiting untried (a start before it in
    the same scope was refused in this pass)."""
    recovered: list[str] = field(default_factory=list)


def _tag(doc: Document) -> JsonDict:
    return {"schedule_id": doc.id, "scheduled_time": doc.body["scheduled_time"]}


def _raw_input(doc: Document) -> JsonDict:
    given = doc.body.get("run_input") or {}
    misc = given.get("miscellaneous")
    misc = dict(misc) if isinstance(misc, dict) else {}
    misc[TAG] = _tag(doc)
    return {**given, "command": "start", "miscellaneous": misc}


async def tagged_run(store: Store, doc: Document, since: datetime | None) -> str | None:
    """The run this firing of ``doc`` started, if one exists.

    With ``since`` (the claim time): runs of the workflow created from a minute
    before it on. Without: the workflow's newest ``BATCH`` runs (right after a failed
    start, when the run, if any, is among the newest).
    """
    if since is not None:
        query = Query(
            equals={"workflow_id": doc.workflow_id},
            start=since - timedelta(minutes=1),
            newest_first=False,
        )
    else:
        query = Query(equals={"workflow_id": doc.workflow_id}, size=BATCH)
    async with store.begin() as tx:
        found, _ = await tx.documents("workflow_runs").find(doc.team_id, query)
    want = _tag(doc)
    for run in found:
        misc = (run.body.get("workflow_run") or {}).get("miscellaneous") or {}
        if misc.get(TAG) == want:
            return run.id
    return None


async def _write(doc: Document, store: Store, expected: str) -> bool:
    async with store.begin() as tx:
        return await tx.documents(sch.COLLECTION).replace(doc, expected_status=expected)


def _after_firing(
    doc: Document, now: datetime, *, run_id: str | None, error: str | None
) -> Document:
    """The schedule once this firing is over (started ``run_id`` or failed)."""
    body = dict(doc.body)
    body["modified_at"] = now.isoformat()
    body["error_message"] = error
    body.pop("waiting", None)
    if run_id is not None:
        body["actual_run_id"] = run_id
        body["run_ids"] = [*(body.get("run_ids") or []), run_id]
    cron = body.get("cron")
    if cron is None:
        status = "completed" if run_id is not None else "failed"
        return replace(
            doc, body=body, status=status, updated_at=now, updated_by=SCHEDULER
        )
    due = sch.due_time(doc)
    nxt = next_occurrence(str(cron), body.get("timezone"), max(now, due))
    body["scheduled_time"] = nxt.isoformat()
    return replace(
        doc, body=body, status="pending", updated_at=nxt, updated_by=SCHEDULER
    )


def _failed_for_good(doc: Document, now: datetime, error: str) -> Document:
    body = {**doc.body, "modified_at": now.isoformat(), "error_message": error}
    return replace(
        doc, body=body, status="failed", updated_at=now, updated_by=SCHEDULER
    )


async def claim(store: Store, doc: Document, now: datetime) -> Document | None:
    """Take a due schedule (None: another process has it, or it is no longer due)."""
    async with store.begin() as tx:
        docs = tx.documents(sch.COLLECTION)
        if not await docs.set_status(
            doc.team_id,
            doc.id,
            "in_progress",
            expected_status="pending",
            at=now,
            by=SCHEDULER,
        ):
            return None
        fresh = await docs.get(doc.team_id, doc.id)
    if fresh is None:
        return None
    if sch.due_time(fresh) > now:  # moved into the future meanwhile: give it back
        await give_back(store, fresh)
        return None
    return fresh


Refusal = tuple[str, int | None]
"""The level (``workflow`` or ``team``) and limit of a refused start."""


def refusal(exc: TooManyRequests) -> Refusal | None:
    """The level and limit of a concurrency refusal (None: another 429)."""
    if exc.code != admission.CODE:
        return None
    details = exc.details if isinstance(exc.details, dict) else {}
    limit = details.get("limit")
    return (
        str(details.get("level") or "team"),
        limit if isinstance(limit, int) else None,
    )


async def give_back(
    store: Store,
    doc: Document,
    refused: Refusal | None = None,
    *,
    now: datetime | None = None,
) -> None:
    """Back to ``pending``; its place in the queue (``scheduled_time``) is kept.

    Refused by a limit (``refused`` with ``now``): it records ``waiting`` and its
    ``updated_at`` becomes ``now`` (still due; the cross-team scan then meets the
    other teams' starts first). Else ``updated_at`` is its due time again.
    """
    body = dict(doc.body)
    at = sch.due_time(doc)
    if refused is not None and now is not None:
        level, limit = refused
        old = body.get("waiting") or {}
        body["waiting"] = {
            "level": level,
            "limit": limit,
            "position": old.get("position") if old.get("level") == level else 1,
        }
        at = max(at, now)
    back = replace(
        doc, body=body, status="pending", updated_at=at, updated_by=SCHEDULER
    )
    async with store.begin() as tx:
        await tx.documents(sch.COLLECTION).replace(back, expected_status="in_progress")


async def fire(
    store: Store,
    runtime: Runtime,
    start_run: StartRun,
    doc: Document,
    now: datetime,
    report: PassReport,
) -> Refusal | None:
    """Start the run of a claimed schedule (with ``start_run``); return the
    refusal, if any."""
    caller = Caller(team_id=doc.team_id, user_id=doc.created_by or SCHEDULER)
    request = TurnRequest(
        workflow_id=doc.workflow_id or "",
        raw_input=_raw_input(doc),
        query_version=doc.body.get("version"),
        field="run_input",
    )
    try:
        run, _ = await start_run(store, caller, runtime, request)
    except TooManyRequests as exc:
        refused = refusal(exc)
        if refused is None:
            await _after_error(store, doc, now, exc, report)
            return None
        await give_back(store, doc, refused, now=now)
        report.waiting[doc.id] = refused[0]
        return refused
    except Exception as exc:  # every failure is recorded on the schedule
        await _after_error(store, doc, now, exc, report)
        return None
    await _write(
        _after_firing(doc, now, run_id=run.id, error=None), store, "in_progress"
    )
    report.fired[doc.id] = run.id
    metrics.schedules_fired.inc()
    return None


async def _after_error(
    store: Store, doc: Document, now: datetime, exc: Exception, report: PassReport
) -> None:
    # A run may exist all the same (a turn that crashed after the run was created):
    # then the run has started and the firing counts as done.
    run_id = await tagged_run(store, doc, None)
    if run_id is not None:
        after = _after_firing(doc, now, run_id=run_id, error=None)
        await _write(after, store, "in_progress")
        report.fired[doc.id] = run_id
        metrics.schedules_fired.inc()
        return
    message = exc.message if isinstance(exc, ThreadlineError) else repr(exc)
    if not isinstance(exc, ThreadlineError):
        log.exception("scheduled start of %s failed", doc.id)
    gone = (
        isinstance(exc, NotFound)
        and message.startswith("workflow ")
        and ("not found" in message)
    )
    after = (
        _failed_for_good(doc, now, message)
        if gone
        else _after_firing(doc, now, run_id=None, error=message)
    )
    await _write(after, store, "in_progress")
    report.failed[doc.id] = message


async def recover(
    store: Store, doc: Document, now: datetime, report: PassReport
) -> None:
    """Settle a schedule stuck ``in_progress``: record its run, or queue it again."""
    run_id = await tagged_run(store, doc, doc.updated_at)
    if run_id is not None:
        after = _after_firing(doc, now, run_id=run_id, error=None)
        if await _write(after, store, "in_progress"):
            report.fired[doc.id] = run_id
            report.recovered.append(doc.id)
        return
    await give_back(store, doc)
    report.recovered.append(doc.id)
