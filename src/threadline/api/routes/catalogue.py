"""Type catalogues, JSON schemas, inbuilt tools, categories and dynamic variables."""

from typing import Any

from fastapi import APIRouter

from threadline.api.deps import CallerDep, StoreDep
from threadline.api.routes.common import JsonBody, WorkflowId
from threadline.service.definitions import catalogue, variables

router = APIRouter(tags=["catalogue"])


@router.get("/nodes/types")
async def node_types(_: CallerDep) -> JsonBody:
    """Node types with their categories."""
    return catalogue.node_types()


@router.get("/nodes/schema/{node_type}")
async def node_schema(_: CallerDep, node_type: str) -> JsonBody:
    """Config, run-input and run-output JSON schemas of a node type."""
    return catalogue.node_schema(node_type)


@router.get("/edges/types")
async def edge_types(_: CallerDep) -> JsonBody:
    """Edge types."""
    return catalogue.edge_types()


@router.get("/edges/schema/{edge_type}")
async def edge_schema(_: CallerDep, edge_type: str) -> JsonBody:
    """Config JSON schema of an edge type."""
    return catalogue.edge_schema(edge_type)


@router.get("/tools/types")
async def tool_types(_: CallerDep) -> JsonBody:
    """Tool types."""
    return catalogue.tool_types()


@router.get("/tools/schema/{tool_type}")
async def tool_schema(_: CallerDep, tool_type: str) -> JsonBody:
    """Config JSON schema of a tool type."""
    return catalogue.tool_schema(tool_type)


@router.get("/tools/inbuilt")
async def inbuilt_tools(_: CallerDep) -> JsonBody:
    """The inbuilt function catalogue."""
    return catalogue.inbuilt_tools()


@router.get("/tools/configurable-inbuilt")
async def configurable_inbuilt_tools(_: CallerDep) -> JsonBody:
    """Inbuilt tools that take a configuration."""
    return catalogue.configurable_inbuilt_tools()


@router.get("/tools/configurable-inbuilt/{key}")
async def configurable_inbuilt_tool(_: CallerDep, key: str) -> JsonBody:
    """One configurable inbuilt tool with its config schema."""
    return catalogue.configurable_inbuilt_tool(key)


@router.get("/workflows/schema")
async def workflow_schema(_: CallerDep) -> JsonBody:
    """JSON schema of a valid workflow config."""
    return catalogue.workflow_schema()


@router.get("/workflows/schemas/global-node-config")
async def global_node_config_schema(_: CallerDep) -> JsonBody:
    """JSON schema of ``GlobalNodeConfig``."""
    return catalogue.global_node_config_schema()


@router.get("/workflows/dynamic-variables/{workflow_id}")
async def dynamic_variables(
    store: StoreDep, caller: CallerDep, workflow_id: WorkflowId
) -> JsonBody:
    """The ``{{dynamic}}`` variables the workflow's active version uses."""
    return await variables.dynamic_variables(store, caller, workflow_id)


@router.get("/workflow-categories")
async def categories(store: StoreDep, caller: CallerDep) -> dict[str, Any]:
    """Category names: the defaults plus every category the team uses."""
    return await variables.categories(store, caller)
