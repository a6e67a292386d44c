"""Upgrading waiting runs to another version of their workflow.

A run executes on the snapshot taken at its first turn. An upgrade swaps that
snapshot for the target version's (hydrated exactly as a new run's would be) while
the run waits between turns, so its next turn runs on the new version. Each thread
keeps its place by logical id; the pre-flight report says whether every waiting
node exists in the target and which variables the target reads that the run does
not have. See docs/upgrades.md.

- ``upgrade_run``: ``POST /v1/workflow-runs/{id}/upgrade`` (dry run or apply);
- ``upgrade_waiting_runs``: the same for every waiting run of a workflow.

The pre-flight report is ``upgrade_report.py``'s.
"""

import copy
from dataclasses import replace
from typing import Any

from threadline.errors import Conflict, InvalidField, NotFound
from threadline.ids import is_object_id
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.running.snapshots import VersionSnapshot, for_version
from threadline.service.running.upgrade_marks import PENDING
from threadline.service.running.upgrade_report import UPGRADABLE, defaults, report
from threadline.store import Document, Query, Store, Transaction

__all__ = [
    "UPGRADABLE",
    "bulk_params",
    "report",
    "run_params",
    "upgrade_run",
    "upgrade_waiting_runs",
]

JsonDict = dict[str, Any]
_BUSY = frozenset({"started", "running"})
_RUN_KEYS = ("target_version_number", "dry_run", "force")
_BULK_KEYS = ("dry_run", "force")
_MAX_VERSION = 2**31 - 1


def _flag(body: JsonDict, name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise InvalidField(f"{name}: true or false")
    return value


def _unknown(body: Any, allowed: tuple[str, ...]) -> JsonDict:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise InvalidField("body: a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise InvalidField(f"{unknown[0]}: unknown field")
    return body


def run_params(body: Any) -> tuple[int, bool, bool]:
    """``(target_version_number, dry_run, force)`` of an upgrade request."""
    body = _unknown(body, _RUN_KEYS)
    number = body.get("target_version_number")
    if (
        not isinstance(number, int)
        or isinstance(number, bool)
        or not 0 <= number <= _MAX_VERSION
    ):
        raise InvalidField(
            "target_version_number: required, a version number (integer >= 0)"
        )
    return number, _flag(body, "dry_run"), _flag(body, "force")


def bulk_params(body: Any) -> tuple[bool, bool]:
    """``(dry_run, force)`` of an upgrade-waiting-runs request."""
    body = _unknown(body, _BULK_KEYS)
    return _flag(body, "dry_run"), _flag(body, "force")


# --- applying --------------------------------------------------------------------


Target = VersionSnapshot


async def _target(
    tx: Transaction, caller: Caller, workflow_id: str, number: int
) -> Target:
    """The target version's snapshot, hydrated as a new run's would be."""
    return await for_version(tx, caller, workflow_id, number)


def _upgraded(doc: Document, caller: Caller, target: Target) -> Document:
    body = copy.deepcopy(doc.body)
    record: JsonDict = body["workflow_run"]
    now = wf.now()
    entry = {
        "from_version_number": record.get("version_number"),
        "to_version_number": target.number,
        "upgraded_at": now.isoformat(),
        "upgraded_by": caller.user_id,
    }
    snapshot = copy.deepcopy(target.snapshot)
    record["workflow_config_fully_hydrated"] = snapshot
    record["version_number"] = target.number
    record["version_name"] = target.name
    record["version_upgrades"] = [*(record.get("version_upgrades") or []), entry]
    state = body.get("state")
    if isinstance(state, dict):  # defaults the new version adds, run input first
        state["dynamic"] = {**defaults(snapshot), **(state.get("dynamic") or {})}
    body[PENDING] = entry
    return replace(
        doc,
        body=body,
        version_number=target.number,
        updated_at=now,
        updated_by=caller.user_id,
    )


async def _one(
    tx: Transaction,
    caller: Caller,
    doc: Document,
    target: Target,
    *,
    dry_run: bool,
    force: bool,
) -> JsonDict:
    """Report on (and unless ``dry_run``, apply) one run's upgrade; 409 if refused."""
    found = report(doc, target.number, target.snapshot)
    if dry_run or found["already_on_target"]:
        return {**found, "applied": False}
    if doc.status in _BUSY:
        raise Conflict(
            "a turn of this run is in progress; upgrade it when the turn has ended",
            code="run_busy",
            details=found,
        )
    if not found["safe"] and not (force and found["forceable"]):
        raise Conflict(
            f"the upgrade of run {doc.id} is not safe: {found['problems'][0]}",
            code="upgrade_unsafe",
            details=found,
        )
    upgraded = _upgraded(doc, caller, target)
    if not await tx.documents("workflow_runs").replace(
        upgraded, expected_status=doc.status
    ):
        raise Conflict("the run changed meanwhile; retry", code="run_busy")
    return {**found, "applied": True, "forced": not found["safe"]}


async def upgrade_run(store: Store, caller: Caller, run_id: str, body: Any) -> JsonDict:
    """``POST /v1/workflow-runs/{id}/upgrade``: the report, applied unless dry run.

    Refused (409, the report in ``errors``) when a turn is running or the upgrade
    is not safe; a refused upgrade changes nothing."""
    number, dry_run, force = run_params(body)
    if not is_object_id(run_id):
        raise NotFound(f"workflow run {run_id!r} not found")
    async with store.begin() as tx:
        await tx.lock(f"run:{run_id}")
        doc = await tx.documents("workflow_runs").get(caller.team_id, run_id)
        if doc is None or doc.workflow_id is None:
            raise NotFound(f"workflow run {run_id!r} not found")
        target = await _target(tx, caller, doc.workflow_id, number)
        return await _one(tx, caller, doc, target, dry_run=dry_run, force=force)


# --- every waiting run of a workflow ----------------------------------------------

_PAGE = 100


async def _candidates(
    store: Store, caller: Caller, workflow_id: str, number: int, limit: int
) -> tuple[list[str], int, bool]:
    """Ids of up to ``limit`` waiting runs not on version ``number`` (oldest
    first), how many waiting runs already are, and whether more are left."""
    ids: list[str] = []
    on_target = 0
    more = False
    for status in sorted(UPGRADABLE):
        page = 1
        while True:
            query = Query(
                equals={"workflow_id": workflow_id, "status": status},
                page=page,
                size=_PAGE,
                newest_first=False,
            )
            async with store.begin() as tx:
                docs, _ = await tx.documents("workflow_runs").find(
                    caller.team_id, query
                )
            for doc in docs:
                if doc.version_number == number:
                    on_target += 1
                elif len(ids) < limit:
                    ids.append(doc.id)
                else:
                    more = True
            if len(docs) < _PAGE:
                break
            page += 1
    return ids, on_target, more


async def upgrade_waiting_runs(
    store: Store,
    caller: Caller,
    workflow_id: str,
    number: int,
    body: Any,
    *,
    max_runs: int,
) -> JsonDict:
    """``POST /v1/workflows/{id}/versions/{n}/upgrade-waiting-runs``.

    Reports on every waiting run not yet on version ``number`` (at most
    ``max_runs`` per call, the operator's ceiling) and upgrades the safe ones (with
    ``force``, also those whose only problem is a missing variable). Runs already
    on the version are counted, not touched: calling again is harmless."""
    dry_run, force = bulk_params(body)
    async with store.begin() as tx:
        await wf.get_doc(tx, caller, workflow_id)
        target = await _target(tx, caller, workflow_id, number)
    ids, on_target, more = await _candidates(
        store, caller, workflow_id, number, max_runs
    )
    runs: list[JsonDict] = []
    for run_id in ids:
        async with store.begin() as tx:
            await tx.lock(f"run:{run_id}")
            doc = await tx.documents("workflow_runs").get(caller.team_id, run_id)
            if doc is None or doc.status not in UPGRADABLE:
                continue  # it moved on meanwhile; the next call sees it again
            try:
                runs.append(
                    await _one(tx, caller, doc, target, dry_run=dry_run, force=force)
                )
            except Conflict as exc:
                refused = exc.details if isinstance(exc.details, dict) else {}
                runs.append({**refused, "applied": False, "refused": exc.code})
    return {
        "workflow_id": workflow_id,
        "target_version_number": number,
        "dry_run": dry_run,
        "force": force,
        "runs": runs,
        "upgraded": sum(1 for r in runs if r.get("applied")),
        "unsafe": sum(1 for r in runs if not r.get("safe")),
        "already_on_target": on_target,
        "more": more,
    }
