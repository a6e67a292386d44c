"""What a workflow uses: its ``{{dynamic}}`` variables, and the team's categories."""

from collections.abc import Iterator
from typing import Any

from threadline.engine.templates import find_placeholders
from threadline.service.caller import Caller
from threadline.service.definitions import graph as graphs
from threadline.service.definitions import workflows as wf
from threadline.store import Query, Store

JsonDict = dict[str, Any]
DEFAULT_CATEGORIES = ("User Created", "System Examples", "System Internal")


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")


def dynamic_variable_usage(graph: graphs.Graph) -> list[JsonDict]:
    """Every ``{{name}}`` used in the graph, with its default and where it appears."""
    defaults = (graph.workflow_config.get("miscellaneous") or {}).get(
        "default_dynamic_variables"
    ) or {}
    sources: list[tuple[str, Any]] = [("workflow_config", graph.workflow_config)]
    sources += [(f"node:{n.get('logical_id')}", n) for n in graph.node_configs]
    sources += [(f"edge:{e.get('logical_id')}", e) for e in graph.edge_configs]
    found: dict[str, JsonDict] = {}
    for owner, data in sources:
        for path, text in _strings(data, ""):
            for ph in find_placeholders(text):
                if ph.kind != "dynamic":
                    continue
                entry = found.setdefault(
                    ph.root,
                    {
                        "name": ph.root,
                        "default_value": defaults.get(ph.root),
                        "used_in": [],
                    },
                )
                where = f"{owner}:{path}"
                if where not in entry["used_in"]:
                    entry["used_in"].append(where)
    return sorted(found.values(), key=lambda e: e["name"])


async def dynamic_variables(store: Store, caller: Caller, workflow_id: str) -> JsonDict:
    """The dynamic variables of a workflow's active version."""
    async with store.begin() as tx:
        doc = await wf.get_doc(tx, caller, workflow_id)
        number = int(doc.body.get("active_version_number", 0))
        version = await wf.get_version_doc(tx, caller, workflow_id, number)
        graph = await graphs.load(tx, caller.team_id, version)
    return {
        "workflow_id": workflow_id,
        "version_number": number,
        "dynamic_variables": dynamic_variable_usage(graph),
    }


async def categories(store: Store, caller: Caller) -> JsonDict:
    """The default categories plus those of the team's workflow versions."""
    async with store.begin() as tx:
        versions, _ = await tx.documents("workflow_versions").find(
            caller.team_id, Query()
        )
    used = {v.body.get("workflow_config", {}).get("category") for v in versions}
    names = list(DEFAULT_CATEGORIES) + sorted(
        c for c in used if c and c not in DEFAULT_CATEGORIES
    )
    return {"categories": names}
