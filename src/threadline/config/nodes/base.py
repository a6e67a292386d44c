"""Node types, categories and the fields every node has."""

from enum import StrEnum
from typing import Self

from pydantic import Field, model_validator

from threadline.config.base import KeepsOnlyGiven, WireModel
from threadline.config.condition import ConditionConfig
from threadline.config.entity import BaseEntityConfig
from threadline.ids import new_logical_id


class NodeType(StrEnum):
    """The 19 node ``type`` values."""

    SAY_LLM = "say_llm"
    WORKER_LLM = "worker_llm"
    SUPER_NODE = "super_node"
    SAY_STATIC = "say_static"
    TOOL_NODE = "tool_node"
    WORKFLOW_RUN_FETCH = "workflow_run_fetch"
    WORKFLOW_RUN_EVALUATOR = "workflow_run_evaluator"
    START_CONVERSATION = "start_conversation"
    END_CONVERSATION = "end_conversation"
    SEND_SMS = "send_sms"
    GOOGLE_DOCS = "google_docs"
    HTTP_REQUEST = "http_request"
    ATHENA_PATIENTS_SEARCH = "athena_patients_search"
    ATHENA_PATIENTS_UPDATE = "athena_patients_update"
    ATHENA_PATIENTS_CREATE = "athena_patients_create"
    ATHENA_APPOINTMENTS_CREATE = "athena_appointments_create"
    DEDUPLICATE = "deduplicate"
    FIELD_EXTRACTOR = "field_extractor"
    NO_OP = "no_op"


class NodeCategory(StrEnum):
    """UI grouping of node types (primary and secondary categories)."""

    SYSTEM = "System"
    SUPER_NODE = "Super Node"
    CUSTOM = "Custom"
    COMMUNICATIONS = "Communications"
    GOOGLE_WORKSPACE = "Google Workspace"
    REST_API = "REST API"
    EHR = "EHR"
    ATHENA = "Athena"
    DATA_TRANSFORMATION = "Data Transformation"
    CONVERSATION = "Conversation"
    LLM = "LLM"
    SMS = "SMS"
    GOOGLE_DOCS = "Google Docs"
    HTTP_REQUEST = "HTTP Request"
    EHR_INTEGRATIONS = "EHR Integrations"
    EVALUATION = "Evaluation"
    UTILITY = "Utility"
    TOOL = "Tool"
    DEDUPLICATION = "Deduplication"
    EXTRACTION = "Extraction"
    STATIC_MESSAGE = "Static Message"


class GlobalConditionEdgeEvaluationMethod(StrEnum):
    """How freeform conditions into global nodes are judged by an LLM."""

    WORKFLOW_DEFAULT = "workflow_default"
    TOOL_CALL = "tool_call"
    INDEPENDENT_LLM_EVALUATIONS = "independent_llm_evaluations"


class GlobalNodeConfig(WireModel):
    """Makes a node reachable from every node when its condition holds."""

    is_global: bool = False
    condition: ConditionConfig | None = None
    global_condition_edge_evaluation_method: (
        GlobalConditionEdgeEvaluationMethod | None
    ) = GlobalConditionEdgeEvaluationMethod.WORKFLOW_DEFAULT
    reverse_conditional_edge: ConditionConfig | None = None


class SelfLoopConfig(WireModel):
    """Bounded re-execution of a node until an exit edge matches or a bound hits."""

    enabled: bool = False
    max_retries: int | None = Field(default=None, ge=0, le=100)
    expiry_time: int | None = Field(default=None, ge=1, le=3600)
    time_between_retries: int = Field(default=0, ge=0, le=300)

    @model_validator(mode="after")
    def _needs_a_bound(self) -> Self:
        if self.enabled and self.max_retries is None and self.expiry_time is None:
            raise ValueError(
                "self_loop_config requires max_retries or expiry_time when enabled"
            )
        return self


class BaseNodeConfig(BaseEntityConfig):
    """Fields every node type has."""

    logical_id: str | None = Field(default_factory=lambda: new_logical_id("node"))
    primary_category: str | None = None
    secondary_category: str | None = None
    is_start: bool = False
    global_node_config: GlobalNodeConfig | None = None
    is_guardrail_node: bool = False
    self_loop_config: SelfLoopConfig | None = None


class UnknownNodeConfig(BaseNodeConfig, KeepsOnlyGiven):
    """A node whose ``type`` is not known here; all its fields are kept."""

    type: str
