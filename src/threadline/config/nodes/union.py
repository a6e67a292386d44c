"""The ``NodeConfig`` union and the node-type table."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from threadline.config.base import type_tag, typed_union
from threadline.config.nodes.athena import (
    AthenaAppointmentsCreateNodeConfig,
    AthenaPatientsCreateNodeConfig,
    AthenaPatientsSearchNodeConfig,
    AthenaPatientsUpdateNodeConfig,
)
from threadline.config.nodes.base import BaseNodeConfig, UnknownNodeConfig
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
from threadline.config.nodes.super_node import SuperNodeConfig
from threadline.config.nodes.tool import ToolNodeConfig
from threadline.config.nodes.workflows import WorkflowRunFetchNodeConfig

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
