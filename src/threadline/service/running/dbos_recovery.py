"""Recovering a dead worker's DBOS turns (``THREADLINE_EXECUTOR=dbos``).

``recover`` is one recovery pass of ``service.running.recovery.live_forever`` with
the DBOS executor: ``recover_dead`` takes over the orphaned commands of dead workers
(the same conditional update as ``service.running.recovery``) and asks DBOS to
recover the dead executors' pending workflows (``DBOS._recover_pending_workflows``,
a private API wrapped in ``recover_executors``). DBOS re-enqueues them; whichever
live process dequeues one owns its turn (DBOS's dequeue admits one runner) and
takes the command over.
"""

import asyncio
import logging
from datetime import datetime, timedelta

from dbos import DBOS

from threadline.service.definitions import workflows as wf
from threadline.service.running.dbos_executor import start_turn
from threadline.service.runtime import Runtime
from threadline.store import Command, Store
from threadline.telemetry import metrics

log = logging.getLogger("threadline.dbos")


async def recover_executors(executor_ids: list[str]) -> list[str]:
    """Ask DBOS to resume the pending workflows of these (dead) executors; return
    their ids. Wraps DBOS's private ``_recover_pending_workflows`` (DBOS 3.4 has no
    public API for it without Conductor)."""
    if not executor_ids:
        return []
    handles = await asyncio.to_thread(DBOS._recover_pending_workflows, executor_ids)
    return [h.get_workflow_id() for h in handles]


async def recover_dead(
    store: Store,
    runtime: Runtime,
    dead_worker_ids: list[str],
    *,
    now: datetime | None = None,
    teams: set[str] | None = None,
    limit: int = 100,
) -> list[str]:
    """Take over the running commands of these dead workers and have DBOS resume
    their turns; return the ids of the commands taken over.

    Only commands ``service.running.recovery`` would call orphans are taken (their
    worker's heartbeat is older than ``worker_dead_seconds``); ``teams`` restricts the
    pass (tests sharing one database)."""
    dead = [w for w in dead_worker_ids if w != runtime.worker_id]
    if not dead:
        return []
    at = now or wf.now()
    dead_before = at - timedelta(seconds=runtime.worker_dead_seconds)
    async with store.begin() as tx:
        orphans = await tx.commands().orphans(dead_before, limit)
    taken: list[Command] = []
    for orphan in orphans:
        if orphan.worker_id not in dead:
            continue
        if teams is not None and orphan.team_id not in teams:
            continue
        async with store.begin() as tx:
            mine = await tx.commands().update(
                orphan.id,
                at=wf.now(),
                expected_worker=orphan.worker_id,
                worker_id=runtime.worker_id,
            )
        if mine:
            log.info(
                "resuming run %s (command %s) of dead worker %s through DBOS",
                orphan.run_id,
                orphan.id,
                orphan.worker_id,
            )
            metrics.recoveries.inc()
            taken.append(orphan)
    if not taken:
        return []
    async with store.begin() as tx:
        alive = {runtime.worker_id, *await tx.workers().live(dead_before)}
    executors = {str(o.worker_id) for o in taken}
    unstarted: list[str] = []
    for orphan in taken:
        status = await DBOS.get_workflow_status_async(orphan.id)
        if status is None:
            # Promoted just before its worker died, or begun by the journal
            # executor: no workflow yet.
            unstarted.append(orphan.id)
        elif status.status == "PENDING" and status.executor_id not in alive:
            # Dequeued by a process that died before taking the command.
            executors.add(str(status.executor_id))
        elif status.status not in ("PENDING", "ENQUEUED"):
            log.error(
                "command %s is running but its workflow is %s: the stale-run "
                "reaper will fail its run",
                orphan.id,
                status.status,
            )
    recovered = await recover_executors(sorted(executors))
    log.info("DBOS re-enqueued workflows %s", recovered)
    for command_id in unstarted:
        await start_turn(command_id)
    return [o.id for o in taken]


async def recover(
    store: Store,
    runtime: Runtime,
    *,
    now: datetime | None = None,
    teams: set[str] | None = None,
    limit: int = 100,
) -> list[str]:
    """One recovery pass (``service.running.recovery.live_forever`` with this executor):
    the workers of orphaned commands are dead; resume their turns through DBOS."""
    at = now or wf.now()
    dead_before = at - timedelta(seconds=runtime.worker_dead_seconds)
    async with store.begin() as tx:
        orphans = await tx.commands().orphans(dead_before, limit)
    dead = sorted(
        {
            str(o.worker_id)
            for o in orphans
            if o.run_id not in runtime.drivers and (teams is None or o.team_id in teams)
        }
    )
    return await recover_dead(store, runtime, dead, now=at, teams=teams, limit=limit)
