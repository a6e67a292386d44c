"""Test-execute a tool (``POST /tools/execute`` inline, ``/tools/{id}/execute``),
and move one between teams (``GET /tools/{id}/export``, ``POST /tools/import``).

Thin: the confirm rule, side-effect inference and the response shape live in
``threadline.service.definitions.tool_runs``. A tool failure answers 200 with
``success: false``; only a bad request (422) or an unknown tool (404) is an error.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from threadline.api.deps import CallerDep, CeilingsDep, StoreDep
from threadline.api.routes.common import JsonBody, ObjectIdPath
from threadline.service.definitions import tool_bundles, tool_runs
from threadline.service.runtime import Runtime
from threadline.service.team.vendor_credentials import team_ports
from threadline.store import Store

router = APIRouter(tags=["tools"])


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _vendors(store: Store, caller: CallerDep, runtime: Runtime) -> dict[str, Any]:
    """The deployment's vendors, each filling in the team's credential."""
    return dict(team_ports(store, caller.team_id, runtime.llm, runtime.vendors)[1])


@router.post("/tools/execute", name="execute_inline_tool")
async def execute_inline(
    request: Request,
    store: StoreDep,
    caller: CallerDep,
    body: Annotated[Any, Body()],
) -> JsonBody:
    """Run an inline ``tool_config`` with ``args`` (validated like ``POST /tools``)."""
    runtime = _runtime(request)
    vendors = _vendors(store, caller, runtime)
    result = await tool_runs.execute_inline(runtime, body, caller, vendors)
    return result.to_json()


@router.post("/tools/{tool_id}/execute", name="execute_tool")
async def execute_saved(
    request: Request,
    store: StoreDep,
    caller: CallerDep,
    tool_id: ObjectIdPath,
    body: Annotated[Any, Body()] = None,
) -> JsonBody:
    """Run the team's saved tool with ``args``; another team's tool is a 404."""
    runtime = _runtime(request)
    result = await tool_runs.execute_saved(
        store,
        caller,
        runtime,
        tool_id,
        body if body is not None else {},
        _vendors(store, caller, runtime),
    )
    return result.to_json()


@router.get("/tools/{tool_id}/export", name="export_tool")
async def export_tool(
    store: StoreDep, caller: CallerDep, tool_id: ObjectIdPath
) -> JsonBody:
    """The tool as a portable bundle; secrets redacted and listed in ``redactions``."""
    return await tool_bundles.export(store, caller, tool_id)


@router.post("/tools/import", name="import_tool")
async def import_tool(
    store: StoreDep,
    caller: CallerDep,
    ceilings: CeilingsDep,
    body: Annotated[Any, Body()],
) -> JsonBody:
    """Create a tool from a bundle (``confirm_executable`` for inline Python)."""
    return await tool_bundles.import_bundle(store, caller, body, ceilings=ceilings)
