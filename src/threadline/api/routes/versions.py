"""Workflow versions, their diff, and the list of active versions."""

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response

from threadline.api.deps import (
    CallerDep,
    CeilingsDep,
    PagingDep,
    SettingsDep,
    StoreDep,
)
from threadline.api.params import VersionNumber, graph_limits
from threadline.api.routes.common import (
    JsonBody,
    WorkflowId,
    save_warnings,
    workflow_envelope,
)
from threadline.service.definitions import diff, versions
from threadline.service.definitions.envelopes import page

router = APIRouter(tags=["versions"])


@router.get("/workflows/versions/active")
async def list_active_versions(
    store: StoreDep,
    caller: CallerDep,
    paging: PagingDep,
    favorites: bool = False,
    created_by_me: bool = False,
    category: str | None = None,
    categories: Annotated[list[str] | None, Query()] = None,
    logical_id: str | None = None,
) -> JsonBody:
    """Every workflow's active version (filters: favourites, mine, categories)."""
    filters = {
        "favorites": favorites,
        "created_by_me": created_by_me,
        "category": category,
        "categories": categories,
        "logical_id": logical_id,
    }
    items, total = await versions.list_active(store, caller, paging, filters)
    return page("versions", items, total, page=paging.page, size=paging.size)


@router.post("/workflows/{workflow_id}/versions")
async def create_version(
    store: StoreDep,
    caller: CallerDep,
    workflow_id: WorkflowId,
    body: Annotated[JsonBody | None, Body()] = None,
) -> JsonBody:
    """Snapshot a version (default: the active one) as a new version."""
    return await versions.create(store, caller, workflow_id, body or {})


@router.get("/workflows/{workflow_id}/versions")
async def list_versions(
    store: StoreDep, caller: CallerDep, workflow_id: WorkflowId
) -> JsonBody:
    """All versions of the workflow (not paginated)."""
    return await versions.list_(store, caller, workflow_id)


@router.get("/workflows/{workflow_id}/versions/{version_number}")
async def get_version(
    store: StoreDep,
    caller: CallerDep,
    workflow_id: WorkflowId,
    version_number: VersionNumber,
) -> JsonBody:
    """One version."""
    return await versions.get(store, caller, workflow_id, version_number)


@router.patch("/workflows/{workflow_id}/versions/{version_number}")
async def rename_version(
    store: StoreDep,
    caller: CallerDep,
    workflow_id: WorkflowId,
    version_number: VersionNumber,
    body: Annotated[JsonBody, Body()],
) -> JsonBody:
    """Rename a version: ``{version_name}``."""
    return await versions.rename(store, caller, workflow_id, version_number, body)


@router.patch("/workflows/{workflow_id}/versions/{version_number}/config")
async def replace_version_config(
    store: StoreDep,
    caller: CallerDep,
    ceilings: CeilingsDep,
    workflow_id: WorkflowId,
    version_number: VersionNumber,
    body: Annotated[JsonBody, Body()],
    settings: SettingsDep,
) -> JsonBody:
    """Replace a version's config: ``{config: WorkflowConfig | hydrated}``;
    ``warnings`` name references to managed prompts the team does not have."""
    done = await versions.replace_config(
        store,
        caller,
        workflow_id,
        version_number,
        body,
        ceilings=ceilings,
        limits=graph_limits(settings),
    )
    found = await save_warnings(store, caller, settings, body)
    if found:
        done["warnings"] = [*(done.get("warnings") or []), *found]
    return done


@router.delete("/workflows/{workflow_id}/versions/{version_number}", status_code=204)
async def delete_version(
    store: StoreDep,
    caller: CallerDep,
    workflow_id: WorkflowId,
    version_number: VersionNumber,
) -> Response:
    """Delete a version (not version 0, not the active one)."""
    await versions.delete(store, caller, workflow_id, version_number)
    return Response(status_code=204)


@router.post("/workflows/{workflow_id}/versions/{version_number}/activate")
async def activate_version(
    request: Request,
    store: StoreDep,
    caller: CallerDep,
    settings: SettingsDep,
    workflow_id: WorkflowId,
    version_number: VersionNumber,
) -> JsonBody:
    """Validate the version and make it active."""
    doc = await versions.activate(store, caller, workflow_id, version_number)
    return workflow_envelope(request, settings, doc)


@router.get("/workflows/{workflow_id}/versions/{v1}/diff/{v2}")
async def diff_versions(
    store: StoreDep,
    caller: CallerDep,
    workflow_id: WorkflowId,
    v1: VersionNumber,
    v2: VersionNumber,
) -> JsonBody:
    """Structured diff of version ``v1`` against ``v2``."""
    return await diff.diff(store, caller, workflow_id, v1, v2)
