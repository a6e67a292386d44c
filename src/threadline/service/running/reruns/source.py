"""The source of a re-run: the run, its recorded turns, and its state at a turn.

The state at the checkpoint turn is rebuilt by replaying the source run's record
through the engine (``replay``); no node runs again. A turn the replay cannot
reproduce, and every turn after it, is not re-runnable.
"""

import copy
from dataclasses import dataclass
from typing import Any

from threadline.errors import Conflict, InvalidField, NotFound
from threadline.ids import is_object_id
from threadline.service.caller import Caller
from threadline.service.running import run_history
from threadline.service.running.reruns.replay import replay
from threadline.service.runtime import Runtime
from threadline.service.team.global_variables import for_run as team_globals
from threadline.service.team.secrets import with_template_forms
from threadline.store import Document, Query, Store

JsonDict = dict[str, Any]

NO_SNAPSHOT = (
    "This run predates workflow config snapshots, so its state cannot be reconstructed."
)


def lineage_type(source_run_id: str) -> str:
    """The indexed ``type`` column of a re-run: its source run."""
    return f"rerun:{source_run_id}"


@dataclass(slots=True)
class Source:
    doc: Document
    pairs: list[JsonDict]

    @property
    def record(self) -> JsonDict:
        record: JsonDict = self.doc.body["workflow_run"]
        return record

    @property
    def snapshot(self) -> JsonDict | None:
        snapshot = self.record.get("workflow_config_fully_hydrated")
        return snapshot if isinstance(snapshot, dict) else None


async def load_source(store: Store, caller: Caller, run_id: str) -> Source:
    if not is_object_id(run_id):
        raise NotFound(f"workflow run {run_id!r} not found")
    async with store.begin() as tx:
        doc = await tx.documents("workflow_runs").get(caller.team_id, run_id)
        if doc is None:
            raise NotFound(f"workflow run {run_id!r} not found")
        doc = await run_history.whole(tx, doc)
        pairs = await tx.turns().list(caller.team_id, run_id)
    return Source(doc, pairs)


async def _replayed(
    store: Store, caller: Caller, runtime: Runtime, src: Source
) -> tuple[list[JsonDict], int | None, str | None]:
    """States after each turn that replays faithfully, plus the first failure."""
    if src.snapshot is None:
        return [], 0, NO_SNAPSHOT
    team = await team_globals(store, caller.team_id)
    done = replay(
        src.doc.id,
        src.snapshot,
        src.pairs,
        src.doc.body.get("state"),
        globals_=team.values,
        secrets=with_template_forms(team.secret_values, src.snapshot, team.values),
        max_node_runs=runtime.max_node_runs_per_turn,
        render_limits=runtime.render_limits,
    )
    return done.states, done.failed_at, done.reason


def _turn_verdicts(
    src: Source, states: list[JsonDict], failed_at: int | None, reason: str | None
) -> list[tuple[bool, str | None]]:
    last = len(src.pairs) - 1
    stored = isinstance(src.doc.body.get("state"), dict)
    out: list[tuple[bool, str | None]] = []
    for index in range(len(src.pairs)):
        if src.snapshot is None:
            out.append((False, NO_SNAPSHOT))
        elif index < len(states) or (index == last and stored):
            out.append((True, None))
        else:
            out.append((False, reason or "the turn cannot be replayed"))
    del failed_at
    return out


def check_index(src: Source, turn_index: int) -> None:
    if turn_index < 0 or turn_index >= len(src.pairs):
        raise InvalidField(
            f"turn_index: run {src.doc.id!r} has turns 0..{len(src.pairs) - 1},"
            f" not {turn_index}"
            if src.pairs
            else f"turn_index: run {src.doc.id!r} has no recorded turn"
        )


async def checkpoint(
    store: Store, caller: Caller, runtime: Runtime, src: Source, turn_index: int
) -> JsonDict:
    """The engine state right after turn ``turn_index`` of the source run."""
    check_index(src, turn_index)
    if src.snapshot is None:
        raise Conflict(NO_SNAPSHOT, code="not_rerunnable")
    stored = src.doc.body.get("state")
    if turn_index == len(src.pairs) - 1 and isinstance(stored, dict):
        return copy.deepcopy(stored)
    states, _, reason = await _replayed(store, caller, runtime, src)
    if turn_index >= len(states):
        raise Conflict(
            f"turn {turn_index} cannot be re-run: {reason}", code="not_rerunnable"
        )
    return states[turn_index]


async def rerunnable_turns(
    store: Store, caller: Caller, runtime: Runtime, run_id: str
) -> JsonDict:
    """``RerunnableTurnsResponse``: each turn's verdict and how often it was re-run."""
    src = await load_source(store, caller, run_id)
    states, failed_at, reason = await _replayed(store, caller, runtime, src)
    counts = await _rerun_counts(store, caller, run_id)
    turns = [
        {
            "turn_index": index,
            "rerunnable": ok,
            "reason": why,
            "rerun_count": counts.get(index, 0),
        }
        for index, (ok, why) in enumerate(
            _turn_verdicts(src, states, failed_at, reason)
        )
    ]
    return {"workflow_run_id": run_id, "turns": turns}


async def rerun_ids(
    store: Store, caller: Caller, source_run_id: str, turn_index: int | None = None
) -> tuple[str, ...]:
    """Ids of the team's runs re-run from ``source_run_id`` (and that turn)."""
    async with store.begin() as tx:
        docs, _ = await tx.documents("workflow_runs").find(
            caller.team_id, Query(equals={"type": lineage_type(source_run_id)})
        )
    return tuple(
        d.id
        for d in docs
        if turn_index is None
        or d.body["workflow_run"].get("checkpoint_source_turn_index") == turn_index
    )


async def _rerun_counts(store: Store, caller: Caller, run_id: str) -> dict[int, int]:
    async with store.begin() as tx:
        docs, _ = await tx.documents("workflow_runs").find(
            caller.team_id, Query(equals={"type": lineage_type(run_id)})
        )
    counts: dict[int, int] = {}
    for d in docs:
        index = d.body["workflow_run"].get("checkpoint_source_turn_index")
        if isinstance(index, int):
            counts[index] = counts.get(index, 0) + 1
    return counts
