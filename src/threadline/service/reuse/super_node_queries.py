"""The read side of published super nodes.

Listing and describing publications, the ``field_values`` JSON Schema, the
workflows embedding a workflow, the expand preview, and whether published and
embedded snapshots are still current. The stored publication itself is described
in :mod:`threadline.service.reuse.super_node_publishing`.
"""

from typing import Any

from threadline.errors import NotFound
from threadline.service.caller import Caller
from threadline.service.definitions import graph as graphs
from threadline.service.definitions import workflows as wf
from threadline.service.definitions.envelopes import page as envelope
from threadline.service.reuse import supernodes
from threadline.service.reuse.super_node_publishing import (
    active_number,
    active_publication,
    named_config,
    referencing_workflows,
    require_published,
    version_doc,
)
from threadline.store import Query, Store, Transaction

JsonDict = dict[str, Any]

__all__ = [
    "dependents",
    "expand_preview",
    "get",
    "input_schema",
    "list_",
    "snapshot_status",
]

_JSON_TYPES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "object": "object",
    "array": "array",
}


def _field_schema(field: JsonDict) -> JsonDict:
    out: JsonDict = {"title": field["name"]}
    kind = field.get("value_type") or "any"
    if kind in _JSON_TYPES:
        out["type"] = _JSON_TYPES[kind]
    if kind == "enum":
        out["enum"] = list(field.get("enum_values") or [])
    if field.get("description"):
        out["description"] = field["description"]
    if field.get("default_value") is not None:
        out["default"] = field["default_value"]
    if kind in ("integer", "number"):
        if field.get("min_value") is not None:
            out["minimum"] = field["min_value"]
        if field.get("max_value") is not None:
            out["maximum"] = field["max_value"]
    bounds = {"string": ("minLength", "maxLength"), "array": ("minItems", "maxItems")}
    if kind in bounds:
        low, high = bounds[kind]
        if field.get("min_length") is not None:
            out[low] = field["min_length"]
        if field.get("max_length") is not None:
            out[high] = field["max_length"]
    # An explicit per-field json_schema (editor hints) refines the derived one.
    out.update(field.get("json_schema") or {})
    return out


async def list_(store: Store, caller: Caller) -> list[JsonDict]:
    """Every active publication of the team (one per workflow version), newest first."""
    async with store.begin() as tx:
        versions, _ = await tx.documents("workflow_versions").find(
            caller.team_id, Query()
        )
        out: list[JsonDict] = []
        for version in versions:
            pub = active_publication(version)
            if pub is None or version.workflow_id is None:
                continue
            doc = await tx.documents("workflows").get(
                caller.team_id, version.workflow_id
            )
            if doc is None:
                continue
            out.append(
                {
                    "workflow_id": doc.id,
                    "workflow_version_number": version.version_number,
                    "name": doc.body.get("name"),
                    "description": doc.body.get("description"),
                    "num_input_fields": len(pub["interface"].get("input_fields") or []),
                }
            )
        return out


async def get(
    store: Store, caller: Caller, workflow_id: str, version_number: int | None
) -> JsonDict:
    """The published interface and snapshot of one version (default: active)."""
    async with store.begin() as tx:
        doc, version, pub = await require_published(
            tx, caller, workflow_id, version_number
        )
    return {
        "workflow_id": workflow_id,
        "workflow_version_number": version.version_number,
        "name": doc.body.get("name"),
        "description": doc.body.get("description"),
        "super_node_interface": pub["interface"],
        "encapsulated_workflow_config": pub["snapshot"],
    }


async def input_schema(
    store: Store, caller: Caller, workflow_id: str, version_number: int | None
) -> JsonDict:
    """A JSON Schema (object) for a super node's ``field_values``."""
    async with store.begin() as tx:
        doc, _, pub = await require_published(tx, caller, workflow_id, version_number)
    fields = pub["interface"].get("input_fields") or []
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": doc.body.get("name") or workflow_id,
        "description": doc.body.get("description"),
        "type": "object",
        "properties": {f["name"]: _field_schema(f) for f in fields},
        "required": [f["name"] for f in fields if f.get("required", True)],
        "additionalProperties": False,
    }


async def dependents(
    store: Store, caller: Caller, workflow_id: str, *, page: int, size: int
) -> JsonDict:
    """The workflows embedding ``workflow_id`` (any version of theirs), paged."""
    async with store.begin() as tx:
        await wf.get_doc(tx, caller, workflow_id)
        ids = await referencing_workflows(tx, caller, workflow_id, None, 0)
        chunk = ids[(page - 1) * size : page * size]
        items = []
        for wid in chunk:
            doc = await wf.get_doc(tx, caller, wid)
            items.append(
                {
                    "workflow_id": wid,
                    "name": doc.body.get("name"),
                    "description": doc.body.get("description"),
                }
            )
    return envelope("dependents", items, len(ids), page=page, size=size)


async def expand_preview(
    store: Store, caller: Caller, workflow_id: str, version_number: int | None
) -> JsonDict:
    """The version's config with every super node inlined; nothing is stored."""
    async with store.begin() as tx:
        doc = await wf.get_doc(tx, caller, workflow_id)
        version = await version_doc(tx, caller, doc, version_number)
        hydrated = named_config(await graphs.load(tx, caller.team_id, version), doc)
        result = await supernodes.expand(tx, caller, hydrated, workflow_id=workflow_id)
    origins: list[str] = []
    for entry in result.report.get("super_nodes") or []:
        lid = entry.get("logical_id") if isinstance(entry, dict) else None
        if isinstance(lid, str) and lid not in origins:
            origins.append(lid)
    for origin in result.origins.values():
        if origin not in origins:
            origins.append(origin)
    return {
        "workflow_id": workflow_id,
        "version_number": version.version_number,
        "expanded_config": result.hydrated,
        "super_node_origins": origins,
        "expansion_report": {**result.report, "origins": result.origins},
    }


async def _embedded_status(tx: Transaction, caller: Caller, node: JsonDict) -> JsonDict:
    wid = node.get("super_workflow_id")
    pinned = node.get("super_workflow_version_number")
    embedded = node.get("encapsulated_workflow_config")
    out: JsonDict = {
        "logical_id": node.get("logical_id"),
        "super_workflow_id": wid,
        "super_workflow_version_number": pinned,
        "resolved_version_number": None,
        "source": "encapsulated" if isinstance(embedded, dict) else "live",
        "is_published": False,
        "is_current": False,
        "interface_is_current": None,
        "reason": None,
    }
    child = (
        await tx.documents("workflows").get(caller.team_id, wid)
        if isinstance(wid, str)
        else None
    )
    if child is None:
        out["reason"] = "super_workflow_not_found"
        return out
    number = pinned if isinstance(pinned, int) else active_number(child)
    out["resolved_version_number"] = number
    try:
        version = await wf.get_version_doc(tx, caller, child.id, number)
    except NotFound:
        out["reason"] = "super_workflow_version_not_found"
        return out
    pub = active_publication(version)
    out["is_published"] = pub is not None
    if pub is None:
        out["reason"] = "not_published"
        return out
    own = node.get("super_node_interface")
    if isinstance(own, dict):
        out["interface_is_current"] = own == pub["interface"]
    if not isinstance(embedded, dict):
        out["is_current"] = True  # resolved from the live workflow at run time
        return out
    out["is_current"] = embedded == pub["snapshot"]
    if not out["is_current"]:
        out["reason"] = "embedded_snapshot_outdated"
    return out


async def snapshot_status(store: Store, caller: Caller, workflow_id: str) -> JsonDict:
    """Are this workflow's published snapshots, and the ones it embeds, current?

    ``published``: every actively published version of the workflow, with
    ``is_current`` = its snapshot equals the version's config now (else publish
    again). ``super_nodes``: every enabled super node of the active version, with
    ``is_current`` = its embedded snapshot equals what its super workflow publishes
    now (a super node without an embedded snapshot resolves live: current when the
    version it resolves to is published). ``is_current`` is the conjunction.
    """
    async with store.begin() as tx:
        doc = await wf.get_doc(tx, caller, workflow_id)
        active = await version_doc(tx, caller, doc, None)
        versions, _ = await tx.documents("workflow_versions").find(
            caller.team_id,
            Query(equals={"workflow_id": workflow_id}, newest_first=False),
        )
        published: list[JsonDict] = []
        for version in versions:
            pub = active_publication(version)
            if pub is None:
                continue
            now = named_config(await graphs.load(tx, caller.team_id, version), doc)
            published.append(
                {
                    "version_number": version.version_number,
                    "is_current": pub["snapshot"] == now,
                    "published_at": pub.get("published_at"),
                    "last_updated_at": version.updated_at.isoformat(),
                }
            )
        graph = await graphs.load(tx, caller.team_id, active)
        embedded = [
            await _embedded_status(tx, caller, n)
            for n in graph.node_configs
            if n.get("type") == "super_node" and not n.get("disabled")
        ]
    checks = [p["is_current"] for p in published] + [e["is_current"] for e in embedded]
    return {
        "workflow_id": workflow_id,
        "version_number": active.version_number,
        "is_current": all(checks),
        "last_updated_at": active.updated_at.isoformat(),
        "published": published,
        "super_nodes": embedded,
    }
