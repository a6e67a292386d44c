"""Driving simulation groups in the background, durably, one process per group.

Every process runs ``Driver.run_forever`` (``service.processes``). Each pass scans
the groups that still have work (``pending``, ``running``, ``stopping``, any team)
and, for each one no task of this process drives yet, takes the group's lease
(``simulation_group:{id}`` in the ``leases`` table, ``LEASE`` long). The holder
drives the group: it renews the lease every ``RENEW`` seconds and stops driving if
another process has taken it (its lease expired: this one was too slow or
presumed dead). A process that dies leaves its lease to expire; the next pass of
any live process takes the group over and resumes each conversation from its
document (``simulations.conversation``: the same step is re-sent with the same
``Idempotency-Key``, so nothing runs twice).

Within a group at most ``max_concurrent_runs`` conversations are in flight: the
driver claims ``pending`` ones (``pending`` -> ``running``, under the group's lock,
so ``stop`` cannot cancel one it has just claimed) as others end. A conversation
whose start is refused by a concurrency limit waits (backing off) and keeps its
place. Once no conversation is pending or running the group is closed:
``cancelled`` if it was stopped, ``failed`` if ``stop_on_failure`` stopped it or
every conversation failed, else ``completed``; its simulation config shows the same
status.
"""

import asyncio
import contextlib
import logging
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from threadline.service.definitions import workflows as wf
from threadline.service.runtime import Runtime
from threadline.service.simulations import conversation as conv_
from threadline.service.simulations import groups
from threadline.service.simulations.configs import (
    ACTIVE_GROUP_STATUSES,
    CONVERSATIONS,
    GROUPS,
)
from threadline.service.simulations.conversation import RETRY, Context, Lost
from threadline.service.turns import StartRun
from threadline.store import Document, Query, Store

JsonDict = dict[str, Any]
log = logging.getLogger("threadline.simulations")
LEASE = timedelta(seconds=30)
RENEW = 5.0
PASS_INTERVAL_S = 1.0
SCAN = 100
_TICK = timedelta(microseconds=1)


def lease_name(group_id: str) -> str:
    return f"simulation_group:{group_id}"


class Driver:
    """This process's drivers of simulation groups."""

    def __init__(
        self,
        store: Store,
        runtime: Runtime,
        start_run: StartRun,
        *,
        teams: Collection[str] | None = None,
        retry_pause: float = 0.2,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.start_run = start_run
        self.teams = teams
        self.retry_pause = retry_pause
        self.tasks: dict[str, asyncio.Task[None]] = {}

    async def _take(self, group_id: str, now: datetime) -> bool:
        async with self.store.begin() as tx:
            return await tx.workers().take_lease(
                lease_name(group_id), self.runtime.worker_id, now, now + LEASE
            )

    async def pass_once(self, now: datetime | None = None) -> list[str]:
        """Start driving every group with work that no process holds; their ids."""
        at = now or wf.now()
        found: list[Document] = []
        async with self.store.begin() as tx:
            for status in ACTIVE_GROUP_STATUSES:
                found += await tx.documents(GROUPS).find_stale(status, at + _TICK, SCAN)
        started = []
        for group in found:
            if self.teams is not None and group.team_id not in self.teams:
                continue
            task = self.tasks.get(group.id)
            if task is not None and not task.done():
                continue
            if not await self._take(group.id, at):
                continue
            self.tasks[group.id] = asyncio.create_task(self._drive(group, now))
            started.append(group.id)
        return started

    async def run_forever(self, interval: float = PASS_INTERVAL_S) -> None:
        """A pass every ``interval`` seconds; the group tasks end with it."""
        try:
            while True:
                try:
                    await self.pass_once()
                except Exception:  # a failed pass is retried on the next tick
                    log.exception("simulation pass failed")
                await asyncio.sleep(interval)
        finally:
            await self.cancel()

    async def cancel(self) -> None:
        """Stop driving (the leases expire; another process takes over)."""
        tasks = [t for t in self.tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def idle(self) -> None:
        """Wait until every group this process drives is done (tests)."""
        while tasks := [t for t in self.tasks.values() if not t.done()]:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _group(self, group_id: str, team_id: str) -> Document | None:
        async with self.store.begin() as tx:
            return await tx.documents(GROUPS).get(team_id, group_id)

    async def _drive(self, group: Document, now: datetime | None) -> None:
        try:
            await self._drive_group(group, now)
        except Exception:
            log.exception("driving simulation group %s failed", group.id)

    async def _drive_group(self, group: Document, now: datetime | None) -> None:
        if group.status == "pending":
            group = await _set_status(self.store, group, "running")
        flights: dict[str, asyncio.Task[None]] = {}
        opening = asyncio.Lock()
        renewed = asyncio.get_running_loop().time()
        try:
            while True:
                clock = asyncio.get_running_loop().time()
                if clock - renewed >= RENEW:
                    renewed = clock
                    if not await self._take(group.id, now or wf.now()):
                        log.warning("lost the lease of simulation group %s", group.id)
                        return
                fresh = await self._group(group.id, group.team_id)
                if fresh is None:
                    return
                group = fresh
                convs = await self._launch(group, flights, opening)
                if not flights:
                    pending = any(c.status == "pending" for c in convs)
                    if not pending or group.status != "running":
                        await _close(self.store, group)
                        return
                    await asyncio.sleep(self.retry_pause)
                    continue
                done, _ = await asyncio.wait(
                    set(flights.values()),
                    timeout=RENEW,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for key in [k for k, t in flights.items() if t in done]:
                    flights.pop(key)
        finally:
            for task in flights.values():
                task.cancel()
            for task in flights.values():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _launch(
        self,
        group: Document,
        flights: dict[str, "asyncio.Task[None]"],
        opening: asyncio.Lock,
    ) -> list[Document]:
        """Resume the group's running conversations no task drives, and claim
        pending ones while there is room; the group's conversations."""
        ctx = Context(self.store, self.runtime, self.start_run, group, opening)
        convs = await _conversations(self.store, group)
        for conv in convs:
            if conv.status == "running" and conv.id not in flights:
                flights[conv.id] = asyncio.create_task(self._talk(ctx, conv))
        if group.status != "running":
            return convs
        room = int(group.body.get("concurrency") or 1) - len(flights)
        for conv in [c for c in convs if c.status == "pending"][: max(room, 0)]:
            claimed = await _claim(self.store, group, conv)
            if claimed is not None:
                flights[conv.id] = asyncio.create_task(self._talk(ctx, claimed))
        return convs

    async def _talk(self, ctx: Context, conv: Document) -> None:
        """Drive one conversation to its end (or until the group is stopped)."""
        pause = self.retry_pause
        holding = False
        try:
            while "ending" not in conv.body:
                if not holding and not conv_.opened(conv):
                    await ctx.opening.acquire()
                    holding = True
                elif holding and conv_.opened(conv):
                    ctx.opening.release()
                    holding = False
                group = await self._group(ctx.group.id, ctx.group.team_id)
                if group is None:
                    return
                ending: JsonDict | None = None
                if group.status != "running":
                    ending = {"status": "cancelled", "reason": "stopped", "error": None}
                    conv = await conv_.save(ctx, conv, ending=ending)
                    break
                ending = conv_.timed_out(ctx, conv)
                if ending is not None:
                    conv = await conv_.save(ctx, conv, ending=ending)
                    break
                result = await conv_.step(ctx, conv)
                if result == RETRY:
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 5.0)
                    conv = await _reload(self.store, conv)
                    continue
                assert isinstance(result, Document)
                conv, pause = result, self.retry_pause
            conv = await conv_.finish(ctx, conv)
        except Lost:
            return
        except Exception as exc:  # a turn refused for good fails this conversation
            log.warning("simulated conversation %s failed: %s", conv.id, exc)
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            with contextlib.suppress(Lost):
                conv = await _reload(self.store, conv)
                ending = {"status": "failed", "reason": "error", "error": message}
                conv = await conv_.save(ctx, conv, ending=ending)
                conv = await conv_.finish(ctx, conv)
        finally:
            if holding:
                ctx.opening.release()
        if conv.status == "failed" and ctx.config.get("stop_on_failure"):
            await _fail_fast(self.store, ctx.group)


async def _reload(store: Store, conv: Document) -> Document:
    async with store.begin() as tx:
        fresh = await tx.documents(CONVERSATIONS).get(conv.team_id, conv.id)
    if fresh is None or fresh.status != "running":
        raise Lost(conv.id)
    return fresh


async def _conversations(store: Store, group: Document) -> list[Document]:
    async with store.begin() as tx:
        docs, _ = await tx.documents(CONVERSATIONS).find(
            group.team_id,
            Query(equals={"workflow_id": group.id}, newest_first=False),
        )
    return docs


async def _claim(store: Store, group: Document, conv: Document) -> Document | None:
    async with store.begin() as tx:
        await tx.lock(groups.lock_key(group.id))
        fresh = await tx.documents(GROUPS).get(group.team_id, group.id)
        if fresh is None or fresh.status != "running":
            return None
        claimed = replace(conv, status="running", updated_at=wf.now())
        if not await tx.documents(CONVERSATIONS).replace(
            claimed, expected_status="pending"
        ):
            return None
    return claimed


async def _set_status(store: Store, group: Document, status: str) -> Document:
    async with store.begin() as tx:
        await tx.lock(groups.lock_key(group.id))
        fresh = await tx.documents(GROUPS).get(group.team_id, group.id)
        if fresh is None or fresh.status != group.status:
            return fresh or group
        new = replace(fresh, status=status, updated_at=wf.now())
        await tx.documents(GROUPS).replace(new)
    return new


async def _fail_fast(store: Store, group: Document) -> None:
    """``stop_on_failure``: stop the group; it closes as ``failed``."""
    async with store.begin() as tx:
        await tx.lock(groups.lock_key(group.id))
        fresh = await tx.documents(GROUPS).get(group.team_id, group.id)
        if fresh is None or fresh.status != "running":
            return
        docs = tx.documents(CONVERSATIONS)
        pending, _ = await docs.find(
            group.team_id, Query(equals={"workflow_id": group.id})
        )
        at = wf.now()
        for conv in pending:
            if conv.status == "pending":
                body = {
                    **conv.body,
                    "end_reason": "stopped",
                    "finished_at": at.isoformat(),
                }
                await docs.replace(
                    replace(conv, status="cancelled", body=body, updated_at=at),
                    expected_status="pending",
                )
        body = {**fresh.body, "failed_fast": True}
        await tx.documents(GROUPS).replace(
            replace(fresh, status="stopping", body=body, updated_at=at)
        )


async def _close(store: Store, group: Document) -> None:
    """Record the group's final status (and its config's)."""
    async with store.begin() as tx:
        await tx.lock(groups.lock_key(group.id))
        fresh = await tx.documents(GROUPS).get(group.team_id, group.id)
        if fresh is None or fresh.status not in ACTIVE_GROUP_STATUSES:
            return
        tally = await groups.counts(tx, fresh.team_id, fresh.id)
        if tally["pending"] or tally["running"]:
            return
        if fresh.body.get("failed_fast"):
            status = "failed"
        elif fresh.status == "stopping":
            status = "cancelled"
        elif tally["failed"] and tally["failed"] == fresh.body.get("total_runs"):
            status = "failed"
        else:
            status = "completed"
        at = wf.now()
        body = {**fresh.body, "finished_at": at.isoformat()}
        closed = replace(fresh, status=status, body=body, updated_at=at)
        await tx.documents(GROUPS).replace(closed)
        await groups.set_config_status(tx, closed, status)
