"""Where a re-run goes: the target workflow and version, and what it keeps.

- ``EXACT``: the source run's own workflow and version, on its own snapshot;
- ``REMAPPED``: another version or workflow whose nodes all match the source's (by
  logical id, by name, or by the caller's ``node_id_map``); each thread keeps its
  place on the matching node;
- ``PORTABLE``: no full node correspondence; the transcript and variables carry
  over and the main thread waits at ``entry_node_logical_id`` (default: the
  target's start node).

See ``docs/reruns.md``.
"""

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from threadline.engine.graph import compile_graph
from threadline.errors import Conflict, InvalidField, NotFound
from threadline.ids import is_object_id
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.running.reruns.source import NO_SNAPSHOT, Source
from threadline.service.running.snapshots import for_version
from threadline.service.team import run_budgets
from threadline.store import Store

JsonDict = dict[str, Any]

HISTORY_MODES = ("FULL", "USER_AND_ASSISTANT_ONLY", "NONE")
MODES = ("PORTABLE", "REMAPPED", "EXACT")  # least to most strict
TARGET_NOT_FOUND = "rerun_target_not_found"
_TARGET_KEYS = (
    "target_workflow_id",
    "target_version_number",
    "history_mode",
    "entry_node_logical_id",
    "node_id_map",
    "requested_mode",
)


@dataclass(slots=True)
class Target:
    """The workflow version a re-run runs on."""

    workflow_id: str
    version_number: int
    snapshot: JsonDict
    same: bool
    """The source run's own workflow and version (its own snapshot)."""
    version_name: Any = None
    run_budget: JsonDict | None = None
    """The limits a new run of the target gets (unused when ``same``)."""

    @property
    def fingerprint(self) -> str:
        """What a token checks at redemption: the target has not changed since."""
        text = json.dumps(self.snapshot, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(slots=True)
class Plan:
    """Where a re-run goes and how much of the source it keeps."""

    target: Target
    mode: str
    history_mode: str
    entry_node_logical_id: str | None
    """Where the main thread waits (None: where the source's was, mapped)."""
    node_matches: list[JsonDict]
    unmapped_node_ids: list[str]
    warnings: list[str] = field(default_factory=list)
    not_resumable: str | None = None
    """Why the re-run cannot be started (preflight reports it; execute refuses)."""

    @property
    def workflow_id(self) -> str:
        return self.target.workflow_id

    @property
    def version_number(self) -> int:
        return self.target.version_number

    @property
    def snapshot(self) -> JsonDict:
        return self.target.snapshot

    @property
    def node_map(self) -> dict[str, str]:
        """Source node logical id → target node logical id."""
        return {
            str(m["source_node_logical_id"]): str(m["target_node_logical_id"])
            for m in self.node_matches
        }


def _target_params(body: JsonDict) -> JsonDict:
    unknown = sorted(set(body) - set(_TARGET_KEYS) - {"message"})
    if unknown:
        raise InvalidField(f"{unknown[0]}: unknown field")
    history = body.get("history_mode")
    if history is not None and history not in HISTORY_MODES:
        raise InvalidField(f"history_mode: one of {', '.join(HISTORY_MODES)}")
    requested = body.get("requested_mode")
    if requested is not None and requested not in MODES:
        raise InvalidField(f"requested_mode: one of {', '.join(MODES)}")
    target = body.get("target_workflow_id")
    if target is not None and (not isinstance(target, str) or not is_object_id(target)):
        raise InvalidField("target_workflow_id: a 24-hex workflow id")
    version = body.get("target_version_number")
    if version is not None and (
        not isinstance(version, int) or isinstance(version, bool) or version < 0
    ):
        raise InvalidField("target_version_number: a version number (integer >= 0)")
    mapping = body.get("node_id_map")
    if mapping is not None and (
        not isinstance(mapping, dict)
        or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
        )
    ):
        raise InvalidField("node_id_map: an object of source → target node ids")
    entry = body.get("entry_node_logical_id")
    if entry is not None and not isinstance(entry, str):
        raise InvalidField("entry_node_logical_id: a node logical id")
    return body


def _nodes(snapshot: JsonDict) -> list[JsonDict]:
    return [n for n in snapshot.get("node_configs") or [] if isinstance(n, dict)]


def _node_ids(snapshot: JsonDict) -> set[str]:
    return {str(n.get("logical_id")) for n in _nodes(snapshot)}


def _match(
    source: JsonDict, target: JsonDict, mapping: dict[str, str]
) -> tuple[list[JsonDict], list[str]]:
    targets = {str(n.get("logical_id")): n for n in _nodes(target)}
    by_name: dict[str, list[str]] = {}
    for node_id, node in targets.items():
        if node.get("name"):
            by_name.setdefault(str(node["name"]), []).append(node_id)
    matches: list[JsonDict] = []
    unmapped: list[str] = []
    for node in _nodes(source):
        node_id, name = str(node.get("logical_id")), node.get("name")
        if node_id in mapping and mapping[node_id] in targets:
            dest, how = mapping[node_id], "explicit"
        elif node_id in targets:
            dest, how = node_id, "identity"
        elif name and len(by_name.get(str(name), [])) == 1:
            dest, how = by_name[str(name)][0], "name"
        else:
            unmapped.append(node_id)
            continue
        matches.append(
            {
                "source_node_logical_id": node_id,
                "target_node_logical_id": dest,
                "matched_by": how,
                "source_node_name": name,
                "target_node_name": targets[dest].get("name"),
            }
        )
    return matches, unmapped


def _check_map(mapping: dict[str, str], source: JsonDict, target: Target) -> None:
    """Every ``node_id_map`` entry names a source node and a target node (422)."""
    sources, targets = _node_ids(source), _node_ids(target.snapshot)
    for key, value in mapping.items():
        if key not in sources:
            raise InvalidField(
                f"node_id_map.{key}: not a node of the source run's config"
            )
        if value not in targets:
            raise InvalidField(
                f"node_id_map.{key}: {value!r} is not a node of workflow"
                f" {target.workflow_id!r} version {target.version_number}"
            )


async def load_target(
    store: Store, caller: Caller, src: Source, workflow_id: str, version: int | None
) -> Target:
    """The target (404 ``rerun_target_not_found`` naming the field when the caller's
    team has no such workflow or version)."""
    if src.snapshot is None:
        raise Conflict(NO_SNAPSHOT, code="not_rerunnable")
    source_wf = str(src.doc.workflow_id)
    source_version = int(src.record.get("version_number") or 0)
    if workflow_id == source_wf and version in (None, source_version):
        return Target(source_wf, source_version, src.snapshot, same=True)
    async with store.begin() as tx:
        try:
            workflow = await wf.get_doc(tx, caller, workflow_id)
        except NotFound:
            raise NotFound(
                f"target_workflow_id: workflow {workflow_id!r} not found",
                code=TARGET_NOT_FOUND,
            ) from None
        number = (
            version
            if version is not None
            else int(workflow.body.get("active_version_number", 0))
        )
        try:
            found = await for_version(tx, caller, workflow_id, number)
        except NotFound:
            raise NotFound(
                f"target_version_number: workflow {workflow_id!r} has no version"
                f" {number}",
                code=TARGET_NOT_FOUND,
            ) from None
        # The source's limits stand in for a new run's input: smallest wins.
        budget = await run_budgets.for_new_run(
            tx,
            caller.team_id,
            found.snapshot,
            {run_budgets.FIELD: src.record.get(run_budgets.FIELD)},
        )
    same = workflow_id == source_wf and number == source_version
    return Target(
        workflow_id,
        number,
        src.snapshot if same else found.snapshot,
        same=same,
        version_name=found.name,
        run_budget=budget,
    )


def _entry(plan: Plan, given: str | None) -> None:
    """Resolve where the main thread waits; a bad ``entry_node_logical_id`` is 422."""
    target = plan.target
    if given is not None:
        if given not in _node_ids(target.snapshot):
            raise InvalidField(
                f"entry_node_logical_id: {given!r} is not a node of workflow"
                f" {target.workflow_id!r} version {target.version_number}"
            )
        plan.entry_node_logical_id = given
        return
    if plan.mode != "PORTABLE":
        return
    start = compile_graph(target.snapshot).start
    if start is None:
        plan.not_resumable = (
            "entry_node_logical_id: required, the target has no start node and"
            " a PORTABLE re-run keeps no position"
        )
        return
    plan.entry_node_logical_id = start
    plan.warnings.append(
        f"no entry_node_logical_id: the re-run waits at the target's start node"
        f" {start!r}"
    )


async def plan_for(store: Store, caller: Caller, src: Source, body: JsonDict) -> Plan:
    params = _target_params(body)
    if src.snapshot is None:
        raise Conflict(NO_SNAPSHOT, code="not_rerunnable")
    target = await load_target(
        store,
        caller,
        src,
        params.get("target_workflow_id") or str(src.doc.workflow_id),
        params.get("target_version_number"),
    )
    mapping = dict(params.get("node_id_map") or {})
    if not target.same:
        _check_map(mapping, src.snapshot, target)
    matches, unmapped = _match(src.snapshot, target.snapshot, mapping)
    if target.same:
        mode = "EXACT"
    elif matches and not unmapped:
        mode = "REMAPPED"
    else:
        mode = "PORTABLE"
    history = params.get("history_mode") or (
        "FULL" if target.same else "USER_AND_ASSISTANT_ONLY"
    )
    plan = Plan(
        target=target,
        mode=mode,
        history_mode=history,
        entry_node_logical_id=None,
        node_matches=matches,
        unmapped_node_ids=unmapped,
    )
    _entry(plan, params.get("entry_node_logical_id"))
    return plan


def require_startable(plan: Plan, body: JsonDict) -> None:
    """Refuse a re-run the plan cannot start: a ``requested_mode`` stricter than the
    target allows (409 ``rerun_mode_unavailable``), or a PORTABLE re-run with
    nowhere to wait (422 naming ``entry_node_logical_id``)."""
    requested = body.get("requested_mode")
    if requested and MODES.index(plan.mode) < MODES.index(requested):
        raise Conflict(
            f"requested_mode: {requested} is not possible for this target; the best"
            f" is {plan.mode}",
            code="rerun_mode_unavailable",
        )
    if plan.not_resumable is not None:
        raise InvalidField(plan.not_resumable)
