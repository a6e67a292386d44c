"""Reuse: super nodes (publish, read, unpublish, dependents, expand preview,
snapshot status), workflow templates and node libraries.

Paths, bodies and envelopes follow the Interactly SDK (``SuperNodesResource``,
``TemplatesResource``, ``NodeLibrariesResource``):

- ``PUT /workflows/{id}/super-node-interface`` ``{"interface": SuperNodeInterface}``
  → ``{workflow_id, workflow_version_number, message, num_input_fields}``;
- ``GET /super-nodes`` → a bare array of summaries; ``GET /super-nodes/{id}`` and
  ``/schema`` (``version_number``); ``DELETE /workflows/{id}/super-node-interface``
  (``version_number``, ``dry_run``); ``GET /workflows/{id}/super-node-dependents``
  (``page``, ``size``); ``POST /workflows/{id}/expand-preview`` (``version_number``);
  ``GET /workflows/{id}/super-node-snapshot-status``;
- ``/templates`` and ``/node-libraries``: create (the config is the body), list
  (``page``, ``size``, ``search``, ``access_level``), ``/schema``, get, PATCH (a
  partial config), DELETE (204). Single objects are ``{"workflow_template": ...}``
  / ``{"node_library": ...}``, lists ``{"workflow_templates" | "node_libraries":
  [...], "total", "page", "size"}``.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from threadline.api.deps import CallerDep, StoreDep
from threadline.api.params import Page, VersionQuery
from threadline.api.routes.common import JsonBody, ObjectIdPath, WorkflowId
from threadline.ids import OBJECT_ID_PATTERN
from threadline.service.definitions.envelopes import page as envelope
from threadline.service.reuse import node_libraries, templates
from threadline.service.reuse import super_nodes_api as sn
from threadline.service.reuse.access import LevelFilter, LevelQuery

router = APIRouter(tags=["reuse"])
AnyBody = Annotated[Any, Body()]
Size = Annotated[int, Query(ge=1, le=100)]
Search = Annotated[str | None, Query()]
HexQuery = Annotated[str | None, Query(pattern=OBJECT_ID_PATTERN)]

# ------------------------------------------------------------- super nodes


@router.put("/workflows/{workflow_id}/super-node-interface", name="publish_super_node")
async def publish(
    store: StoreDep,
    caller: CallerDep,
    workflow_id: WorkflowId,
    body: AnyBody,
    version_number: VersionQuery = None,
) -> JsonBody:
    """Publish the workflow's active (or given) version as a super node."""
    return await sn.publish(store, caller, workflow_id, body, version_number)


@router.delete(
    "/workflows/{workflow_id}/super-node-interface", name="unpublish_super_node"
)
async def unpublish(
    store: StoreDep,
    caller: CallerDep,
    workflow_id: WorkflowId,
    version_number: VersionQuery = None,
    dry_run: bool = False,
) -> JsonBody:
    """Unpublish (``dry_run``: only report the workflows referencing it)."""
    return await sn.unpublish(
        store, caller, workflow_id, version_number, dry_run=dry_run
    )


@router.get(
    "/workflows/{workflow_id}/super-node-dependents", name="list_super_node_dependents"
)
async def dependents(
    store: StoreDep,
    caller: CallerDep,
    workflow_id: WorkflowId,
    page: Page = 1,
    size: Size = 20,
) -> JsonBody:
    """Workflows embedding this one as a super node, paged."""
    return await sn.dependents(store, caller, workflow_id, page=page, size=size)


@router.post("/workflows/{workflow_id}/expand-preview", name="expand_preview")
async def expand_preview(
    store: StoreDep,
    caller: CallerDep,
    workflow_id: WorkflowId,
    version_number: VersionQuery = None,
) -> JsonBody:
    """The config with every super node inlined (nothing is stored)."""
    return await sn.expand_preview(store, caller, workflow_id, version_number)


@router.get(
    "/workflows/{workflow_id}/super-node-snapshot-status",
    name="super_node_snapshot_status",
)
async def snapshot_status(
    store: StoreDep, caller: CallerDep, workflow_id: WorkflowId
) -> JsonBody:
    """Whether the published and embedded super-node snapshots are current."""
    return await sn.snapshot_status(store, caller, workflow_id)


@router.get("/super-nodes", name="list_super_nodes")
async def list_super_nodes(store: StoreDep, caller: CallerDep) -> list[JsonBody]:
    """Every published super node of the team (a bare array, not paged)."""
    return await sn.list_(store, caller)


@router.get("/super-nodes/{workflow_id}", name="get_super_node")
async def get_super_node(
    store: StoreDep,
    caller: CallerDep,
    workflow_id: WorkflowId,
    version_number: VersionQuery = None,
) -> JsonBody:
    """The interface and encapsulated config of a published version."""
    return await sn.get(store, caller, workflow_id, version_number)


@router.get("/super-nodes/{workflow_id}/schema", name="get_super_node_schema")
async def get_super_node_schema(
    store: StoreDep,
    caller: CallerDep,
    workflow_id: WorkflowId,
    version_number: VersionQuery = None,
) -> JsonBody:
    """JSON Schema of the super node's ``field_values``."""
    return await sn.input_schema(store, caller, workflow_id, version_number)


# ------------------------------------------------------------- templates


@router.get("/templates/schema", name="get_workflow_template_schema")
async def template_schema(caller: CallerDep) -> JsonBody:
    """``{"config_schema": <JSON Schema of WorkflowTemplateConfig>}``."""
    return templates.schema()


@router.post("/templates", name="create_workflow_template")
async def create_template(
    store: StoreDep, caller: CallerDep, body: AnyBody
) -> JsonBody:
    """Create a template (``system`` is refused with 403)."""
    return {"workflow_template": await templates.create(store, caller, body)}


@router.get("/templates", name="list_workflow_templates")
async def list_templates(
    store: StoreDep,
    caller: CallerDep,
    page: Page = 1,
    size: Size = 20,
    search: Search = None,
    logical_id: str | None = None,
    workflow_id: HexQuery = None,
    access_level: LevelQuery = LevelFilter.ALL,
) -> JsonBody:
    """Templates the caller may read, newest first."""
    items, total = await templates.list_(
        store,
        caller,
        page=page,
        size=size,
        search=search,
        logical_id=logical_id,
        workflow_id=workflow_id,
        access_level=access_level,
    )
    return envelope("workflow_templates", items, total, page=page, size=size)


@router.get("/templates/{template_id}", name="get_workflow_template")
async def get_template(
    store: StoreDep, caller: CallerDep, template_id: ObjectIdPath
) -> JsonBody:
    return {"workflow_template": await templates.get(store, caller, template_id)}


@router.patch("/templates/{template_id}", name="update_workflow_template")
async def update_template(
    store: StoreDep, caller: CallerDep, template_id: ObjectIdPath, body: AnyBody
) -> JsonBody:
    return {
        "workflow_template": await templates.update(store, caller, template_id, body)
    }


@router.delete(
    "/templates/{template_id}", status_code=204, name="delete_workflow_template"
)
async def delete_template(
    store: StoreDep, caller: CallerDep, template_id: ObjectIdPath
) -> Response:
    await templates.delete(store, caller, template_id)
    return Response(status_code=204)


# ------------------------------------------------------------- node libraries


@router.get("/node-libraries/schema", name="get_node_library_schema")
async def library_schema(caller: CallerDep) -> JsonBody:
    """``{"config_schema": <JSON Schema of NodeLibraryConfig>}``."""
    return node_libraries.schema()


@router.post("/node-libraries", name="create_node_library")
async def create_library(store: StoreDep, caller: CallerDep, body: AnyBody) -> JsonBody:
    """Create a node library (``system`` is refused with 403)."""
    return {"node_library": await node_libraries.create(store, caller, body)}


@router.get("/node-libraries", name="list_node_libraries")
async def list_libraries(
    store: StoreDep,
    caller: CallerDep,
    page: Page = 1,
    size: Size = 20,
    search: Search = None,
    access_level: LevelQuery = LevelFilter.ALL,
) -> JsonBody:
    """Node libraries the caller may read, newest first."""
    items, total = await node_libraries.list_(
        store, caller, page=page, size=size, search=search, access_level=access_level
    )
    return envelope("node_libraries", items, total, page=page, size=size)


@router.get("/node-libraries/{library_id}", name="get_node_library")
async def get_library(
    store: StoreDep, caller: CallerDep, library_id: ObjectIdPath
) -> JsonBody:
    return {"node_library": await node_libraries.get(store, caller, library_id)}


@router.patch("/node-libraries/{library_id}", name="update_node_library")
async def update_library(
    store: StoreDep, caller: CallerDep, library_id: ObjectIdPath, body: AnyBody
) -> JsonBody:
    return {
        "node_library": await node_libraries.update(store, caller, library_id, body)
    }


@router.delete(
    "/node-libraries/{library_id}", status_code=204, name="delete_node_library"
)
async def delete_library(
    store: StoreDep, caller: CallerDep, library_id: ObjectIdPath
) -> Response:
    await node_libraries.delete(store, caller, library_id)
    return Response(status_code=204)
