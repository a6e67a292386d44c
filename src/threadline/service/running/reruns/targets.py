"""Where a re-run goes: the target workflow and version, and what it keeps.

Only the ``EXACT`` mode is executed (same workflow, same config snapshot); the
other modes are reported by preflight (what a different target would keep and
drop).
"""

from dataclasses import dataclass, field
from typing import Any

from threadline.errors import Conflict, InvalidField
from threadline.ids import is_object_id
from threadline.service.caller import Caller
from threadline.service.definitions import graph as graphs
from threadline.service.definitions import workflows as wf
from threadline.service.running.reruns.source import NO_SNAPSHOT, Source
from threadline.store import Store

JsonDict = dict[str, Any]

HISTORY_MODES = ("FULL", "USER_AND_ASSISTANT_ONLY", "NONE")
MODES = ("PORTABLE", "REMAPPED", "EXACT")  # least to most strict
_TARGET_KEYS = (
    "target_workflow_id",
    "target_version_number",
    "history_mode",
    "entry_node_logical_id",
    "node_id_map",
    "requested_mode",
)


@dataclass(slots=True)
class Plan:
    """Where a re-run goes and how much of the source it keeps."""

    workflow_id: str
    version_number: int
    mode: str
    history_mode: str
    entry_node_logical_id: str | None
    node_matches: list[JsonDict]
    unmapped_node_ids: list[str]
    snapshot: JsonDict
    warnings: list[str] = field(default_factory=list)


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


async def plan_for(store: Store, caller: Caller, src: Source, body: JsonDict) -> Plan:
    params = _target_params(body)
    if src.snapshot is None:
        raise Conflict(NO_SNAPSHOT, code="not_rerunnable")
    source_wf = str(src.doc.workflow_id)
    source_version = int(src.record.get("version_number") or 0)
    target_wf = params.get("target_workflow_id") or source_wf
    version = params.get("target_version_number")
    same = target_wf == source_wf and version in (None, source_version)
    if same:
        number, snapshot = source_version, src.snapshot
    else:
        async with store.begin() as tx:
            workflow = await wf.get_doc(tx, caller, target_wf)
            number = (
                version
                if version is not None
                else int(workflow.body.get("active_version_number", 0))
            )
            version_doc = await wf.get_version_doc(tx, caller, target_wf, number)
            snapshot = (await graphs.load(tx, caller.team_id, version_doc)).hydrated()
    mapping = dict(params.get("node_id_map") or {})
    matches, unmapped = _match(src.snapshot, snapshot, mapping)
    if same:
        mode = "EXACT"
    elif matches and not unmapped:
        mode = "REMAPPED"
    else:
        mode = "PORTABLE"
    history = params.get("history_mode") or (
        "FULL" if same else "USER_AND_ASSISTANT_ONLY"
    )
    return Plan(
        workflow_id=target_wf,
        version_number=number,
        mode=mode,
        history_mode=history,
        entry_node_logical_id=params.get("entry_node_logical_id"),
        node_matches=matches,
        unmapped_node_ids=unmapped,
        snapshot=snapshot,
    )


def require_exact(plan: Plan, body: JsonDict) -> None:
    requested = body.get("requested_mode")
    if requested and MODES.index(plan.mode) < MODES.index(requested):
        raise Conflict(
            f"requested_mode: {requested} is not possible for this target; the best"
            f" is {plan.mode}",
            code="rerun_mode_unavailable",
        )
    if plan.mode != "EXACT":
        raise InvalidField(
            "target_workflow_id: only EXACT re-runs (the source run's own workflow"
            f" and version) can be executed; this target resolves to {plan.mode}"
        )
