"""Structured diff of two workflow versions, in the SDK's ``VersionDiff`` shape."""

from typing import Any

from threadline.service.caller import Caller
from threadline.service.definitions import graph as graphs
from threadline.service.definitions import workflows as wf
from threadline.store import Store

JsonDict = dict[str, Any]
# Fields that differ between any two versions without meaning a change.
_IGNORED = {"workflow_id", "version_number", "nodes", "edges"}


def field_changes(old: Any, new: Any, path: str = "") -> list[JsonDict]:
    """List ``{path, old_value, new_value}`` for every leaf that differs."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[JsonDict] = []
        for key in sorted(set(old) | set(new)):
            if not path and key in _IGNORED:
                continue
            sub = f"{path}.{key}" if path else str(key)
            changes += field_changes(old.get(key), new.get(key), sub)
        return changes
    if old == new:
        return []
    return [{"path": path, "old_value": old, "new_value": new}]


def _by_logical_id(items: list[JsonDict]) -> dict[str, JsonDict]:
    return {str(i.get("logical_id")): i for i in items}


def entity_diffs(
    old: list[JsonDict], new: list[JsonDict], type_key: str
) -> list[JsonDict]:
    """Added, removed and modified entities matched by ``logical_id``."""
    before, after = _by_logical_id(old), _by_logical_id(new)
    out: list[JsonDict] = []
    for logical_id in sorted(set(before) | set(after)):
        a, b = before.get(logical_id), after.get(logical_id)
        ref = b if b is not None else a
        assert ref is not None  # the id came from one of the two sides
        entry = {
            "logical_id": logical_id,
            "name": ref.get("name"),
            type_key: ref.get("type"),
        }
        if a is None:
            out.append({**entry, "status": "added", "changes": []})
        elif b is None:
            out.append({**entry, "status": "removed", "changes": []})
        elif changes := field_changes(a, b):
            out.append({**entry, "status": "modified", "changes": changes})
    return out


def _count(items: list[JsonDict], status: str) -> int:
    return sum(1 for i in items if i["status"] == status)


def diff_graphs(old: graphs.Graph, new: graphs.Graph) -> JsonDict:
    """Compare two graphs: workflow config fields, nodes and edges."""
    nodes = entity_diffs(old.node_configs, new.node_configs, "node_type")
    edges = entity_diffs(old.edge_configs, new.edge_configs, "edge_type")
    config_changes = field_changes(old.workflow_config, new.workflow_config)
    summary = {
        f"{kind}_{status}": _count(items, status)
        for kind, items in (("nodes", nodes), ("edges", edges))
        for status in ("added", "removed", "modified")
    }
    summary["workflow_config_changes"] = len(config_changes)
    return {
        "workflow_config_changes": config_changes,
        "nodes": nodes,
        "edges": edges,
        "summary": summary,
    }


async def diff(
    store: Store, caller: Caller, workflow_id: str, v1: int, v2: int
) -> JsonDict:
    """Diff version ``v1`` (old) against ``v2`` (new)."""
    async with store.begin() as tx:
        await wf.get_doc(tx, caller, workflow_id)
        docs = [await wf.get_version_doc(tx, caller, workflow_id, n) for n in (v1, v2)]
        old, new = [await graphs.load(tx, caller.team_id, d) for d in docs]
    return {
        "version1_number": v1,
        "version1_name": docs[0].body.get("version_name"),
        "version2_number": v2,
        "version2_name": docs[1].body.get("version_name"),
        **diff_graphs(old, new),
    }
