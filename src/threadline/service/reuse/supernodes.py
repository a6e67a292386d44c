"""Resolving and expanding super nodes for a run (see ``engine.supernode``).

Each enabled super node's child config comes from, in order:

1. its ``encapsulated_workflow_config`` (the snapshot taken when it was embedded);
2. else workflow ``super_workflow_id`` of the caller's team, at the pinned
   ``super_workflow_version_number`` or, when that is None, at the workflow's
   active version *at the time of the run's first turn* (the run snapshot then
   keeps it, so re-activating the child later does not change a running parent).

A super node that carries no ``super_node_interface`` gets the loaded version's
published interface (the SDK's ``SuperNodeConfig`` does not copy it in).

Nested super nodes are resolved the same way, keyed by their namespaced ids
(``S__T``). Resolution stops at a workflow already on the path (a cycle) and below
``MAX_DEPTH``; the engine then reports those. Expansion problems become one
``GraphInvalid`` (400) whose ``details`` list every problem.
"""

from copy import deepcopy
from typing import Any

from threadline.engine.supernode import (
    MAX_DEPTH,
    SEP,
    ExpansionError,
    ExpansionResult,
    expand_super_nodes,
    has_super_nodes,
)
from threadline.errors import BadRequest, GraphInvalid, NotFound
from threadline.service.caller import Caller
from threadline.service.definitions import graph as graphs
from threadline.service.definitions import workflows as wf
from threadline.service.reuse.super_node_publishing import active_publication
from threadline.store import Transaction

JsonDict = dict[str, Any]

__all__ = ["expand", "expand_for_run", "resolve_children"]


def _super_nodes(hydrated: JsonDict) -> list[JsonDict]:
    return [
        n
        for n in hydrated.get("node_configs") or []
        if isinstance(n, dict)
        and n.get("type") == "super_node"
        and not n.get("disabled")
    ]


async def _load_child(tx: Transaction, caller: Caller, sn: JsonDict) -> JsonDict:
    label = f"super node {sn.get('logical_id')!r}"
    workflow_id = sn.get("super_workflow_id")
    if not isinstance(workflow_id, str) or not workflow_id:
        raise BadRequest(
            f"{label} has neither super_workflow_id nor encapsulated_workflow_config"
        )
    try:
        doc = await wf.get_doc(tx, caller, workflow_id)
    except NotFound as exc:
        raise NotFound(f"{label}: workflow {workflow_id!r} not found") from exc
    pinned = sn.get("super_workflow_version_number")
    number = (
        pinned if isinstance(pinned, int) else doc.body.get("active_version_number")
    )
    try:
        version = await wf.get_version_doc(tx, caller, workflow_id, int(number or 0))
    except NotFound as exc:
        raise NotFound(
            f"{label}: workflow {workflow_id!r} has no version {number}"
        ) from exc
    if not sn.get("super_node_interface"):
        # Embedded without a copy of the interface (the SDK's SuperNodeConfig
        # leaves it out): the child version's published interface applies.
        pub = active_publication(version)
        if pub is not None:
            sn["super_node_interface"] = deepcopy(pub.get("interface"))
    graph = await graphs.load(tx, caller.team_id, version)
    return deepcopy(graph.hydrated())


async def resolve_children(
    tx: Transaction, team_id: str, hydrated: JsonDict
) -> dict[str, JsonDict]:
    """The child config of each enabled super node of ``hydrated`` (one level)."""
    caller = Caller(team_id=team_id, user_id="system")
    children: dict[str, JsonDict] = {}
    for sn in _super_nodes(hydrated):
        encapsulated = sn.get("encapsulated_workflow_config")
        if isinstance(encapsulated, dict):
            children[str(sn["logical_id"])] = deepcopy(encapsulated)
        else:
            children[str(sn["logical_id"])] = await _load_child(tx, caller, sn)
    return children


async def _resolve_tree(
    tx: Transaction,
    team_id: str,
    hydrated: JsonDict,
    prefix: str,
    chain: tuple[str, ...],
    depth: int,
) -> dict[str, JsonDict]:
    if depth > MAX_DEPTH:
        return {}
    wanted = {
        str(sn["logical_id"]): sn
        for sn in _super_nodes(hydrated)
        if sn.get("super_workflow_id") not in chain
    }
    if not wanted:
        return {}
    subset = {**hydrated, "node_configs": list(wanted.values())}
    level = await resolve_children(tx, team_id, subset)
    out: dict[str, JsonDict] = {}
    for local, child in level.items():
        full = prefix + local
        out[full] = child
        wid = wanted[local].get("super_workflow_id")
        inner = (*chain, str(wid)) if wid else chain
        out.update(
            await _resolve_tree(tx, team_id, child, full + SEP, inner, depth + 1)
        )
    return out


async def expand(
    tx: Transaction,
    caller: Caller,
    hydrated: JsonDict,
    *,
    workflow_id: str | None = None,
) -> ExpansionResult:
    """Resolve every (nested) child and expand; ``GraphInvalid`` on any problem."""
    chain = (workflow_id,) if workflow_id else ()
    children = await _resolve_tree(tx, caller.team_id, hydrated, "", chain, 1)
    try:
        return expand_super_nodes(hydrated, children, workflow_id=workflow_id)
    except ExpansionError as exc:
        details = [{"code": "super_node_expansion", "message": p} for p in exc.problems]
        raise GraphInvalid(
            f"super nodes cannot be expanded: {exc}", details=details
        ) from exc


async def expand_for_run(
    tx: Transaction,
    caller: Caller,
    hydrated: JsonDict,
    *,
    workflow_id: str | None = None,
) -> JsonDict:
    """The run snapshot with every super node inlined (unchanged when there is none)."""
    if not has_super_nodes(hydrated):
        return hydrated
    result = await expand(tx, caller, hydrated, workflow_id=workflow_id)
    return result.hydrated
