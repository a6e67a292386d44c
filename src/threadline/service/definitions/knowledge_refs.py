"""Save-time warnings for ``knowledge_base`` tools naming unknown knowledge bases.

A workflow may be saved before its knowledge bases exist (they are often created
afterwards), so an unknown id is a warning, not an error: one per id, naming the
node and the field (``tools_config.tools[1].target_knowledge_base_ids[0]``).
At run time such a tool searches the ids that exist and reports the others
(``service.knowledge.search.StoreRetriever``).
"""

from collections.abc import Iterator
from typing import Any

from threadline.store import Query, Transaction

JsonDict = dict[str, Any]
KIND = "knowledge_bases"
CODE = "unknown_knowledge_base"


def _refs(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """``(field path, id)`` of every knowledge-base id under ``value``."""
    if isinstance(value, dict):
        if value.get("type") == "knowledge_base":
            ids = value.get("target_knowledge_base_ids")
            for i, kb_id in enumerate(ids if isinstance(ids, list) else []):
                yield f"{path}target_knowledge_base_ids[{i}]", str(kb_id)
        for key, item in value.items():
            yield from _refs(item, f"{path}{key}.")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _refs(item, f"{path[:-1]}[{i}].")


async def warnings(
    tx: Transaction, team_id: str, nodes: list[JsonDict], workflow: JsonDict
) -> list[JsonDict]:
    """A warning per knowledge-base id the team does not have."""
    found: list[tuple[JsonDict | None, str, str]] = [
        (node, field, kb_id) for node in nodes for field, kb_id in _refs(node, "")
    ]
    found += [(None, field, kb_id) for field, kb_id in _refs(workflow, "")]
    if not found:
        return []
    docs, _ = await tx.documents(KIND).find(team_id, Query())
    known = {d.logical_id for d in docs}
    out = []
    for node, field, kb_id in found:
        if kb_id in known:
            continue
        where = (
            f"node {node.get('name')!r} ({node.get('logical_id')})"
            if node
            else "workflow_config"
        )
        out.append(
            {
                "code": CODE,
                "message": f"{where}: {field}: no knowledge base {kb_id!r} in this "
                "team (create it, or searches skip it)",
                "severity": "warning",
                "node_logical_id": node.get("logical_id") if node else None,
                "edge_logical_id": None,
                "field": field,
            }
        )
    return out
