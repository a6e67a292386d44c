"""Node configuration models, one module per node family."""

from threadline.config.nodes.athena import (
    AthenaAppointmentsCreateNodeConfig,
    AthenaNodeBase,
    AthenaPatientsCreateNodeConfig,
    AthenaPatientsSearchNodeConfig,
    AthenaPatientsUpdateNodeConfig,
    AthenaUseCase,
    Gender,
    StartEndTimings,
    WorkingHours,
)
from threadline.config.nodes.base import (
    BaseNodeConfig,
    GlobalConditionEdgeEvaluationMethod,
    GlobalNodeConfig,
    NodeCategory,
    NodeType,
    SelfLoopConfig,
    UnknownNodeConfig,
)
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
from threadline.config.nodes.google_docs import (
    GoogleDocsCreateDocumentConfig,
    GoogleDocsGetDocumentConfig,
    GoogleDocsNodeConfig,
    GoogleDocsOperation,
    GoogleDocsUpdateDocumentConfig,
    GoogleDocsUpdateWithTextConfig,
    GoogleWorkspaceAPIKeyCredentials,
    GoogleWorkspaceCredentials,
    GoogleWorkspaceOAuth2Credentials,
    GoogleWorkspaceServiceAccountCredentials,
)
from threadline.config.nodes.http import (
    BodyContentType,
    HttpMethod,
    HttpRequestNodeConfig,
    ResponseFormat,
)
from threadline.config.nodes.llm import (
    DEFAULT_LLM_NODE_ERROR_MESSAGE,
    BaseLLMNodeConfig,
    SayLLMNodeConfig,
    WorkerLLMNodeConfig,
    WorkflowRunEvaluatorNodeConfig,
)
from threadline.config.nodes.static import SayStaticNodeConfig
from threadline.config.nodes.tool import ToolNodeConfig
from threadline.config.nodes.union import (
    NODE_MODELS,
    NODE_TYPES,
    NodeConfig,
    NodeTypeInfo,
    SuperNodeConfig,
    SuperNodeReverseEdgeScope,
)
from threadline.config.nodes.workflows import WorkflowRunFetchNodeConfig

__all__ = [
    "DEFAULT_LLM_NODE_ERROR_MESSAGE",
    "NODE_MODELS",
    "NODE_TYPES",
    "AthenaAppointmentsCreateNodeConfig",
    "AthenaNodeBase",
    "AthenaPatientsCreateNodeConfig",
    "AthenaPatientsSearchNodeConfig",
    "AthenaPatientsUpdateNodeConfig",
    "AthenaUseCase",
    "BaseLLMNodeConfig",
    "BaseNodeConfig",
    "BodyContentType",
    "DeduplicateNodeConfig",
    "EndConversationNodeConfig",
    "FieldExtractorNodeConfig",
    "Gender",
    "GlobalConditionEdgeEvaluationMethod",
    "GlobalNodeConfig",
    "GoogleDocsCreateDocumentConfig",
    "GoogleDocsGetDocumentConfig",
    "GoogleDocsNodeConfig",
    "GoogleDocsOperation",
    "GoogleDocsUpdateDocumentConfig",
    "GoogleDocsUpdateWithTextConfig",
    "GoogleWorkspaceAPIKeyCredentials",
    "GoogleWorkspaceCredentials",
    "GoogleWorkspaceOAuth2Credentials",
    "GoogleWorkspaceServiceAccountCredentials",
    "HttpMethod",
    "HttpRequestNodeConfig",
    "NoOpNodeConfig",
    "NodeCategory",
    "NodeConfig",
    "NodeType",
    "NodeTypeInfo",
    "ResponseFormat",
    "SayLLMNodeConfig",
    "SayStaticNodeConfig",
    "SelfLoopConfig",
    "SendSMSNodeConfig",
    "StartConversationNodeConfig",
    "StartEndTimings",
    "SuperNodeConfig",
    "SuperNodeReverseEdgeScope",
    "ToolNodeConfig",
    "UnknownNodeConfig",
    "WorkerLLMNodeConfig",
    "WorkflowRunEvaluatorNodeConfig",
    "WorkflowRunFetchNodeConfig",
    "WorkingHours",
]
