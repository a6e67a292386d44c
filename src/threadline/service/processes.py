"""The periodic work every Threadline process runs, ``serve`` and ``worker`` alike.

- heartbeat and recovery of turns orphaned by dead processes
  (``service.running.recovery``);
- the stale-run reaper, held by one process at a time through the ``reaper`` lease;
- the scheduler (exactly-once claims) and outbound webhook deliveries.

Any process can take any run's next turn, so adding processes adds capacity.
"""

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from threadline.service.automation import webhook_delivery
from threadline.service.automation.scheduler import schedule_forever
from threadline.service.running import reaper, recovery, runs
from threadline.service.runtime import Runtime
from threadline.settings import Settings
from threadline.store import Store

log = logging.getLogger("threadline.processes")
REAPER_LEASE = "stale_run_reaper"


async def reap_once(store: Store, runtime: Runtime, settings: Settings) -> list[str]:
    """One reaper pass, if this process holds the reaper lease."""
    now = datetime.now(UTC)
    hold = timedelta(seconds=max(settings.reaper_interval_seconds * 3, 5))
    async with store.begin() as tx:
        held = await tx.workers().take_lease(
            REAPER_LEASE, runtime.worker_id, now, now + hold
        )
    if not held:
        return []
    idle = settings.run_idle_ttl_seconds
    return await reaper.reap(
        store,
        now=now,
        max_turn=timedelta(seconds=settings.max_turn_seconds),
        idle_ttl=timedelta(seconds=idle) if idle else None,
    )


async def reap_forever(store: Store, runtime: Runtime, settings: Settings) -> None:
    """Run the stale-run reaper every ``reaper_interval_seconds`` (0: never)."""
    if settings.reaper_interval_seconds <= 0:
        return
    while True:
        await asyncio.sleep(settings.reaper_interval_seconds)
        try:
            await reap_once(store, runtime, settings)
        except Exception:  # a failed pass is retried on the next tick
            log.exception("stale-run reaper pass failed")


def start(
    store: Store, runtime: Runtime, settings: Settings, *, kind: str
) -> list["asyncio.Task[None]"]:
    """Start the periodic work of a ``kind`` (``serve`` or ``worker``) process."""
    policy = webhook_delivery.DeliveryPolicy(allow_private=settings.http_allow_private)
    if settings.executor == "dbos":  # launched on this loop: it runs turns here
        from threadline.service.running import dbos_executor

        dbos_executor.start(store, runtime)
    return [
        asyncio.create_task(
            recovery.live_forever(
                store,
                runtime,
                runs.ports_for,
                kind=kind,
                interval=settings.heartbeat_seconds,
            )
        ),
        asyncio.create_task(reap_forever(store, runtime, settings)),
        asyncio.create_task(schedule_forever(store, runtime, settings)),
        asyncio.create_task(webhook_delivery.deliver_forever(store, policy)),
    ]


async def stop(
    store: Store, runtime: Runtime, loops: list["asyncio.Task[None]"]
) -> None:
    """Stop the loops, let turns in flight finish briefly, leave the live workers.

    Turns still running after the grace period are cancelled and stay ``running``
    in the database; another process resumes them.
    """
    for task in loops:
        task.cancel()
    for task in loops:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await runtime.drain(timeout=10.0)
    # the DBOS executor (service.running.dbos_executor)
    if runtime.launcher is not None:
        from threadline.service.running import dbos_executor

        await dbos_executor.shutdown(runtime)
    with contextlib.suppress(Exception):
        await recovery.sign_off(store, runtime)
