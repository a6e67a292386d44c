"""The start queue: scheduled and background starts that wait for a concurrency slot.

An interactive start over a limit is refused with 429 (``service.team.admission``). A
start nobody waits for at the other end of a connection (a due schedule, an
evaluation run started after its source run completed) waits here instead and is
started when a slot frees.

**What waits, where.** Both kinds are documents of the ``schedules`` collection in
status ``pending``: schedules themselves (``one_off`` / ``cron``) and, for a refused
evaluation start, one small ``evaluation_start`` document (see
``service.automation.evaluations``; internal, never shown by the schedules API). A
start's place in its team's queue is its ``scheduled_time``: the due time of a schedule,
the arrival time of an evaluation start; ties by id. Nothing is held in memory: a
restart loses no waiting start.

**One pass** (``dispatch``; the scheduler loop runs one every few seconds, at
process start too):

1. *Recovery.* A start ``in_progress`` for longer than ``stuck_after`` (its process
   died mid-start) is settled: the run it created, found by the ``threadline_schedule``
   tag in the run input, is recorded, or it goes back to the queue.
2. *Partition.* The due starts are grouped by team; each team's queue is in order.
3. *Fair dispatch.* Teams take turns: the first start of every team, then the second
   of every team, and so on (round-robin over teams, FIFO within a team). Each start
   is *claimed* with a conditional status change ``pending -> in_progress``; only one
   process wins, so a start runs exactly once across processes, and a cancelled
   schedule (status ``cancelled``) is never claimed.
4. *Refusal.* A start refused by a limit goes back to ``pending`` at its place,
   recording ``waiting`` (level and limit). Later starts in the same scope are then
   not tried in this pass: after a ``team`` refusal none of the team's, after a
   ``workflow`` refusal none of that workflow's (other workflows of the team still
   go). So within a limit's scope starts begin strictly in queue order.
5. *Reasons.* Every start still waiting gets ``waiting: {"level", "limit",
   "position"}`` with its 1-based position among the team's waiting starts of that
   scope (the whole team for ``team``, its workflow for ``workflow``); it is
   rewritten only when it changes. ``GET`` of a schedule shows it; a waiting
   evaluation shows it in the source run's ``evaluation_run_info`` (or the turn's
   ``evaluation``).

A slot freed by a run that stops or ends is taken on the next pass. Each start runs
its first turn inline, so a slow first turn delays the rest of the pass.

Limits: the cross-team scan reads the ``SCAN`` oldest due rows to find the teams
with waiting starts. A refused start moves to the back of that scan (its
``updated_at`` becomes the refusal time), but untried starts of a blocked team do
not; a team with more than ``SCAN`` due starts waiting could hide other teams' starts
from the scan. A store primitive listing teams with due rows would remove this.
"""

from collections.abc import Collection, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import zip_longest
from typing import Any

from threadline.service.automation import evaluations, scheduler
from threadline.service.automation import schedule_queue as sch
from threadline.service.automation.schedule_times import utc
from threadline.service.automation.scheduler import (
    DEFAULT_STUCK_AFTER,
    PassReport,
    Refusal,
)
from threadline.service.runtime import Runtime
from threadline.service.turns import StartRun
from threadline.store import Document, Store

JsonDict = dict[str, Any]
SCAN = 1000
"""Due rows read by the cross-team scan to find the teams with waiting starts."""
_TICK = timedelta(microseconds=1)


async def dispatch(
    store: Store,
    runtime: Runtime,
    start_run: StartRun,
    *,
    now: datetime,
    teams: Collection[str] | None = None,
    stuck_after: timedelta = DEFAULT_STUCK_AFTER,
) -> PassReport:
    """One pass over the queue, starting runs with ``start_run`` (``teams``: only
    these teams' starts)."""
    now = utc(now)
    report = PassReport()
    await _recover(store, now, stuck_after, teams, report)
    queues = await _queues(store, now, teams)
    team_blocks: dict[str, Refusal] = {}
    workflow_blocks: dict[tuple[str, str | None], Refusal] = {}
    reasons: dict[str, Refusal] = {}
    for doc in _round_robin(queues):
        scope = (doc.team_id, doc.workflow_id)
        if scope in workflow_blocks:
            reasons[doc.id] = workflow_blocks[scope]
            report.skipped[doc.id] = "workflow"
            continue
        if doc.team_id in team_blocks:
            reasons[doc.id] = team_blocks[doc.team_id]
            report.skipped[doc.id] = "team"
            continue
        claimed = await scheduler.claim(store, doc, now)
        if claimed is None:  # another process has it, or it was changed
            continue
        refused = await _start(store, runtime, start_run, claimed, now, report)
        if refused is None:
            continue
        reasons[doc.id] = refused
        if refused[0] == "workflow":
            workflow_blocks[scope] = refused
        else:
            team_blocks[doc.team_id] = refused
    for team_id in queues:
        await _publish(store, team_id, now, reasons)
    return report


async def _start(
    store: Store,
    runtime: Runtime,
    start_run: StartRun,
    doc: Document,
    now: datetime,
    report: PassReport,
) -> Refusal | None:
    """Start one claimed start; its refusal, if a limit refused it."""
    if doc.type != sch.EVALUATION_START:
        return await scheduler.fire(store, runtime, start_run, doc, now, report)
    run_id, error, refused = await evaluations.start_queued(
        store, runtime, start_run, doc
    )
    if refused is not None:
        level, limit = refused
        await scheduler.give_back(store, doc, (level, limit), now=now)
        report.waiting[doc.id] = level
        return level, limit
    if run_id is not None:
        report.fired[doc.id] = run_id
    else:
        report.failed[doc.id] = error or "the evaluation could not start"
    return None


async def _recover(
    store: Store,
    now: datetime,
    stuck_after: timedelta,
    teams: Collection[str] | None,
    report: PassReport,
) -> None:
    async with store.begin() as tx:
        stuck = await tx.documents(sch.COLLECTION).find_stale(
            "in_progress", now - stuck_after, scheduler.BATCH
        )
    for doc in stuck:
        if teams is not None and doc.team_id not in teams:
            continue
        if doc.type != sch.EVALUATION_START:
            await scheduler.recover(store, doc, now, report)
            continue
        run_id = await scheduler.tagged_run(store, doc, doc.updated_at)
        if run_id is not None:
            await evaluations.finish_queued(store, doc, run_id, None)
            report.fired[doc.id] = run_id
        else:
            await scheduler.give_back(store, doc)
        report.recovered.append(doc.id)


async def _queues(
    store: Store, now: datetime, teams: Collection[str] | None
) -> dict[str, list[Document]]:
    """Each team's due starts in queue order; teams in the order they waited."""
    if teams is None:
        async with store.begin() as tx:
            due = await tx.documents(sch.COLLECTION).find_stale(
                "pending", now + _TICK, SCAN
            )
        order = list(dict.fromkeys(d.team_id for d in due))
    else:
        order = list(dict.fromkeys(teams))
    queues: dict[str, list[Document]] = {}
    for team_id in order:
        async with store.begin() as tx:
            queue = await sch.team_queue(tx, team_id, now)
        if queue:
            queues[team_id] = queue
    return queues


def _round_robin(queues: dict[str, list[Document]]) -> Iterator[Document]:
    """First start of every team, then the second of every team, and so on."""
    for row in zip_longest(*queues.values()):
        yield from (doc for doc in row if doc is not None)


async def _publish(
    store: Store, team_id: str, now: datetime, reasons: dict[str, Refusal]
) -> None:
    """Write each waiting start's ``waiting`` (level, limit, position) if changed."""
    async with store.begin() as tx:
        queue = await sch.team_queue(tx, team_id, now)
    for doc in queue:
        old = doc.body.get("waiting") or None
        if doc.id in reasons:
            level, limit = reasons[doc.id]
        elif old:
            level, limit = str(old.get("level")), old.get("limit")
        else:
            continue
        waiting: JsonDict = {
            "level": level,
            "limit": limit,
            "position": sch.position(queue, doc.id, level),
        }
        if waiting == old:
            continue
        if await _write_waiting(store, doc, waiting) and (
            doc.type == sch.EVALUATION_START
        ):
            await evaluations.show_waiting(store, doc, waiting)


async def _write_waiting(store: Store, doc: Document, waiting: JsonDict) -> bool:
    """Set ``waiting`` on a still pending start (re-read under its lock)."""
    async with store.begin() as tx:
        await tx.lock(sch.lock_key(doc.id))
        docs = tx.documents(sch.COLLECTION)
        fresh = await docs.get(doc.team_id, doc.id)
        if fresh is None or fresh.status != "pending":
            return False
        changed = replace(fresh, body={**fresh.body, "waiting": waiting})
        return await docs.replace(changed, expected_status="pending")
