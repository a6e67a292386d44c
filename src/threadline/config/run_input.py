"""Run inputs: the workflow ``execute`` input and per-node run inputs.

User messages are LangChain-style dicts (``{"type": "human", "content": ...}``);
a plain string is accepted and normalised to a human message.
"""

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import Field, SecretStr, field_validator

from threadline.config.base import UnknownTyped, WireModel, typed_union


def human_message(content: str) -> dict[str, Any]:
    """Build a LangChain-style human message dict."""
    return {"type": "human", "content": content}


class BaseRunInput(WireModel):
    """Variables and extras shared by workflow and node run inputs.

    ``secret_variables`` is server-populated and never serialised.
    """

    dynamic_variables: dict[str, Any] = {}
    runtime_variables: dict[str, Any] = {}
    secret_variables: dict[str, SecretStr] = Field(
        default_factory=dict, exclude=True, repr=False
    )
    miscellaneous: dict[str, Any] = {}


class BaseNodeRunInput(BaseRunInput):
    """A run input addressed to one node."""

    type: Literal["base_node"] = "base_node"
    node_logical_id: str | None = None


class _NodeRunInput(BaseRunInput):
    node_logical_id: str | None = None


class _WithMessages(_NodeRunInput):
    messages: list[dict[str, Any]] = []

    @field_validator("messages", mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [human_message(value)]
        if isinstance(value, list | tuple):
            return [human_message(m) if isinstance(m, str) else m for m in value]
        return value


class LLMNodeRunInput(_WithMessages):
    """Run input of an LLM node: the user's messages for this turn."""

    type: Literal["llm"] = "llm"


class WorkflowRunEvaluatorNodeRunInput(_WithMessages):
    """Run input of an evaluator node."""

    type: Literal["workflow_run_evaluator"] = "workflow_run_evaluator"


class SayStaticNodeRunInput(_NodeRunInput):
    """Run input of a say_static node."""

    type: Literal["say_static"] = "say_static"


class SuperNodeRunInput(_NodeRunInput):
    """Run input of a super node."""

    type: Literal["super_node"] = "super_node"


class WorkflowRunFetchNodeRunInput(_NodeRunInput):
    """Run input of a workflow_run_fetch node."""

    type: Literal["workflow_run_fetch"] = "workflow_run_fetch"


class ToolNodeRunInput(_NodeRunInput):
    """Run input of a tool node."""

    type: Literal["tool_node"] = "tool_node"


class StartConversationNodeRunInput(_NodeRunInput):
    """Run input of a start_conversation node."""

    type: Literal["start_conversation"] = "start_conversation"


class EndConversationNodeRunInput(_NodeRunInput):
    """Run input of an end_conversation node."""

    type: Literal["end_conversation"] = "end_conversation"


class SendSMSNodeRunInput(_NodeRunInput):
    """Run input of a send_sms node, with optional overrides."""

    type: Literal["send_sms"] = "send_sms"
    override_destination_phone_number: str | None = None
    override_message: str | None = None


class GoogleDocsCreateDocumentRunInput(WireModel):
    """Run input of a Google Docs create operation."""

    type: Literal["google_docs_create_document"] = "google_docs_create_document"


class GoogleDocsGetDocumentRunInput(WireModel):
    """Run input of a Google Docs get operation."""

    type: Literal["google_docs_get_document"] = "google_docs_get_document"


class GoogleDocsUpdateDocumentRunInput(WireModel):
    """Run input of a Google Docs update operation."""

    type: Literal["google_docs_update_document"] = "google_docs_update_document"


if TYPE_CHECKING:
    GoogleDocsOperationRunInput: TypeAlias = (
        GoogleDocsCreateDocumentRunInput
        | GoogleDocsGetDocumentRunInput
        | GoogleDocsUpdateDocumentRunInput
        | UnknownTyped
    )
else:
    GoogleDocsOperationRunInput = typed_union(
        GoogleDocsCreateDocumentRunInput,
        GoogleDocsGetDocumentRunInput,
        GoogleDocsUpdateDocumentRunInput,
    )


class GoogleDocsNodeRunInput(_NodeRunInput):
    """Run input of a google_docs node."""

    type: Literal["google_docs"] = "google_docs"
    operate_document: GoogleDocsOperationRunInput | None = None


class HttpRequestNodeRunInput(_NodeRunInput):
    """Run input of an http_request node."""

    type: Literal["http_request"] = "http_request"
    override_url: str | None = None


class _AthenaRunInput(_NodeRunInput):
    override_api_key: str | None = None


class AthenaPatientsSearchNodeRunInput(_AthenaRunInput):
    """Run input of an athena_patients_search node."""

    type: Literal["athena_patients_search"] = "athena_patients_search"


class AthenaPatientsCreateNodeRunInput(_AthenaRunInput):
    """Run input of an athena_patients_create node."""

    type: Literal["athena_patients_create"] = "athena_patients_create"


class AthenaPatientsUpdateNodeRunInput(_AthenaRunInput):
    """Run input of an athena_patients_update node."""

    type: Literal["athena_patients_update"] = "athena_patients_update"


class AthenaAppointmentsCreateNodeRunInput(_AthenaRunInput):
    """Run input of an athena_appointments_create node."""

    type: Literal["athena_appointments_create"] = "athena_appointments_create"


class DeduplicateNodeRunInput(_NodeRunInput):
    """Run input of a deduplicate node."""

    type: Literal["deduplicate"] = "deduplicate"


class FieldExtractorNodeRunInput(_NodeRunInput):
    """Run input of a field_extractor node."""

    type: Literal["field_extractor"] = "field_extractor"


class NoOpNodeRunInput(_NodeRunInput):
    """Run input of a no_op node."""

    type: Literal["no_op"] = "no_op"


if TYPE_CHECKING:
    NodeRunInput: TypeAlias = (
        BaseNodeRunInput
        | LLMNodeRunInput
        | SayStaticNodeRunInput
        | SuperNodeRunInput
        | WorkflowRunFetchNodeRunInput
        | WorkflowRunEvaluatorNodeRunInput
        | ToolNodeRunInput
        | StartConversationNodeRunInput
        | EndConversationNodeRunInput
        | SendSMSNodeRunInput
        | GoogleDocsNodeRunInput
        | HttpRequestNodeRunInput
        | AthenaPatientsSearchNodeRunInput
        | AthenaPatientsCreateNodeRunInput
        | AthenaPatientsUpdateNodeRunInput
        | AthenaAppointmentsCreateNodeRunInput
        | DeduplicateNodeRunInput
        | FieldExtractorNodeRunInput
        | NoOpNodeRunInput
        | UnknownTyped
    )
else:
    NodeRunInput = typed_union(
        BaseNodeRunInput,
        LLMNodeRunInput,
        SayStaticNodeRunInput,
        SuperNodeRunInput,
        WorkflowRunFetchNodeRunInput,
        WorkflowRunEvaluatorNodeRunInput,
        ToolNodeRunInput,
        StartConversationNodeRunInput,
        EndConversationNodeRunInput,
        SendSMSNodeRunInput,
        GoogleDocsNodeRunInput,
        HttpRequestNodeRunInput,
        AthenaPatientsSearchNodeRunInput,
        AthenaPatientsCreateNodeRunInput,
        AthenaPatientsUpdateNodeRunInput,
        AthenaAppointmentsCreateNodeRunInput,
        DeduplicateNodeRunInput,
        FieldExtractorNodeRunInput,
        NoOpNodeRunInput,
    )


class NodesRunInputs(WireModel):
    """The node run inputs for one thread."""

    node_run_inputs: list[NodeRunInput] = []


class WorkflowCommand(StrEnum):
    """Commands accepted by the execute endpoint."""

    START = "start"
    DATA = "data"
    RESUME = "resume"
    PAUSE = "pause"
    STOP = "stop"


class WorkflowRunInput(BaseRunInput):
    """Input that starts or continues a workflow run (one turn)."""

    command: WorkflowCommand = WorkflowCommand.START
    workflow_id: str | None = None
    version_number: int | None = 0
    run_by: str | None = None
    workflow_run_id: str | None = None
    team_id: str | None = None
    start_node_logical_id: str | None = None
    initial_state: dict[str, Any] | None = None
    thread_to_node_inputs: dict[str, NodesRunInputs] = {}
    welcome_message: str | None = None
