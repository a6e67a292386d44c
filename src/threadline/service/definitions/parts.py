"""Nodes, edges and tools: the graph's building blocks as standalone documents.

A node or edge with a ``workflow_id`` belongs to that workflow's version
``version_number`` (default 0, the draft) and appears in its hydrated config.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from threadline.errors import Conflict, InvalidField, NotFound
from threadline.ids import is_object_id
from threadline.service.caller import Caller
from threadline.service.definitions import graph as graphs
from threadline.service.definitions import wire
from threadline.service.definitions import workflows as wf
from threadline.service.definitions.envelopes import stored_doc
from threadline.service.definitions.masking import mask_secrets, restore_secrets
from threadline.service.definitions.tool_limits import check_tools
from threadline.store import Document, Query, Store, Transaction
from threadline.tools.limits import ToolCeilings

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Kind:
    """How one family of parts is validated and rendered."""

    collection: str
    singular: str
    parse: Callable[[Any, str], JsonDict]
    versioned: bool


NODES = Kind("nodes", "node", wire.node, versioned=True)
EDGES = Kind("edges", "edge", wire.edge, versioned=True)
TOOLS = Kind("tools", "tool", wire.tool, versioned=False)


def render(kind: Kind, doc: Document) -> JsonDict:
    """``{<singular>: StoredDoc(<singular>_config)}`` without the outer key."""
    return stored_doc(doc, f"{kind.singular}_config", mask_secrets(doc.body))


async def _attach(
    tx: Transaction, caller: Caller, kind: Kind, body: JsonDict
) -> JsonDict:
    """Check the workflow (and version) a part names; default the version to 0."""
    workflow_id = body.get("workflow_id")
    if workflow_id is None:
        return body
    if not is_object_id(workflow_id):
        raise InvalidField(f"workflow_id: {workflow_id!r} is not a 24-hex id")
    await wf.get_doc(tx, caller, workflow_id)
    if not kind.versioned:
        return body
    number = body.get("version_number")
    if number is None:
        number = 0
    await wf.get_version_doc(tx, caller, workflow_id, number)
    return {**body, "version_number": number}


async def _check_unique(
    tx: Transaction, caller: Caller, kind: Kind, body: JsonDict, own_id: str | None
) -> None:
    if not kind.versioned or body.get("workflow_id") is None:
        return
    where = {
        "workflow_id": body["workflow_id"],
        "version_number": body.get("version_number"),
        "logical_id": body.get("logical_id"),
    }
    docs, _ = await tx.documents(kind.collection).find(
        caller.team_id, Query(equals=where)
    )
    if any(d.id != own_id for d in docs):
        raise Conflict(
            f"{kind.singular} logical_id {body.get('logical_id')!r} already exists in "
            f"workflow {body['workflow_id']!r} version {body.get('version_number')}"
        )


async def create(
    store: Store,
    caller: Caller,
    kind: Kind,
    raw: Any,
    *,
    ceilings: ToolCeilings = ToolCeilings(),
) -> JsonDict:
    """Validate and store a new part (its tools within the server's ceilings)."""
    body = kind.parse(raw, "")
    check_tools(body, ceilings)
    async with store.begin() as tx:
        body = await _attach(tx, caller, kind, body)
        await _check_unique(tx, caller, kind, body, None)
        doc = graphs.part_document(caller, body, wf.now())
        await tx.documents(kind.collection).insert(doc)
    return render(kind, doc)


async def _get_doc(
    tx: Transaction, caller: Caller, kind: Kind, part_id: str
) -> Document:
    doc = await tx.documents(kind.collection).get(caller.team_id, part_id)
    if doc is None:
        raise NotFound(f"{kind.singular} {part_id!r} not found")
    return doc


async def get(store: Store, caller: Caller, kind: Kind, part_id: str) -> JsonDict:
    """Read one part of the caller's team."""
    async with store.begin() as tx:
        return render(kind, await _get_doc(tx, caller, kind, part_id))


async def list_(
    store: Store, caller: Caller, kind: Kind, query: Query
) -> tuple[list[JsonDict], int]:
    """List the team's parts with filters and paging."""
    async with store.begin() as tx:
        docs, total = await tx.documents(kind.collection).find(caller.team_id, query)
    return [render(kind, d) for d in docs], total


async def update(
    store: Store,
    caller: Caller,
    kind: Kind,
    part_id: str,
    patch: Any,
    *,
    ceilings: ToolCeilings = ToolCeilings(),
) -> JsonDict:
    """Apply a partial update (only the keys given) and re-validate the whole part."""
    if not isinstance(patch, dict):
        raise InvalidField(f"body: a {kind.singular} update must be an object")
    async with store.begin() as tx:
        doc = await _get_doc(tx, caller, kind, part_id)
        merged = restore_secrets(
            {**doc.body, **patch}, doc.body, field="", keep_missing=False
        )
        body = kind.parse(merged, "")
        check_tools(body, ceilings)
        body = await _attach(tx, caller, kind, body)
        await _check_unique(tx, caller, kind, body, doc.id)
        fresh = graphs.part_document(caller, body, wf.now(), doc_id=doc.id)
        doc = replace(fresh, created_at=doc.created_at, created_by=doc.created_by)
        await tx.documents(kind.collection).replace(doc)
    return render(kind, doc)


async def delete(store: Store, caller: Caller, kind: Kind, part_id: str) -> None:
    """Delete one part."""
    async with store.begin() as tx:
        if not await tx.documents(kind.collection).delete(caller.team_id, part_id):
            raise NotFound(f"{kind.singular} {part_id!r} not found")
