"""A run's config snapshot: a workflow version hydrated exactly as a new run's is.

Super nodes expanded, saved LLM configs and managed prompts resolved. Used by
upgrades (moving a waiting run onto another version) and by re-runs onto another
workflow or version; a new run (``runs``) builds the same in its own transaction.
"""

from dataclasses import dataclass
from typing import Any

from threadline.service.caller import Caller
from threadline.service.definitions import graph as graphs
from threadline.service.definitions import workflows as wf
from threadline.service.reuse import managed_prompts, supernodes
from threadline.service.team.llm_config_refs import resolve_llm_refs
from threadline.store import Transaction

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class VersionSnapshot:
    """One version of a workflow, as a run would execute it."""

    number: int
    name: Any
    snapshot: JsonDict


async def for_version(
    tx: Transaction, caller: Caller, workflow_id: str, number: int
) -> VersionSnapshot:
    """The version's snapshot (404 for a version the caller's team lacks)."""
    version = await wf.get_version_doc(tx, caller, workflow_id, number)
    graph = await graphs.load(tx, caller.team_id, version)
    snapshot = await supernodes.expand_for_run(
        tx, caller, graph.hydrated(), workflow_id=workflow_id
    )
    snapshot = await resolve_llm_refs(tx, caller.team_id, snapshot)
    snapshot = await managed_prompts.resolve_for_run(tx, caller.team_id, snapshot)
    return VersionSnapshot(number, version.body.get("version_name"), snapshot)
