"""Runs as people read them: list rows with every filter, and one run's record.

The console's runs list filters on the indexed columns (workflow, version, status,
re-run source, time) in the store; termination source and evaluation are in the
run body, so those two filters read the newest matching runs in batches until the
page is full, at most ``SCAN_LIMIT`` (the page says when more may match).
Why a run is not moving is ``diagnosis.diagnose_run``'s to say.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from threadline.service.caller import Caller
from threadline.service.running import run_records
from threadline.service.running.reruns.source import lineage_type
from threadline.store import Document, Query, Store

JsonDict = dict[str, Any]
SCAN_LIMIT = 1000
"""Most runs read to apply the filters the store cannot (termination source,
evaluation); they are read newest first, ``SCAN_BATCH`` at a time, until the page
is full."""
SCAN_BATCH = 100
EVALUATION_FILTERS = ("evaluated", "not_evaluated", "evaluation_runs")


@dataclass(frozen=True, slots=True)
class RunFilter:
    """What the runs list shows: every field optional."""

    workflow_id: str | None = None
    version_number: int | None = None
    status: str | None = None
    termination_source: str | None = None
    evaluation: str | None = None
    rerun_of: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    page: int = 1
    size: int = 50


def row(doc: Document) -> JsonDict:
    """One run as a list row."""
    run = doc.body.get("workflow_run") or {}
    usage = run.get("llm_token_usage") or {}
    info = run.get("evaluation_run_info") or {}
    return {
        "id": doc.id,
        "created_at": doc.created_at,
        "updated_at": doc.updated_at,
        "workflow_id": doc.workflow_id,
        "version_number": doc.version_number,
        "status": doc.status or run.get("status"),
        "termination_source": run.get("termination_source"),
        "turn_count": doc.body.get("turn_count", 0),
        "run_by": run.get("run_by"),
        "total_tokens": usage.get("total_tokens") or 0,
        "cost_usd": usage.get("cost_usd"),
        "is_evaluation_run": bool(run.get("is_evaluation_run")),
        "evaluation_run_id": info.get("evaluation_workflow_run_id"),
        "source_run_id": run.get("source_workflow_run_id"),
        "source_turn_index": run.get("checkpoint_source_turn_index"),
    }


def _keeps(item: JsonDict, f: RunFilter) -> bool:
    if f.termination_source and item["termination_source"] != f.termination_source:
        return False
    if f.evaluation == "evaluated":
        return item["evaluation_run_id"] is not None
    if f.evaluation == "not_evaluated":
        return item["evaluation_run_id"] is None and not item["is_evaluation_run"]
    if f.evaluation == "evaluation_runs":
        return bool(item["is_evaluation_run"])
    return True


async def list_rows(
    store: Store, caller: Caller, f: RunFilter
) -> tuple[list[JsonDict], int, bool]:
    """The page of rows, the number of matches and whether more may match.

    With a filter on the body (termination source, evaluation) the runs are read
    newest first in batches until the page is full, at most ``SCAN_LIMIT`` runs;
    the count is then of the matches read so far, and the flag says more may match.
    """
    equals: JsonDict = {}
    for key, value in (
        ("workflow_id", f.workflow_id),
        ("version_number", f.version_number),
        ("status", f.status),
    ):
        if value is not None:
            equals[key] = value
    if f.rerun_of:
        equals["type"] = lineage_type(f.rerun_of)
    if f.termination_source or f.evaluation:
        rows, matched, more = await _scan(store, caller, equals, f)
    else:
        query = Query(equals=equals, start=f.start, end=f.end, page=f.page, size=f.size)
        async with store.begin() as tx:
            docs, matched = await tx.documents("workflow_runs").find(
                caller.team_id, query
            )
        rows, more = [row(d) for d in docs], False
    async with store.begin() as tx:
        names = await _workflow_names(tx, caller, {r["workflow_id"] for r in rows})
    for item in rows:
        item["workflow_name"] = names.get(str(item["workflow_id"]), "")
    return rows, matched, more


async def _scan(
    store: Store, caller: Caller, equals: JsonDict, f: RunFilter
) -> tuple[list[JsonDict], int, bool]:
    first, wanted = (f.page - 1) * f.size, f.page * f.size
    kept: list[JsonDict] = []
    batch, read = 1, 0
    while read < SCAN_LIMIT:
        query = Query(
            equals=equals, start=f.start, end=f.end, page=batch, size=SCAN_BATCH
        )
        async with store.begin() as tx:
            docs, total = await tx.documents("workflow_runs").find(
                caller.team_id, query
            )
        kept += [r for r in (row(d) for d in docs) if _keeps(r, f)]
        read += len(docs)
        if len(docs) < SCAN_BATCH or read >= total:
            return kept[first:wanted], len(kept), False
        if len(kept) > wanted:
            break
        batch += 1
    return kept[first:wanted], len(kept), True


async def _workflow_names(
    tx: Any, caller: Caller, ids: set[str | None]
) -> dict[str, str]:
    wanted = tuple(sorted(i for i in ids if i))
    if not wanted:
        return {}
    docs, _ = await tx.documents("workflows").find(
        caller.team_id, Query(ids=wanted, size=len(wanted))
    )
    return {d.id: str(d.body.get("name") or "") for d in docs}


@dataclass(frozen=True, slots=True)
class RunView:
    """A run for its page: the stored document and the masked record."""

    doc: Document
    run: JsonDict


async def view(store: Store, caller: Caller, run_id: str) -> RunView:
    """The run (masked, with every turn)."""
    async with store.begin() as tx:
        doc = await run_records.get_doc(tx, caller, run_id)
        run = run_records.full_run(doc, await tx.turns().list(caller.team_id, run_id))
    return RunView(doc, run)


def waiting_nodes(run: JsonDict) -> list[str]:
    """Nodes the run's threads wait on for the user (from the last turn's events)."""
    pairs = run.get("input_output_pairs") or []
    if not pairs:
        return []
    events = ((pairs[-1].get("run_output") or {}).get("events")) or []
    found = [
        str(e.get("origin_node_logical_id"))
        for e in events
        if e.get("type") == "busy_wait_for_user_message"
        and e.get("origin_node_logical_id")
    ]
    return list(dict.fromkeys(found))
