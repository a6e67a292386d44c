"""Nodes, edges and tools: create, list, get, partial update, delete."""

from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from threadline.api.deps import CallerDep, CeilingsDep, PagingDep, StoreDep
from threadline.api.params import VersionQuery
from threadline.api.routes.common import JsonBody, ObjectIdPath
from threadline.ids import OBJECT_ID_PATTERN
from threadline.service.definitions import parts
from threadline.service.definitions.envelopes import page
from threadline.store import Query as StoreQuery

router = APIRouter()

WorkflowFilter = Annotated[str | None, Query(pattern=OBJECT_ID_PATTERN)]


def _filtered(
    paging: StoreQuery,
    type_: str | None,
    workflow_id: str | None,
    version_number: int | None,
) -> StoreQuery:
    equals: dict[str, Any] = {}
    if type_ is not None:
        equals["type"] = type_
    if workflow_id is not None:
        equals["workflow_id"] = workflow_id
    if version_number is not None:
        equals["version_number"] = version_number
    return StoreQuery(
        equals=equals,
        search=paging.search,
        start=paging.start,
        end=paging.end,
        page=paging.page,
        size=paging.size,
    )


def _register(kind: parts.Kind) -> None:
    base = f"/{kind.collection}"
    tag: list[str | Enum] = [kind.collection]

    @router.post(base, tags=tag, name=f"create_{kind.singular}")
    async def create(
        store: StoreDep,
        caller: CallerDep,
        ceilings: CeilingsDep,
        body: Annotated[Any, Body()],
    ) -> JsonBody:
        created = await parts.create(store, caller, kind, body, ceilings=ceilings)
        return {kind.singular: created}

    @router.get(base, tags=tag, name=f"list_{kind.collection}")
    async def list_(
        store: StoreDep,
        caller: CallerDep,
        paging: PagingDep,
        type: str | None = None,
        workflow_id: WorkflowFilter = None,
        version_number: VersionQuery = None,
    ) -> JsonBody:
        query = _filtered(paging, type, workflow_id, version_number)
        items, total = await parts.list_(store, caller, kind, query)
        return page(kind.collection, items, total, page=query.page, size=query.size)

    @router.get(f"{base}/{{part_id}}", tags=tag, name=f"get_{kind.singular}")
    async def get(
        store: StoreDep, caller: CallerDep, part_id: ObjectIdPath
    ) -> JsonBody:
        return {kind.singular: await parts.get(store, caller, kind, part_id)}

    @router.patch(f"{base}/{{part_id}}", tags=tag, name=f"update_{kind.singular}")
    async def update(
        store: StoreDep,
        caller: CallerDep,
        ceilings: CeilingsDep,
        part_id: ObjectIdPath,
        body: Annotated[Any, Body()],
    ) -> JsonBody:
        updated = await parts.update(
            store, caller, kind, part_id, body, ceilings=ceilings
        )
        return {kind.singular: updated}

    @router.delete(
        f"{base}/{{part_id}}", tags=tag, status_code=204, name=f"delete_{kind.singular}"
    )
    async def delete(
        store: StoreDep, caller: CallerDep, part_id: ObjectIdPath
    ) -> Response:
        await parts.delete(store, caller, kind, part_id)
        return Response(status_code=204)


for _kind in (parts.NODES, parts.EDGES, parts.TOOLS):
    _register(_kind)
