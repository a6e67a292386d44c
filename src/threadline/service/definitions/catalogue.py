"""Type catalogues and JSON schemas: node, edge and tool types, inbuilt tools."""

from functools import cache
from typing import Any

from pydantic import BaseModel, TypeAdapter

from threadline import config
from threadline.errors import NotFound
from threadline.tools.inbuilt import CONFIGURABLE_INBUILT_TOOLS, INBUILT_TOOLS

JsonDict = dict[str, Any]

EDGE_MODELS: dict[str, type[BaseModel]] = {
    "direct": config.DirectEdgeConfig,
    "conditional": config.ConditionalEdgeConfig,
    "companion": config.CompanionEdgeConfig,
}
TOOL_MODELS: dict[str, type[BaseModel]] = {
    "inbuilt_function": config.InbuiltFunctionToolConfig,
    "inline_python": config.InlinePythonToolConfig,
    "external_api": config.ExternalAPIToolConfig,
    "knowledge_base": config.KnowledgeBaseToolConfig,
}


def _inline_root(schema: JsonDict) -> JsonDict:
    """Expand a root ``$ref`` (recursive models) so ``properties`` sits at the top."""
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
        return schema
    defs = schema.get("$defs", {})
    return {**defs[ref.rsplit("/", 1)[-1]], "$defs": defs}


def node_types() -> JsonDict:
    """``{"node_types": [{type, primary_category, secondary_category}]}``."""
    rows = [
        {
            "type": info.type,
            "primary_category": info.primary_category,
            "secondary_category": info.secondary_category,
        }
        for info in config.NODE_TYPES.values()
    ]
    return {"node_types": rows}


@cache
def node_schema(node_type: str) -> JsonDict:
    """The config, run-input and run-output schemas of one node type."""
    info = config.NODE_TYPES.get(node_type)
    if info is None:
        raise NotFound(f"unknown node type {node_type!r}")
    return {
        "config_schema": _inline_root(info.model.model_json_schema()),
        "run_input_schema": TypeAdapter(config.NodeRunInput).json_schema(),
        "run_output_schema": TypeAdapter(config.NodeRunOutput).json_schema(),
    }


def edge_types() -> JsonDict:
    """``{"edge_types": [...]}``."""
    return {"edge_types": list(EDGE_MODELS)}


@cache
def edge_schema(edge_type: str) -> JsonDict:
    """The config schema of one edge type."""
    model = EDGE_MODELS.get(edge_type)
    if model is None:
        raise NotFound(f"unknown edge type {edge_type!r}")
    return {"config_schema": _inline_root(model.model_json_schema())}


def tool_types() -> JsonDict:
    """``{"tool_types": [...]}``."""
    return {"tool_types": list(TOOL_MODELS)}


@cache
def tool_schema(tool_type: str) -> JsonDict:
    """The config schema of one tool type."""
    model = TOOL_MODELS.get(tool_type)
    if model is None:
        raise NotFound(f"unknown tool type {tool_type!r}")
    return {"config_schema": _inline_root(model.model_json_schema())}


def inbuilt_tools() -> JsonDict:
    """``{"inbuilt_tools": [...]}``: functions usable by ``tool_id``."""
    return {"inbuilt_tools": [t.describe() for t in INBUILT_TOOLS.values()]}


def configurable_inbuilt_tools() -> JsonDict:
    """``{"configurable_inbuilt_tools": [...]}``."""
    return {"configurable_inbuilt_tools": list(CONFIGURABLE_INBUILT_TOOLS.values())}


def configurable_inbuilt_tool(key: str) -> JsonDict:
    """One configurable inbuilt tool with its config schema."""
    tool = CONFIGURABLE_INBUILT_TOOLS.get(key)
    if tool is None:
        raise NotFound(f"unknown configurable inbuilt tool {key!r}")
    return tool


@cache
def workflow_schema() -> JsonDict:
    """The JSON schema of a valid workflow config (``WorkflowConfig``)."""
    return _inline_root(config.WorkflowConfig.model_json_schema())


@cache
def global_node_config_schema() -> JsonDict:
    """The JSON schema of ``GlobalNodeConfig``."""
    return _inline_root(config.GlobalNodeConfig.model_json_schema())
