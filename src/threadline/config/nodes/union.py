"""The ``NodeConfig`` union, the node-type table, and the two models it is
recursive with: the super node, which embeds a fully hydrated workflow, and the
fully hydrated workflow, whose nodes are this union. The three live in one module so
that no import runs in a circle.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import Field, SecretStr

from threadline.config.base import WireModel, type_tag, typed_union
from threadline.config.edges import EdgeConfig
from threadline.config.llm import LLMOrGroupConfig
from threadline.config.nodes.athena import (
    AthenaAppointmentsCreateNodeConfig,
    AthenaPatientsCreateNodeConfig,
    AthenaPatientsSearchNodeConfig,
    AthenaPatientsUpdateNodeConfig,
)
from threadline.config.nodes.base import BaseNodeConfig, NodeCategory, UnknownNodeConfig
from threadline.config.nodes.communications import (
    EndConversationNodeConfig,
    SendSMSNodeConfig,
    StartConversationNodeConfig,
)
from threadline.config.nodes.data import (
    DeduplicateNodeConfig,
    FieldExtractorNodeConfig,
    NoOpNodeConfig,
)
from threadline.config.nodes.google_docs import GoogleDocsNodeConfig
from threadline.config.nodes.http import HttpRequestNodeConfig
from threadline.config.nodes.llm import (
    SayLLMNodeConfig,
    WorkerLLMNodeConfig,
    WorkflowRunEvaluatorNodeConfig,
)
from threadline.config.nodes.static import SayStaticNodeConfig
from threadline.config.nodes.tool import ToolNodeConfig
from threadline.config.nodes.workflows import WorkflowRunFetchNodeConfig
from threadline.config.super_node import SuperNodeInterface
from threadline.config.workflow import WorkflowConfig


class SuperNodeReverseEdgeScope(StrEnum):
    """Which inlined LLM nodes receive the super node's reverse conditional edge."""

    ALL_INTERIOR_LLM_NODES = "all_interior_llm_nodes"
    TERMINAL_NODES = "terminal_nodes"


class SuperNodeConfig(BaseNodeConfig):
    """Embeds a sub-workflow; expanded into the parent graph at run time.

    ``encapsulated_workflow_config`` is resolved when ``threadline.config.workflow``
    is imported (the package ``__init__`` does that).
    """

    # The docstring above is served as the node schema's description, so it is
    # kept word for word; the forward reference is resolved at the end of this
    # module now.

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


NODE_MODELS: tuple[type[BaseNodeConfig], ...] = (
    SayLLMNodeConfig,
    WorkerLLMNodeConfig,
    SuperNodeConfig,
    SayStaticNodeConfig,
    ToolNodeConfig,
    WorkflowRunFetchNodeConfig,
    WorkflowRunEvaluatorNodeConfig,
    StartConversationNodeConfig,
    EndConversationNodeConfig,
    SendSMSNodeConfig,
    GoogleDocsNodeConfig,
    HttpRequestNodeConfig,
    AthenaPatientsSearchNodeConfig,
    AthenaPatientsUpdateNodeConfig,
    AthenaPatientsCreateNodeConfig,
    AthenaAppointmentsCreateNodeConfig,
    DeduplicateNodeConfig,
    FieldExtractorNodeConfig,
    NoOpNodeConfig,
)

if TYPE_CHECKING:
    NodeConfig: TypeAlias = (
        SayLLMNodeConfig
        | WorkerLLMNodeConfig
        | SuperNodeConfig
        | SayStaticNodeConfig
        | ToolNodeConfig
        | WorkflowRunFetchNodeConfig
        | WorkflowRunEvaluatorNodeConfig
        | StartConversationNodeConfig
        | EndConversationNodeConfig
        | SendSMSNodeConfig
        | GoogleDocsNodeConfig
        | HttpRequestNodeConfig
        | AthenaPatientsSearchNodeConfig
        | AthenaPatientsUpdateNodeConfig
        | AthenaPatientsCreateNodeConfig
        | AthenaAppointmentsCreateNodeConfig
        | DeduplicateNodeConfig
        | FieldExtractorNodeConfig
        | NoOpNodeConfig
        | UnknownNodeConfig
    )
else:
    NodeConfig = typed_union(*NODE_MODELS, fallback=UnknownNodeConfig)


class WorkflowConfigFullyHydrated(WireModel):
    """A workflow with its node and edge configs embedded: the unit of upload/export."""

    workflow_config: WorkflowConfig | None = None
    node_configs: list[NodeConfig] = []
    edge_configs: list[EdgeConfig] = []
    dynamic_variables: dict[str, Any] = {}
    runtime_variables: dict[str, Any] = {}
    secret_variables: dict[str, SecretStr] = Field(
        default_factory=dict, exclude=True, repr=False
    )


SuperNodeConfig.model_rebuild()
WorkflowConfigFullyHydrated.model_rebuild()


_NodeModel: TypeAlias = type[BaseNodeConfig]


@dataclass(frozen=True)
class NodeTypeInfo:
    """One row of ``GET /v1/nodes/types`` plus the config model."""

    type: str
    primary_category: str | None
    secondary_category: str | None
    model: _NodeModel


def _info(model: type[BaseNodeConfig]) -> NodeTypeInfo:
    fields = model.model_fields
    return NodeTypeInfo(
        type=type_tag(model),
        primary_category=fields["primary_category"].default,
        secondary_category=fields["secondary_category"].default,
        model=model,
    )


NODE_TYPES: dict[str, NodeTypeInfo] = {
    info.type: info for info in map(_info, NODE_MODELS)
}
