"""Workflow versions: snapshot, list, rename, replace config, delete, activate."""

import asyncio
from dataclasses import replace
from typing import Any

from threadline.errors import Conflict, InvalidField
from threadline.service.caller import Caller
from threadline.service.definitions import graph as graphs
from threadline.service.definitions import knowledge_refs, replay_gate, wire
from threadline.service.definitions import workflows as wf
from threadline.service.definitions.envelopes import stored_doc
from threadline.service.definitions.masking import mask_secrets, restore_secrets
from threadline.service.definitions.references import reference_warnings
from threadline.service.definitions.tool_limits import check_tools
from threadline.store import Document, Query, Store, Transaction
from threadline.tools.limits import ToolCeilings

JsonDict = dict[str, Any]


def _active(doc: Document) -> int:
    return int(doc.body.get("active_version_number", 0))


def render(version: Document, graph: graphs.Graph, active: int) -> JsonDict:
    """Render ``{"version": {...}, "parent_active_version": n}``."""
    inner = stored_doc(
        version,
        "workflow_config",
        mask_secrets(graph.config_with_ids()),
        workflow_id=version.workflow_id,
        version_number=version.version_number,
        version_name=version.body.get("version_name"),
        is_active=version.version_number == active,
    )
    return {"version": inner, "parent_active_version": active}


async def _all(tx: Transaction, caller: Caller, workflow_id: str) -> list[Document]:
    docs, _ = await tx.documents("workflow_versions").find(
        caller.team_id, Query(equals={"workflow_id": workflow_id}, newest_first=False)
    )
    return docs


def _version_name(body: JsonDict, default: str) -> str:
    name = body.get("version_name", default)
    if not isinstance(name, str) or not name.strip():
        raise InvalidField("version_name: must be a non-empty string")
    return name.strip()


async def create(
    store: Store, caller: Caller, workflow_id: str, body: JsonDict
) -> JsonDict:
    """Snapshot a source version (default: the active one) as a new version."""
    async with store.begin() as tx:
        doc = await wf.get_doc(tx, caller, workflow_id)
        source_number = body.get("source_version_number")
        if source_number is None:
            source_number = _active(doc)
        if not isinstance(source_number, int) or source_number < 0:
            raise InvalidField("source_version_number: must be an integer >= 0")
        source = await wf.get_version_doc(tx, caller, workflow_id, source_number)
        graph = await graphs.load(tx, caller.team_id, source)
        number = (
            max(v.version_number or 0 for v in await _all(tx, caller, workflow_id)) + 1
        )
        name = _version_name(body, f"Version {number}")
        graph = await wf.insert_version(tx, caller, workflow_id, number, name, graph)
        active = _active(doc)
        if body.get("mark_as_active"):
            graphs.check(graph)
            await _gate(tx, caller, doc, number, graph)
            active = number
            await _set_active(tx, caller, doc, number)
        version = await wf.get_version_doc(tx, caller, workflow_id, number)
        return render(version, graph, active)


async def list_(store: Store, caller: Caller, workflow_id: str) -> JsonDict:
    """All versions of a workflow, oldest first (not paginated)."""
    async with store.begin() as tx:
        doc = await wf.get_doc(tx, caller, workflow_id)
        items = []
        for version in await _all(tx, caller, workflow_id):
            graph = await graphs.load(tx, caller.team_id, version)
            items.append(render(version, graph, _active(doc))["version"])
        return {"versions": items, "parent_active_version": _active(doc)}


async def get(store: Store, caller: Caller, workflow_id: str, number: int) -> JsonDict:
    """One version with its config."""
    async with store.begin() as tx:
        doc = await wf.get_doc(tx, caller, workflow_id)
        version = await wf.get_version_doc(tx, caller, workflow_id, number)
        return render(
            version, await graphs.load(tx, caller.team_id, version), _active(doc)
        )


async def rename(
    store: Store, caller: Caller, workflow_id: str, number: int, body: JsonDict
) -> JsonDict:
    """Change a version's name."""
    name = _version_name(body, "")
    async with store.begin() as tx:
        doc = await wf.get_doc(tx, caller, workflow_id)
        version = await wf.get_version_doc(tx, caller, workflow_id, number)
        version = replace(
            version,
            body={**version.body, "version_name": name},
            name=name,
            search_text=name.lower(),
            updated_at=wf.now(),
            updated_by=caller.user_id,
        )
        await tx.documents("workflow_versions").replace(version)
        return render(
            version, await graphs.load(tx, caller.team_id, version), _active(doc)
        )


async def replace_config(
    store: Store,
    caller: Caller,
    workflow_id: str,
    number: int,
    body: JsonDict,
    *,
    ceilings: ToolCeilings = ToolCeilings(),
    limits: graphs.GraphLimits | None = None,
) -> JsonDict:
    """Replace a version's config; a hydrated config also replaces its graph."""
    raw = body.get("config")
    if not isinstance(raw, dict):
        raise InvalidField(
            "config: must be a WorkflowConfig or a hydrated config object"
        )
    check_tools(raw, ceilings, "config")
    if wire.is_hydrated(raw):
        graphs.check_size(raw, limits or graphs.GraphLimits(), "config")
    async with store.begin() as tx:
        doc = await wf.get_doc(tx, caller, workflow_id)
        version = await wf.get_version_doc(tx, caller, workflow_id, number)
        current = await graphs.load(tx, caller.team_id, version)
        if wire.is_hydrated(raw):
            raw = restore_secrets(
                raw, current.hydrated(), field="config", keep_missing=False
            )
            graph = await asyncio.to_thread(
                graphs.parse_hydrated, raw, "config", limits
            )
            warnings = await asyncio.to_thread(graphs.check, graph)
        else:
            config = {k: v for k, v in raw.items() if k not in ("nodes", "edges")}
            graph = replace(
                current, workflow_config=wire.workflow_config(config, "config")
            )
            warnings = reference_warnings(graph.hydrated())
        new_body = {
            **version.body,
            "workflow_config": graph.workflow_config,
            "dynamic_variables": graph.dynamic_variables,
            "runtime_variables": graph.runtime_variables,
        }
        version = replace(
            version, body=new_body, updated_at=wf.now(), updated_by=caller.user_id
        )
        await tx.documents("workflow_versions").replace(version)
        if wire.is_hydrated(raw):
            graph = await graphs.store_parts(
                tx,
                caller,
                graph,
                workflow_id=workflow_id,
                version_number=number,
                now=version.updated_at,
            )
        result = render(version, graph, _active(doc))
        result["warnings"] = warnings + await knowledge_refs.warnings(
            tx, caller.team_id, graph.node_configs, graph.workflow_config
        )
        return result


async def delete(store: Store, caller: Caller, workflow_id: str, number: int) -> None:
    """Delete a version; version 0 and the active version cannot be deleted."""
    async with store.begin() as tx:
        doc = await wf.get_doc(tx, caller, workflow_id)
        version = await wf.get_version_doc(tx, caller, workflow_id, number)
        if number == 0:
            raise Conflict("version 0 is the workflow's draft and cannot be deleted")
        if number == _active(doc):
            raise Conflict(f"version {number} is active; activate another one first")
        tag = {"workflow_id": workflow_id, "version_number": number}
        for kind in ("nodes", "edges"):
            await tx.documents(kind).delete_where(caller.team_id, tag)
        await tx.documents("workflow_versions").delete(caller.team_id, version.id)


async def _gate(
    tx: Transaction, caller: Caller, doc: Document, number: int, graph: graphs.Graph
) -> None:
    """The replay-check gate (``replay_gate``)."""
    await replay_gate.check_activation(tx, caller, doc.id, number, graph.hydrated())


async def _set_active(
    tx: Transaction, caller: Caller, doc: Document, number: int
) -> Document:
    body = {**doc.body, "active_version_number": number}
    doc = replace(doc, body=body, updated_at=wf.now(), updated_by=caller.user_id)
    await tx.documents("workflows").replace(doc)
    return doc


async def activate(
    store: Store, caller: Caller, workflow_id: str, number: int
) -> JsonDict:
    """Validate a version and make it the active one; return the hydrated workflow."""
    async with store.begin() as tx:
        doc = await wf.get_doc(tx, caller, workflow_id)
        version = await wf.get_version_doc(tx, caller, workflow_id, number)
        graph = await graphs.load(tx, caller.team_id, version)
        graphs.check(graph)
        await _gate(tx, caller, doc, number, graph)
        doc = await _set_active(tx, caller, doc, number)
        return await wf.render(tx, caller, doc, hydrate=True)


async def list_active(
    store: Store, caller: Caller, query: Query, filters: JsonDict
) -> tuple[list[JsonDict], int]:
    """Every workflow's active version, filtered and paginated."""
    async with store.begin() as tx:
        docs, _ = await tx.documents("workflows").find(
            caller.team_id, replace(query, size=None)
        )
        favorites = await tx.favorite_ids(caller.team_id, caller.user_id)
        items = []
        for doc in docs:
            if filters.get("favorites") and doc.id not in favorites:
                continue
            if filters.get("created_by_me") and doc.created_by != caller.user_id:
                continue
            version = await wf.get_version_doc(tx, caller, doc.id, _active(doc))
            graph = await graphs.load(tx, caller.team_id, version)
            if not _matches(graph.workflow_config, filters):
                continue
            item = render(version, graph, _active(doc))["version"]
            item["workflow_name"] = doc.body.get("name")
            item["is_favorite"] = doc.id in favorites
            items.append(item)
    size = query.size or len(items) or 1
    start = (query.page - 1) * size
    return items[start : start + size], len(items)


def _matches(config: JsonDict, filters: JsonDict) -> bool:
    categories = set(filters.get("categories") or [])
    if filters.get("category"):
        categories.add(filters["category"])
    if categories and config.get("category") not in categories:
        return False
    logical_id = filters.get("logical_id")
    return not (logical_id and config.get("logical_id") != logical_id)
