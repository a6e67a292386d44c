"""Typed wire contract of the Interactly Workflows API v1 (Pydantic v2 models).

Every model keeps unknown fields, and every ``type``-discriminated union falls
back to a lenient model for unknown types, so round trips never lose data.
"""

from typing import Any

from pydantic import TypeAdapter

from threadline.config.auth import IntegrationAuthConfig
from threadline.config.base import (
    KeepsOnlyGiven,
    UnknownTyped,
    WireModel,
    dump,
    typed_union,
)
from threadline.config.condition import (
    ConditionConfig,
    DynamicMessagesConfig,
    StaticMessagesConfig,
)
from threadline.config.edges import (
    COMPANION_THREAD_DELIMITER,
    BaseEdgeConfig,
    BaseEdgeRunInput,
    CompanionEdgeConfig,
    CompanionThreadConfig,
    ConditionalEdgeConfig,
    DirectEdgeConfig,
    EdgeConfig,
    EdgeType,
    EvaluateWhileWaitingConfig,
    UnknownEdgeConfig,
    WaitingEvaluationTriggerMode,
    is_companion_edge,
)
from threadline.config.entity import BaseEntityConfig
from threadline.config.evaluation import (
    EvaluationConfig,
    EvaluationRunInfo,
    GuardrailStrikesConfig,
)
from threadline.config.events import (
    EVENT_MODELS,
    BaseEvent,
    EdgeEvent,
    Event,
    LLMUsageInfo,
    NodeEvent,
    UnknownEvent,
    parse_event,
)
from threadline.config.feedback import (
    MAX_COMMENT_LENGTH,
    RATING_SCORES,
    CommentConfig,
    CommentRequest,
    RatingConfig,
    RatingRequest,
    RatingValue,
)
from threadline.config.llm import (
    KNOWN_MODELS,
    AnthropicLLMConfig,
    AzureOpenAILLMConfig,
    BaseLLMConfig,
    BedrockLLMConfig,
    CustomLLMConfig,
    GoogleLLMConfig,
    LLMConfig,
    LLMGroupConfig,
    LLMGroupWithBackchannelConfig,
    LLMOrGroupConfig,
    LLMProvider,
    NoLLMConfig,
    OpenAILLMConfig,
    OperationMode,
    WorkflowDefaultLLMConfig,
)
from threadline.config.nodes import (
    DEFAULT_LLM_NODE_ERROR_MESSAGE,
    NODE_MODELS,
    NODE_TYPES,
    AthenaAppointmentsCreateNodeConfig,
    AthenaPatientsCreateNodeConfig,
    AthenaPatientsSearchNodeConfig,
    AthenaPatientsUpdateNodeConfig,
    BaseLLMNodeConfig,
    BaseNodeConfig,
    DeduplicateNodeConfig,
    EndConversationNodeConfig,
    FieldExtractorNodeConfig,
    GlobalConditionEdgeEvaluationMethod,
    GlobalNodeConfig,
    GoogleDocsNodeConfig,
    HttpRequestNodeConfig,
    NodeCategory,
    NodeConfig,
    NodeType,
    NodeTypeInfo,
    NoOpNodeConfig,
    SayLLMNodeConfig,
    SayStaticNodeConfig,
    SelfLoopConfig,
    SendSMSNodeConfig,
    StartConversationNodeConfig,
    SuperNodeConfig,
    SuperNodeReverseEdgeScope,
    ToolNodeConfig,
    UnknownNodeConfig,
    WorkerLLMNodeConfig,
    WorkflowRunEvaluatorNodeConfig,
    WorkflowRunFetchNodeConfig,
)
from threadline.config.nodes.union import WorkflowConfigFullyHydrated
from threadline.config.prompt import PromptConfig, SelectionMode
from threadline.config.run_input import (
    BaseNodeRunInput,
    BaseRunInput,
    LLMNodeRunInput,
    NodeRunInput,
    NodesRunInputs,
    WorkflowCommand,
    WorkflowRunInput,
    human_message,
)
from threadline.config.run_output import (
    BaseNodeRunOutput,
    BaseRunOutput,
    NodeRunOutput,
    WorkflowRunOutput,
)
from threadline.config.super_node import (
    SuperNodeFieldMapping,
    SuperNodeFieldMappingTargetType,
    SuperNodeInputField,
    SuperNodeInputFieldValueType,
    SuperNodeInterface,
)
from threadline.config.tool import (
    CONFIGURABLE_INBUILT_TOOLS,
    APIMethod,
    BaseToolConfig,
    CallForwardExtraConfig,
    ExternalAPIToolConfig,
    InbuiltFunctionToolConfig,
    InlinePythonToolConfig,
    KnowledgeBaseToolConfig,
    MCPServerConfig,
    ToolConfig,
    ToolResultVariableMapping,
    ToolResultVariableScope,
    ToolsConfig,
    ToolSideEffect,
    ToolType,
    ToolVariableArgument,
    ToolVariableSource,
    UnknownToolConfig,
)
from threadline.config.workflow import (
    AccessControlLevel,
    WorkflowAccessConfig,
    WorkflowConfig,
)
from threadline.config.workflow_run import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    IterationCallLatencyStats,
    LLMLatencyStats,
    LLMLatencyStatsByModel,
    LLMTokenUsage,
    LLMTokenUsageByModel,
    WorkflowIterationMetrics,
    WorkflowRun,
    WorkflowRunInputOutputPair,
    WorkflowStatus,
)

_NODE_ADAPTER: TypeAdapter[NodeConfig] = TypeAdapter(NodeConfig)
_EDGE_ADAPTER: TypeAdapter[EdgeConfig] = TypeAdapter(EdgeConfig)
_TOOL_ADAPTER: TypeAdapter[ToolConfig] = TypeAdapter(ToolConfig)
_LLM_ADAPTER: TypeAdapter[LLMOrGroupConfig] = TypeAdapter(LLMOrGroupConfig)


def parse_node(data: Any) -> NodeConfig:
    """Validate a node config dict into its typed model (unknown types kept)."""
    return _NODE_ADAPTER.validate_python(data)


def parse_edge(data: Any) -> EdgeConfig:
    """Validate an edge config dict (``type`` defaults to ``direct``)."""
    return _EDGE_ADAPTER.validate_python(data)


def parse_tool(data: Any) -> ToolConfig:
    """Validate a tool config dict into its typed model (unknown types kept)."""
    return _TOOL_ADAPTER.validate_python(data)


def parse_llm_config(data: Any) -> LLMOrGroupConfig:
    """Validate an LLM or LLM-group config dict (unknown types kept)."""
    return _LLM_ADAPTER.validate_python(data)


__all__ = [
    "ACTIVE_STATUSES",
    "COMPANION_THREAD_DELIMITER",
    "CONFIGURABLE_INBUILT_TOOLS",
    "DEFAULT_LLM_NODE_ERROR_MESSAGE",
    "EVENT_MODELS",
    "KNOWN_MODELS",
    "MAX_COMMENT_LENGTH",
    "NODE_MODELS",
    "NODE_TYPES",
    "RATING_SCORES",
    "TERMINAL_STATUSES",
    "APIMethod",
    "AccessControlLevel",
    "AnthropicLLMConfig",
    "AthenaAppointmentsCreateNodeConfig",
    "AthenaPatientsCreateNodeConfig",
    "AthenaPatientsSearchNodeConfig",
    "AthenaPatientsUpdateNodeConfig",
    "AzureOpenAILLMConfig",
    "BaseEdgeConfig",
    "BaseEdgeRunInput",
    "BaseEntityConfig",
    "BaseEvent",
    "BaseLLMConfig",
    "BaseLLMNodeConfig",
    "BaseNodeConfig",
    "BaseNodeRunInput",
    "BaseNodeRunOutput",
    "BaseRunInput",
    "BaseRunOutput",
    "BaseToolConfig",
    "BedrockLLMConfig",
    "CallForwardExtraConfig",
    "CommentConfig",
    "CommentRequest",
    "CompanionEdgeConfig",
    "CompanionThreadConfig",
    "ConditionConfig",
    "ConditionalEdgeConfig",
    "CustomLLMConfig",
    "DeduplicateNodeConfig",
    "DirectEdgeConfig",
    "DynamicMessagesConfig",
    "EdgeConfig",
    "EdgeEvent",
    "EdgeType",
    "EndConversationNodeConfig",
    "EvaluateWhileWaitingConfig",
    "EvaluationConfig",
    "EvaluationRunInfo",
    "Event",
    "ExternalAPIToolConfig",
    "FieldExtractorNodeConfig",
    "GlobalConditionEdgeEvaluationMethod",
    "GlobalNodeConfig",
    "GoogleDocsNodeConfig",
    "GoogleLLMConfig",
    "GuardrailStrikesConfig",
    "HttpRequestNodeConfig",
    "InbuiltFunctionToolConfig",
    "InlinePythonToolConfig",
    "IntegrationAuthConfig",
    "IterationCallLatencyStats",
    "KeepsOnlyGiven",
    "KnowledgeBaseToolConfig",
    "LLMConfig",
    "LLMGroupConfig",
    "LLMGroupWithBackchannelConfig",
    "LLMLatencyStats",
    "LLMLatencyStatsByModel",
    "LLMNodeRunInput",
    "LLMOrGroupConfig",
    "LLMProvider",
    "LLMTokenUsage",
    "LLMTokenUsageByModel",
    "LLMUsageInfo",
    "MCPServerConfig",
    "NoLLMConfig",
    "NoOpNodeConfig",
    "NodeCategory",
    "NodeConfig",
    "NodeEvent",
    "NodeRunInput",
    "NodeRunOutput",
    "NodeType",
    "NodeTypeInfo",
    "NodesRunInputs",
    "OpenAILLMConfig",
    "OperationMode",
    "PromptConfig",
    "RatingConfig",
    "RatingRequest",
    "RatingValue",
    "SayLLMNodeConfig",
    "SayStaticNodeConfig",
    "SelectionMode",
    "SelfLoopConfig",
    "SendSMSNodeConfig",
    "StartConversationNodeConfig",
    "StaticMessagesConfig",
    "SuperNodeConfig",
    "SuperNodeFieldMapping",
    "SuperNodeFieldMappingTargetType",
    "SuperNodeInputField",
    "SuperNodeInputFieldValueType",
    "SuperNodeInterface",
    "SuperNodeReverseEdgeScope",
    "ToolConfig",
    "ToolNodeConfig",
    "ToolResultVariableMapping",
    "ToolResultVariableScope",
    "ToolSideEffect",
    "ToolType",
    "ToolVariableArgument",
    "ToolVariableSource",
    "ToolsConfig",
    "UnknownEdgeConfig",
    "UnknownEvent",
    "UnknownNodeConfig",
    "UnknownToolConfig",
    "UnknownTyped",
    "WaitingEvaluationTriggerMode",
    "WireModel",
    "WorkerLLMNodeConfig",
    "WorkflowAccessConfig",
    "WorkflowCommand",
    "WorkflowConfig",
    "WorkflowConfigFullyHydrated",
    "WorkflowDefaultLLMConfig",
    "WorkflowIterationMetrics",
    "WorkflowRun",
    "WorkflowRunEvaluatorNodeConfig",
    "WorkflowRunFetchNodeConfig",
    "WorkflowRunInput",
    "WorkflowRunInputOutputPair",
    "WorkflowRunOutput",
    "WorkflowStatus",
    "dump",
    "human_message",
    "is_companion_edge",
    "parse_edge",
    "parse_event",
    "parse_llm_config",
    "parse_node",
    "parse_tool",
    "typed_union",
]
