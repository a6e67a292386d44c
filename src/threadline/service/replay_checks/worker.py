"""Running replay checks in the background, durably.

Every process runs :func:`work_forever` (``service.processes``). A pass finds the
checks still to finish (``queued``, or ``running`` whose worker stopped) and takes
each one's lease (``replay_check:{id}`` in the ``leases`` table, :data:`LEASE`
long); the holder runs it. The check stores each run's report as soon as that run
is replayed and renews its lease between runs, so a worker that dies loses at
most the run in hand: when the lease runs out, any process takes the check over
and goes on with the runs not yet reported (the model calls already spent stay
counted). A check taken over more than :data:`MAX_ATTEMPTS` times fails.

A check ends ``passed`` when every run was replayed on its recorded path, with no
new error and its recorded final status; else ``failed`` (``summary`` and each
run's report say why).
"""

import asyncio
import logging
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from threadline.service.caller import Caller
from threadline.service.definitions import graph as graphs
from threadline.service.definitions import workflows as wf
from threadline.service.definitions.replay_gate import CHECKS, PASSED, fingerprint
from threadline.service.replay_checks import compare
from threadline.service.replay_checks.offline import Offline
from threadline.service.replay_checks.replayer import Limits, recording, replay_run
from threadline.service.replay_checks.requests import ACTIVE
from threadline.service.running import run_history, snapshots
from threadline.service.runtime import Runtime
from threadline.service.team.global_variables import for_run as team_globals
from threadline.service.team.secrets import with_template_forms
from threadline.store import Document, Store

JsonDict = dict[str, Any]
log = logging.getLogger("threadline.replay_checks")
LEASE = timedelta(seconds=120)
MAX_ATTEMPTS = 3
POLL_SECONDS = 1.0
SCAN = 50
_TICK = timedelta(microseconds=1)


def lease_name(check_id: str) -> str:
    return f"replay_check:{check_id}"


class Lost(Exception):
    """Another worker holds the check now (this one was presumed dead)."""


async def _hold(store: Store, runtime: Runtime, check_id: str) -> bool:
    now = wf.now()
    async with store.begin() as tx:
        return await tx.workers().take_lease(
            lease_name(check_id), runtime.worker_id, now, now + LEASE
        )


async def _save(store: Store, runtime: Runtime, doc: Document, **body: Any) -> Document:
    """Write the check's progress, only while this worker holds its lease."""
    if not await _hold(store, runtime, doc.id):
        raise Lost(doc.id)
    status = body.pop("status", doc.status)
    doc = replace(doc, body={**doc.body, **body}, status=status, updated_at=wf.now())
    async with store.begin() as tx:
        await tx.documents(CHECKS).replace(doc)
    return doc


async def _target(store: Store, caller: Caller, doc: Document) -> tuple[JsonDict, str]:
    """The version's snapshot as a new run would get it, and its fingerprint."""
    workflow_id, number = str(doc.workflow_id), int(doc.version_number or 0)
    async with store.begin() as tx:
        version = await wf.get_version_doc(tx, caller, workflow_id, number)
        graph = await graphs.load(tx, caller.team_id, version)
        target = await snapshots.for_version(tx, caller, workflow_id, number)
    return target.snapshot, fingerprint(graph.hydrated())


async def _source(
    store: Store, team_id: str, run_id: str
) -> tuple[Document | None, list[JsonDict]]:
    async with store.begin() as tx:
        run = await tx.documents("workflow_runs").get(team_id, run_id)
        if run is None:
            return None, []
        run = await run_history.whole(tx, run)
        pairs = await tx.turns().list(team_id, run_id)
    return run, pairs


def _usage(runs: list[JsonDict]) -> JsonDict:
    total: JsonDict = {
        "llm_calls": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "total_tokens": 0,
    }
    cost = 0.0
    for run in runs:
        used = run.get("usage") or {}
        for key in total:
            total[key] += int(used.get(key) or 0)
        cost += float(used.get("cost_usd") or 0.0)
    return {**total, "cost_usd": round(cost, 6)}


async def _replay_all(
    store: Store, runtime: Runtime, doc: Document, caller: Caller
) -> Document:
    snapshot, digest = await _target(store, caller, doc)
    doc = await _save(store, runtime, doc, version_fingerprint=digest)
    team = await team_globals(store, caller.team_id)
    limits = Limits(
        globals_=team.values,
        secrets=with_template_forms(team.secret_values, snapshot, team.values),
        max_node_runs=runtime.max_node_runs_per_turn,
        render_limits=runtime.render_limits,
    )
    runs: list[JsonDict] = list(doc.body.get("runs") or [])
    spent = _usage(runs)["llm_calls"]
    offline = Offline(
        store,
        caller,
        runtime,
        max(int(doc.body.get("max_llm_calls") or 0) - spent, 0),
        limits.secrets,
    )
    done = {r.get("workflow_run_id") for r in runs}
    for run_id in doc.body.get("run_ids") or []:
        if run_id in done:
            continue
        run, pairs = await _source(store, caller.team_id, run_id)
        if run is None:
            report: JsonDict = {
                "workflow_run_id": run_id,
                "outcome": "incomplete",
                "reason": "the run was deleted before it was replayed",
            }
        else:
            rec = await asyncio.to_thread(recording, run, pairs, limits)
            report = await replay_run(rec, snapshot, offline, limits)
        runs.append(report)
        doc = await _save(store, runtime, doc, runs=runs, usage=_usage(runs))
    return doc


def _verdict(doc: Document) -> JsonDict:
    runs = list(doc.body.get("runs") or [])
    summary = compare.summary(runs, len(doc.body.get("run_ids") or []))
    passed = not (
        summary["incomplete"]
        or summary["with_new_errors"]
        or summary["diverged"]
        or summary["with_changed_status"]
    )
    return {
        "summary": summary,
        "passed": passed,
        "status": PASSED if passed else "failed",
        "usage": _usage(runs),
        "finished_at": wf.now().isoformat(),
    }


async def run_check(store: Store, runtime: Runtime, doc: Document) -> None:
    """Run (or go on with) one check whose lease this worker holds."""
    attempts = int(doc.body.get("attempts") or 0) + 1
    started = doc.body.get("started_at") or wf.now().isoformat()
    doc = await _save(
        store, runtime, doc, status="running", attempts=attempts, started_at=started
    )
    if attempts > MAX_ATTEMPTS:
        error = f"the check was interrupted {MAX_ATTEMPTS} times (its worker stopped)"
        verdict = {**_verdict(doc), "status": "failed", "passed": False}
        await _save(store, runtime, doc, **verdict, error=error)
        return
    caller = Caller(doc.team_id, doc.created_by or "")
    try:
        doc = await _replay_all(store, runtime, doc, caller)
    except Lost:
        raise
    except Exception as exc:  # the version vanished, or a bug: fail the check
        log.exception("replay check %s failed", doc.id)
        verdict = {**_verdict(doc), "status": "failed", "passed": False}
        await _save(
            store, runtime, doc, **verdict, error=f"{type(exc).__name__}: {exc}"
        )
        return
    await _save(store, runtime, doc, **_verdict(doc))


async def work_once(
    store: Store,
    runtime: Runtime,
    now: datetime | None = None,
    *,
    teams: Collection[str] | None = None,
) -> int:
    """Take and run every check left to finish that no live worker holds (of
    ``teams`` only, when given: tests share a database); how many ran."""
    at = now or wf.now()
    found: list[Document] = []
    async with store.begin() as tx:
        for status in ACTIVE:
            found += await tx.documents(CHECKS).find_stale(status, at + _TICK, SCAN)
    ran = 0
    for doc in found:
        if teams is not None and doc.team_id not in teams:
            continue
        async with store.begin() as tx:
            held = await tx.workers().take_lease(
                lease_name(doc.id), runtime.worker_id, at, at + LEASE
            )
        if not held:
            continue
        async with store.begin() as tx:
            latest = await tx.documents(CHECKS).get(doc.team_id, doc.id)
        if latest is None or latest.status not in ACTIVE:
            continue  # finished meanwhile
        try:
            await run_check(store, runtime, latest)
        except Lost:
            log.warning("replay check %s was taken over by another worker", doc.id)
        ran += 1
    return ran


async def work_forever(store: Store, runtime: Runtime) -> None:
    """A pass every :data:`POLL_SECONDS`; a failed pass is retried."""
    while True:
        try:
            await work_once(store, runtime)
        except Exception:
            log.exception("replay-check pass failed")
        await asyncio.sleep(POLL_SECONDS)
