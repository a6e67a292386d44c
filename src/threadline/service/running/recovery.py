"""Liveness and recovery: no turn is lost with the process that ran it.

Every process (``serve`` or ``worker``) records a heartbeat every
``THREADLINE_HEARTBEAT_SECONDS``. A command still ``running`` on a worker whose
heartbeat is older than ``THREADLINE_WORKER_DEAD_SECONDS`` is an orphan: its turn
died with its process. One pass of ``recover`` takes each orphan over (a
conditional update, so two live processes never both take it) and resumes its
turn from the step journal: finished steps are replayed, not executed again. The
commands queued behind it then run in order as usual.

A process shutting down cleanly removes its heartbeat row, so its unfinished turns
are resumed by another process on that process's next pass.
"""

import asyncio
import logging
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime, timedelta

from threadline.service.definitions import workflows as wf
from threadline.service.running import runs, turn_driver
from threadline.service.runtime import Runtime
from threadline.store import Command, Store
from threadline.telemetry import metrics

log = logging.getLogger("threadline.recovery")


async def heartbeat(store: Store, runtime: Runtime, kind: str) -> None:
    async with store.begin() as tx:
        await tx.workers().heartbeat(runtime.worker_id, kind, wf.now())


async def sign_off(store: Store, runtime: Runtime) -> None:
    """Leave the live workers (clean shutdown)."""
    async with store.begin() as tx:
        await tx.workers().remove(runtime.worker_id)


async def _take(store: Store, runtime: Runtime, orphan: Command) -> Command | None:
    async with store.begin() as tx:
        taken = await tx.commands().update(
            orphan.id,
            at=wf.now(),
            expected_worker=orphan.worker_id,
            worker_id=runtime.worker_id,
        )
    if not taken:
        return None
    return replace(orphan, worker_id=runtime.worker_id)


async def recover(
    store: Store,
    runtime: Runtime,
    *,
    now: datetime | None = None,
    teams: Collection[str] | None = None,
    limit: int = 100,
) -> list[str]:
    """Resume the turns of dead workers here; return the ids of their commands.

    ``teams`` restricts the pass (tests sharing one database).
    """
    at = now or wf.now()
    dead_before = at - timedelta(seconds=runtime.worker_dead_seconds)
    async with store.begin() as tx:
        orphans = await tx.commands().orphans(dead_before, limit)
    resumed: list[str] = []
    for orphan in orphans:
        if teams is not None and orphan.team_id not in teams:
            continue
        if orphan.run_id in runtime.drivers:
            continue
        mine = await _take(store, runtime, orphan)
        if mine is None:
            continue
        log.info(
            "resuming run %s (command %s) of dead worker %s",
            orphan.run_id,
            orphan.id,
            orphan.worker_id,
        )
        runtime.spawn(
            turn_driver.drive(store, runtime, mine, runs.run_one_turn, resume=True)
        )
        metrics.recoveries.inc()
        resumed.append(orphan.id)
    return resumed


async def prune(store: Store, keep: timedelta = timedelta(hours=24)) -> int:
    """Forget finished commands (and their stored answers) older than ``keep``."""
    async with store.begin() as tx:
        return await tx.commands().prune(wf.now() - keep)


async def live_forever(
    store: Store,
    runtime: Runtime,
    *,
    kind: str,
    interval: float,
) -> None:
    """Heartbeat and recover every ``interval`` seconds until cancelled."""
    passes = 0
    while True:
        try:
            await heartbeat(store, runtime, kind)
            if runtime.launcher is not None:  # DBOS resumes the turns
                from threadline.service.running import dbos_recovery

                await dbos_recovery.recover(store, runtime)
            else:
                await recover(store, runtime)
            passes += 1
            if passes % 720 == 1:
                await prune(store)
        except asyncio.CancelledError:
            raise
        except Exception:  # the loop must outlive a database hiccup
            log.exception("heartbeat or recovery pass failed")
        await asyncio.sleep(interval)
