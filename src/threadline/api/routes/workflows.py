"""Workflows: CRUD, clone, concurrency, export/import, favourites."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, Field

from threadline.api.deps import (
    CallerDep,
    CeilingsDep,
    PagingDep,
    SettingsDep,
    StoreDep,
)
from threadline.api.params import INT32_MAX, VersionItem, VersionQuery, graph_limits
from threadline.api.routes.common import (
    JsonBody,
    WorkflowId,
    json_off_loop,
    save_warnings,
    workflow_envelope,
)
from threadline.service.definitions import bundles, workflows
from threadline.service.definitions.envelopes import page
from threadline.service.running import run_commands

router = APIRouter(tags=["workflows"])


@router.post("/workflows", response_model=JsonBody)
async def create_workflow(
    request: Request,
    store: StoreDep,
    caller: CallerDep,
    settings: SettingsDep,
    ceilings: CeilingsDep,
    body: Annotated[JsonBody, Body()],
) -> Response:
    """Create a workflow: ``{name, description, config}`` or a hydrated config."""
    limits = graph_limits(settings)
    doc = await workflows.create(store, caller, body, ceilings=ceilings, limits=limits)
    found = await save_warnings(store, caller, settings, body)
    doc["warnings"] = [*(doc.get("warnings") or []), *found]
    return await json_off_loop(workflow_envelope(request, settings, doc))


@router.get("/workflows")
async def list_workflows(
    store: StoreDep, caller: CallerDep, paging: PagingDep
) -> JsonBody:
    """List the team's workflows (page, size, search, start, end)."""
    items, total = await workflows.list_(store, caller, paging)
    return page("workflows", items, total, page=paging.page, size=paging.size)


@router.post("/workflows/import/bundle")
async def import_bundle(
    request: Request,
    store: StoreDep,
    caller: CallerDep,
    settings: SettingsDep,
    ceilings: CeilingsDep,
    body: Annotated[JsonBody, Body()],
) -> JsonBody:
    """Create a workflow from an exported bundle."""
    doc = await bundles.import_bundle(
        store, caller, body, ceilings=ceilings, limits=graph_limits(settings)
    )
    return workflow_envelope(request, settings, doc)


@router.get("/workflows/{workflow_id}")
async def get_workflow(
    request: Request,
    store: StoreDep,
    caller: CallerDep,
    settings: SettingsDep,
    workflow_id: WorkflowId,
    fully_hydrate: bool = False,
    version_number: VersionQuery = None,
) -> JsonBody:
    """Read a workflow; ``fully_hydrate=true`` inlines its nodes and edges."""
    doc = await workflows.get(
        store, caller, workflow_id, hydrate=fully_hydrate, version_number=version_number
    )
    return workflow_envelope(request, settings, doc)


@router.patch("/workflows/{workflow_id}")
async def update_workflow(
    request: Request,
    store: StoreDep,
    caller: CallerDep,
    settings: SettingsDep,
    workflow_id: WorkflowId,
    body: Annotated[JsonBody, Body()],
) -> JsonBody:
    """Change ``name`` and/or ``description``."""
    doc = await workflows.update(store, caller, workflow_id, body)
    return workflow_envelope(request, settings, doc)


@router.delete("/workflows/{workflow_id}", status_code=204)
async def delete_workflow(
    store: StoreDep, caller: CallerDep, workflow_id: WorkflowId
) -> Response:
    """Delete a workflow with all its versions, nodes and edges."""
    await workflows.delete(store, caller, workflow_id)
    return Response(status_code=204)


class CloneBody(BaseModel):
    """Body of ``POST /workflows/{id}/clone``."""

    name: str | None = None
    description: str | None = None
    clone_all_versions: bool = True
    version_numbers_to_clone: list[VersionItem] | None = None
    fallback_active_version: int | None = Field(default=None, ge=0, le=INT32_MAX)


@router.post("/workflows/{workflow_id}/clone")
async def clone_workflow(
    request: Request,
    store: StoreDep,
    caller: CallerDep,
    settings: SettingsDep,
    workflow_id: WorkflowId,
    body: CloneBody | None = None,
) -> JsonBody:
    """Deep-copy a workflow with all or some of its versions."""
    raw = (body or CloneBody()).model_dump(exclude_none=True)
    doc = await bundles.clone(store, caller, workflow_id, raw)
    return workflow_envelope(request, settings, doc)


class ConcurrencyBody(BaseModel):
    """Body of ``PATCH /workflows/{id}/concurrency``."""

    max_concurrent_runs: int | None = Field(ge=1, le=INT32_MAX)


@router.patch("/workflows/{workflow_id}/concurrency")
async def set_concurrency(
    store: StoreDep, caller: CallerDep, workflow_id: WorkflowId, body: ConcurrencyBody
) -> JsonBody:
    """Set the most runs of this workflow that may be active at once."""
    return await workflows.set_concurrency(
        store, caller, workflow_id, body.max_concurrent_runs
    )


class MultitaskBody(BaseModel):
    """Body of ``PATCH /workflows/{id}/multitask``."""

    multitask_strategy: str


@router.patch("/workflows/{workflow_id}/multitask")
async def set_multitask(
    store: StoreDep, caller: CallerDep, workflow_id: WorkflowId, body: MultitaskBody
) -> JsonBody:
    """What a command arriving during a running turn does: ``enqueue`` (default),
    ``reject`` (409) or ``interrupt`` (the running turn stops, then it runs)."""
    return await run_commands.set_policy(
        store, caller, workflow_id, body.multitask_strategy
    )


@router.get("/workflows/{workflow_id}/export")
async def export_workflow(
    store: StoreDep,
    caller: CallerDep,
    workflow_id: WorkflowId,
    version_numbers: Annotated[list[VersionItem] | None, Query()] = None,
    active_version_number: VersionQuery = None,
) -> JsonBody:
    """Export a portable bundle of the selected versions."""
    return await bundles.export(
        store, caller, workflow_id, version_numbers, active_version_number
    )


@router.post("/workflows/{workflow_id}/favorite")
async def favorite(
    store: StoreDep, caller: CallerDep, workflow_id: WorkflowId
) -> dict[str, Any]:
    """Mark the workflow as the caller's favourite (idempotent)."""
    return await workflows.set_favorite(store, caller, workflow_id, True)


@router.delete("/workflows/{workflow_id}/favorite")
async def unfavorite(
    store: StoreDep, caller: CallerDep, workflow_id: WorkflowId
) -> dict[str, Any]:
    """Remove the workflow from the caller's favourites (idempotent)."""
    return await workflows.set_favorite(store, caller, workflow_id, False)
