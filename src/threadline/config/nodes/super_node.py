"""The super_node node: another published workflow embedded as one node."""

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from threadline.config.llm import LLMOrGroupConfig
from threadline.config.nodes.base import BaseNodeConfig, NodeCategory
from threadline.config.super_node import SuperNodeInterface

if TYPE_CHECKING:
    from threadline.config.workflow import WorkflowConfigFullyHydrated


class SuperNodeReverseEdgeScope(StrEnum):
    """Which inlined LLM nodes receive the super node's reverse conditional edge."""

    ALL_INTERIOR_LLM_NODES = "all_interior_llm_nodes"
    TERMINAL_NODES = "terminal_nodes"


class SuperNodeConfig(BaseNodeConfig):
    """Embeds a sub-workflow; expanded into the parent graph at run time.

    ``encapsulated_workflow_config`` is resolved when ``threadline.config.workflow``
    is imported (the package ``__init__`` does that).
    """

    type: Literal["super_node"] = "super_node"
    primary_category: str | None = NodeCategory.SUPER_NODE.value
    secondary_category: str | None = NodeCategory.SUPER_NODE.value
    super_workflow_id: str | None = None
    super_workflow_version_number: int | None = None
    field_values: dict[str, Any] = {}
    override_llm_config: bool = False
    override_only_workflow_default_nodes: bool = False
    attachable_llm_config_id: str | None = None
    llms_config: LLMOrGroupConfig | None = None
    reverse_edge_scope: SuperNodeReverseEdgeScope | None = None
    super_node_interface: SuperNodeInterface | None = None
    encapsulated_workflow_config: "WorkflowConfigFullyHydrated | None" = None
