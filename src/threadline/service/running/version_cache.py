"""A new run's config snapshot, hydrated once per process and version.

Creating a run hydrates its workflow version (the version's row, its nodes and
edges read, saved LLM configs and managed prompts resolved), checks that it has
a start node, and stores the snapshot (serialised and hashed into
``run_snapshots``). For an unchanged version all of that gives the same result,
so this process keeps it (``VersionCache``) by ``(team, workflow, version
number)``, with the team's definition stamp read at the start of the
transaction that hydrated it (``store.definition_stamps``). A later run uses it
only if its own transaction reads the same stamp first: every committed write of
the team's versions, nodes, edges, LLM configs or managed prompts, by any
process sharing the database, changes the stamp. Entries are scoped by team
(both in the key and in the stamp, which is per team).

A version with super nodes is never kept: its expansion reads other documents,
some of them not the team's (published super nodes).

What is kept is never handed out: a run gets its own copy of the snapshot,
parsed from the kept text. The cache is bounded (``THREADLINE_VERSION_CACHE_SIZE``
versions, least recently used first out; 0: none kept).
"""

import json
from dataclasses import dataclass
from typing import Any

from threadline.engine.graph import compile_graph
from threadline.engine.supernode import has_super_nodes
from threadline.service.caller import Caller
from threadline.service.definitions import graph as graphs
from threadline.service.definitions import workflows as wf
from threadline.service.reuse import managed_prompts, supernodes
from threadline.service.team.llm_config_refs import resolve_llm_refs
from threadline.store import Transaction
from threadline.store.definition_stamps import StampedCache

JsonDict = dict[str, Any]
Key = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class Kept:
    """One version's snapshot as this process keeps it."""

    version_name: Any
    text: str
    """The snapshot as compact JSON (each run parses its own copy)."""
    stored: JsonDict
    """A parsed copy the store compares a run's snapshot with; never changed."""
    ref: str
    """Its reference in ``run_snapshots`` (stored by a committed transaction)."""
    has_start: bool


@dataclass(slots=True)
class Snapshot:
    """A version's snapshot for one new run, and how the run's insert stores it."""

    version_name: Any
    snapshot: JsonDict
    has_start: bool
    kept: Kept | None
    """The entry it came from (None: hydrated in this transaction)."""
    stamp: int
    cacheable: bool
    text: str | None = None


VersionCache = StampedCache[Kept]
"""Kept snapshots by ``(team, workflow id, version number)``."""


async def hydrate(
    tx: Transaction,
    caller: Caller,
    cache: VersionCache,
    workflow_id: str,
    number: int,
) -> Snapshot:
    """The snapshot of a new run of version ``number`` (404 for a version the
    caller's team lacks), from the cache when its stamp is still current."""
    stamp = await tx.definition_stamp(caller.team_id)  # before the rows it covers
    kept = cache.get((caller.team_id, workflow_id, number), stamp)
    if kept is not None:
        return Snapshot(
            kept.version_name, json.loads(kept.text), kept.has_start, kept, stamp, False
        )
    version = await wf.get_version_doc(tx, caller, workflow_id, number)
    hydrated = (await graphs.load(tx, caller.team_id, version)).hydrated()
    cacheable = not has_super_nodes(hydrated)
    snapshot = await supernodes.expand_for_run(
        tx, caller, hydrated, workflow_id=workflow_id
    )
    snapshot = await resolve_llm_refs(tx, caller.team_id, snapshot)
    snapshot = await managed_prompts.resolve_for_run(tx, caller.team_id, snapshot)
    has_start = compile_graph(snapshot).start is not None
    name = version.body.get("version_name")
    ready = Snapshot(name, snapshot, has_start, None, stamp, cacheable)
    if cacheable and cache.size > 0:
        ready.text = json.dumps(snapshot, separators=(",", ":"), ensure_ascii=False)
    return ready


def stored(tx: Transaction, team_id: str, run_id: str, ready: Snapshot) -> None:
    """Before the run's insert: a kept snapshot is stored already."""
    if ready.kept is not None:
        tx.reuse_snapshot(team_id, run_id, ready.kept.ref, ready.kept.stored)


def committed_ref(tx: Transaction, team_id: str, run_id: str) -> str | None:
    """After the run's insert: the reference its snapshot was stored under."""
    return tx.snapshot_ref(team_id, run_id)


def keep(cache: VersionCache, key: Key, ready: Snapshot, ref: str | None) -> None:
    """After the commit of the run that hydrated ``ready``: keep it."""
    if not ready.cacheable or ready.text is None or ref is None:
        return
    kept = Kept(
        ready.version_name,
        ready.text,
        json.loads(ready.text),
        ref,
        ready.has_start,
    )
    cache.put(key, ready.stamp, kept)
