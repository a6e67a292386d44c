"""Workflows: create (plain or hydrated), read, list, update, delete, favourites."""

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from threadline.errors import InvalidField, NotFound
from threadline.ids import new_object_id
from threadline.service import webhooks as hooks
from threadline.service.caller import Caller
from threadline.service.definitions import graph as graphs
from threadline.service.definitions import knowledge_refs, wire
from threadline.service.definitions.envelopes import stored_doc
from threadline.service.definitions.masking import mask_secrets
from threadline.service.definitions.tool_limits import check_tools
from threadline.store import Document, Query, Store, Transaction
from threadline.tools.limits import ToolCeilings

JsonDict = dict[str, Any]
INITIAL_VERSION_NAME = "Initial Version"


def now() -> datetime:
    """The service clock (UTC)."""
    return datetime.now(UTC)


def _search_text(name: Any, description: Any) -> str:
    return f"{name or ''} {description or ''}".lower()


async def get_doc(tx: Transaction, caller: Caller, workflow_id: str) -> Document:
    """Load a workflow of the caller's team or raise 404."""
    doc = await tx.documents("workflows").get(caller.team_id, workflow_id)
    if doc is None:
        raise NotFound(f"workflow {workflow_id!r} not found")
    return doc


async def get_version_doc(
    tx: Transaction, caller: Caller, workflow_id: str, version_number: int
) -> Document:
    """Load one version of a workflow or raise 404."""
    where = {"workflow_id": workflow_id, "version_number": version_number}
    # Unpaged (a number names one version): no count statement before the read.
    docs, _ = await tx.documents("workflow_versions").find(
        caller.team_id, Query(equals=where)
    )
    if not docs:
        raise NotFound(f"workflow {workflow_id!r} has no version {version_number}")
    return docs[0]


def version_document(
    caller: Caller,
    workflow_id: str,
    number: int,
    name: str,
    graph: graphs.Graph,
    at: datetime,
) -> Document:
    """Build a version document holding the graph's workflow-level config."""
    body = {
        "version_name": name,
        "workflow_config": graph.workflow_config,
        "dynamic_variables": graph.dynamic_variables,
        "runtime_variables": graph.runtime_variables,
    }
    return Document(
        id=new_object_id(),
        team_id=caller.team_id,
        body=body,
        created_at=at,
        updated_at=at,
        created_by=caller.user_id,
        updated_by=caller.user_id,
        workflow_id=workflow_id,
        version_number=number,
        name=name,
        search_text=name.lower(),
    )


async def insert_version(
    tx: Transaction,
    caller: Caller,
    workflow_id: str,
    number: int,
    name: str,
    graph: graphs.Graph,
) -> graphs.Graph:
    """Store a new version and its nodes and edges; return the graph with ids."""
    at = now()
    await tx.documents("workflow_versions").insert(
        version_document(caller, workflow_id, number, name, graph, at)
    )
    return await graphs.store_parts(
        tx, caller, graph, workflow_id=workflow_id, version_number=number, now=at
    )


def _named(graph: graphs.Graph, name: Any, description: Any) -> graphs.Graph:
    config = {**graph.workflow_config, "name": name, "description": description}
    return replace(graph, workflow_config=config)


def parse_create(
    body: JsonDict,
    ceilings: ToolCeilings = ToolCeilings(),
    limits: graphs.GraphLimits | None = None,
) -> tuple[str, str | None, graphs.Graph, list[JsonDict]]:
    """Read a create body (plain ``{name, config}`` or hydrated); validate it,
    its tools within the server's ceilings."""
    wire.check_graph_shape(body)
    wire.check_graph_shape(body.get("config"), "config")
    check_tools(body, ceilings)
    hydrated = wire.is_hydrated(body) or wire.is_hydrated(body.get("config"))
    source = body.get("config") if wire.is_hydrated(body.get("config")) else body
    inner = (source or {}).get("workflow_config") or {}
    name = body.get("name") or inner.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidField("name: a workflow needs a non-empty 'name'")
    description = body.get("description", inner.get("description"))
    if hydrated:
        graph = graphs.parse_hydrated(source or {}, limits=limits)
        warnings = graphs.check(graph) if graph.node_configs else []
    else:
        config = body.get("config") or {}
        if not isinstance(config, dict):
            raise InvalidField("config: must be an object")
        config = {k: v for k, v in config.items() if k not in ("nodes", "edges")}
        graph = graphs.Graph(workflow_config=wire.workflow_config(config, "config"))
        warnings = []
    return name.strip(), description, _named(graph, name.strip(), description), warnings


async def insert_workflow(
    tx: Transaction,
    caller: Caller,
    *,
    name: str,
    description: Any,
    active: int = 0,
    max_concurrent_runs: Any = None,
) -> Document:
    """Insert a workflow document (its versions are inserted separately)."""
    at = now()
    doc = Document(
        id=new_object_id(),
        team_id=caller.team_id,
        body={
            "name": name,
            "description": description,
            "active_version_number": active,
            "max_concurrent_runs": max_concurrent_runs,
        },
        created_at=at,
        updated_at=at,
        created_by=caller.user_id,
        updated_by=caller.user_id,
        name=name,
        search_text=_search_text(name, description),
    )
    await tx.documents("workflows").insert(doc)
    return doc


async def create(
    store: Store,
    caller: Caller,
    body: JsonDict,
    *,
    ceilings: ToolCeilings = ToolCeilings(),
    limits: graphs.GraphLimits | None = None,
) -> JsonDict:
    """Create a workflow with version 0 (active); hydrated bodies bring their graph."""
    # Parsing and validating a big graph is CPU work: off the event loop.
    parsed = await asyncio.to_thread(parse_create, body, ceilings, limits)
    name, description, graph, warnings = parsed
    async with store.begin() as tx:
        doc = await insert_workflow(tx, caller, name=name, description=description)
        graph = await insert_version(tx, caller, doc.id, 0, INITIAL_VERSION_NAME, graph)
        await hooks.on_workflow(tx, caller, "workflow_created", doc.id, name)
        hydrate = bool(graph.node_configs)
        result = await render(tx, caller, doc, hydrate=hydrate, graph=graph)
        warnings += await knowledge_refs.warnings(
            tx, caller.team_id, graph.node_configs, graph.workflow_config
        )
    result["warnings"] = warnings
    return result


async def render(
    tx: Transaction,
    caller: Caller,
    doc: Document,
    *,
    hydrate: bool,
    version_number: int | None = None,
    graph: graphs.Graph | None = None,
) -> JsonDict:
    """Render a workflow document with its active (or given) version's config.

    ``graph``: that version's graph when the caller has it (just written), so it
    is not read back.
    """
    body = doc.body
    number = (
        body.get("active_version_number", 0)
        if version_number is None
        else version_number
    )
    if graph is None:
        version = await get_version_doc(tx, caller, doc.id, number)
        graph = await graphs.load(tx, caller.team_id, version)
    graph = _named(graph, body.get("name"), body.get("description"))
    versions, _ = await tx.documents("workflow_versions").find(
        caller.team_id, Query(equals={"workflow_id": doc.id}, newest_first=False)
    )
    favorites = await tx.favorite_ids(caller.team_id, caller.user_id)
    config = mask_secrets(graph.hydrated() if hydrate else graph.config_with_ids())
    return stored_doc(
        doc,
        "workflow_config",
        config,
        name=body.get("name"),
        description=body.get("description"),
        active_version_number=body.get("active_version_number", 0),
        max_concurrent_runs=body.get("max_concurrent_runs"),
        is_favorite=doc.id in favorites,
        versions=[
            {
                "version_number": v.version_number,
                "version_name": v.body.get("version_name"),
                "is_active": v.version_number == body.get("active_version_number", 0),
                "created_at": v.created_at.isoformat(),
            }
            for v in versions
        ],
    )


async def get(
    store: Store,
    caller: Caller,
    workflow_id: str,
    *,
    hydrate: bool = False,
    version_number: int | None = None,
) -> JsonDict:
    """Read one workflow of the caller's team."""
    async with store.begin() as tx:
        doc = await get_doc(tx, caller, workflow_id)
        return await render(
            tx, caller, doc, hydrate=hydrate, version_number=version_number
        )


async def list_(
    store: Store, caller: Caller, query: Query
) -> tuple[list[JsonDict], int]:
    """List the team's workflows, newest first, with the active version's config."""
    async with store.begin() as tx:
        docs, total = await tx.documents("workflows").find(caller.team_id, query)
        return [await render(tx, caller, d, hydrate=False) for d in docs], total


async def update(
    store: Store, caller: Caller, workflow_id: str, body: JsonDict
) -> JsonDict:
    """Change a workflow's name and/or description (only the keys given)."""
    unknown = set(body) - {"name", "description"}
    if unknown:
        raise InvalidField(f"{sorted(unknown)[0]}: not an updatable workflow field")
    if "name" in body and (
        not isinstance(body["name"], str) or not body["name"].strip()
    ):
        raise InvalidField("name: must be a non-empty string")
    if "description" in body and not isinstance(body["description"], str | None):
        raise InvalidField("description: must be a string or null")
    async with store.begin() as tx:
        doc = await get_doc(tx, caller, workflow_id)
        new_body = {**doc.body, **body}
        doc = replace(
            doc,
            body=new_body,
            name=new_body.get("name"),
            search_text=_search_text(new_body.get("name"), new_body.get("description")),
            updated_at=now(),
            updated_by=caller.user_id,
        )
        await tx.documents("workflows").replace(doc)
        await hooks.on_workflow(tx, caller, "workflow_updated", doc.id, doc.name)
        return await render(tx, caller, doc, hydrate=False)


async def delete(store: Store, caller: Caller, workflow_id: str) -> None:
    """Delete a workflow with its versions, nodes and edges."""
    async with store.begin() as tx:
        await get_doc(tx, caller, workflow_id)
        await hooks.on_workflow(tx, caller, "workflow_deleted", workflow_id)
        for kind in ("workflow_versions", "nodes", "edges"):
            await tx.documents(kind).delete_where(
                caller.team_id, {"workflow_id": workflow_id}
            )
        await tx.documents("workflows").delete(caller.team_id, workflow_id)
        await tx.set_favorite(caller.team_id, caller.user_id, workflow_id, None)


async def set_concurrency(
    store: Store, caller: Caller, workflow_id: str, limit: int | None
) -> JsonDict:
    """Set (or clear, with None) the workflow's ``max_concurrent_runs``."""
    async with store.begin() as tx:
        doc = await get_doc(tx, caller, workflow_id)
        body = {**doc.body, "max_concurrent_runs": limit}
        await tx.documents("workflows").replace(
            replace(doc, body=body, updated_at=now(), updated_by=caller.user_id)
        )
    return {
        "workflow_id": workflow_id,
        "max_concurrent_runs": limit,
        "message": f"max_concurrent_runs set to {limit}",
    }


async def set_favorite(
    store: Store, caller: Caller, workflow_id: str, favorite: bool
) -> JsonDict:
    """Mark or unmark a workflow as the caller's favourite (idempotent)."""
    async with store.begin() as tx:
        await get_doc(tx, caller, workflow_id)
        at = now() if favorite else None
        await tx.set_favorite(caller.team_id, caller.user_id, workflow_id, at)
    return {"workflow_id": workflow_id, "is_favorite": favorite}
