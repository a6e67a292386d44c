"""Run outputs: per-node run outputs and the workflow run output.

``events`` entries stay untyped (``Any``): stored runs hold plain dicts, and a
client must tolerate event types it does not know. Use
``threadline.config.events.parse_event`` to read one.
"""

from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from threadline.config.base import UnknownTyped, WireModel, typed_union


class BaseRunOutput(WireModel):
    """The events a node or workflow run produced."""

    events: list[Any] = []


class _NodeRunOutput(BaseRunOutput):
    node_logical_id: str | None = None
    node_run_id: str | None = None


class BaseNodeRunOutput(_NodeRunOutput):
    """Output of a node with no type-specific output."""

    type: Literal["base_node"] = "base_node"


class SayLLMNodeRunOutput(_NodeRunOutput):
    """Output of a say_llm node."""

    type: Literal["say_llm"] = "say_llm"
    structured_output: dict[str, Any] = {}


class WorkerLLMNodeRunOutput(_NodeRunOutput):
    """Output of a worker_llm node."""

    type: Literal["worker_llm"] = "worker_llm"
    structured_output: dict[str, Any] = {}


class WorkflowRunEvaluatorNodeRunOutput(_NodeRunOutput):
    """Output of an evaluator node."""

    type: Literal["workflow_run_evaluator"] = "workflow_run_evaluator"
    free_form_output: str | None = None
    structured_output: dict[str, Any] = {}


class SayStaticNodeRunOutput(_NodeRunOutput):
    """Output of a say_static node."""

    type: Literal["say_static"] = "say_static"


class SuperNodeRunOutput(_NodeRunOutput):
    """Output of a super node."""

    type: Literal["super_node"] = "super_node"


class WorkflowRunFetchNodeRunOutput(_NodeRunOutput):
    """Output of a workflow_run_fetch node (the run as a JSON string)."""

    type: Literal["workflow_run_fetch"] = "workflow_run_fetch"
    fetched_workflow_run: str | None = None


class ToolNodeRunOutput(_NodeRunOutput):
    """Output of a tool node."""

    type: Literal["tool_node"] = "tool_node"
    success: bool = False
    tool_result: Any | None = None
    error_message: str | None = None


class StartConversationNodeRunOutput(_NodeRunOutput):
    """Output of a start_conversation node."""

    type: Literal["start_conversation"] = "start_conversation"
    conversation_id: str | None = None


class EndConversationNodeRunOutput(_NodeRunOutput):
    """Output of an end_conversation node."""

    type: Literal["end_conversation"] = "end_conversation"


class SendSMSNodeRunOutput(_NodeRunOutput):
    """Output of a send_sms node."""

    type: Literal["send_sms"] = "send_sms"
    success: bool = False
    sent_sms_message: str | None = None


class GoogleDocsCreateDocumentRunOutput(WireModel):
    """Output of a Google Docs create operation."""

    type: Literal["google_docs_create_document"] = "google_docs_create_document"
    document_id: str | None = None
    document_url: str | None = None


class GoogleDocsGetDocumentRunOutput(WireModel):
    """Output of a Google Docs get operation."""

    type: Literal["google_docs_get_document"] = "google_docs_get_document"
    document_content: Any | None = None


class GoogleDocsUpdateDocumentRunOutput(WireModel):
    """Output of a Google Docs update operation."""

    type: Literal["google_docs_update_document"] = "google_docs_update_document"
    document_id: str | None = None
    document_url: str | None = None


if TYPE_CHECKING:
    GoogleDocsOperationRunOutput: TypeAlias = (
        GoogleDocsCreateDocumentRunOutput
        | GoogleDocsGetDocumentRunOutput
        | GoogleDocsUpdateDocumentRunOutput
        | UnknownTyped
    )
else:
    GoogleDocsOperationRunOutput = typed_union(
        GoogleDocsCreateDocumentRunOutput,
        GoogleDocsGetDocumentRunOutput,
        GoogleDocsUpdateDocumentRunOutput,
    )


class GoogleDocsNodeRunOutput(_NodeRunOutput):
    """Output of a google_docs node."""

    type: Literal["google_docs"] = "google_docs"
    operate_document: GoogleDocsOperationRunOutput | None = None


class HttpRequestNodeRunOutput(_NodeRunOutput):
    """Output of an http_request node."""

    type: Literal["http_request"] = "http_request"
    curl_command: str | None = None
    success: bool = False
    http_status_code: int | None = None
    http_response: dict[str, Any] | None = None


class _AthenaRunOutput(_NodeRunOutput):
    success: bool = False
    status_code: int | None = None
    response: dict[str, Any] | None = None


class AthenaPatientsSearchNodeRunOutput(_AthenaRunOutput):
    """Output of an athena_patients_search node."""

    type: Literal["athena_patients_search"] = "athena_patients_search"


class AthenaPatientsCreateNodeRunOutput(_AthenaRunOutput):
    """Output of an athena_patients_create node."""

    type: Literal["athena_patients_create"] = "athena_patients_create"


class AthenaPatientsUpdateNodeRunOutput(_AthenaRunOutput):
    """Output of an athena_patients_update node."""

    type: Literal["athena_patients_update"] = "athena_patients_update"


class AthenaAppointmentsCreateNodeRunOutput(_AthenaRunOutput):
    """Output of an athena_appointments_create node."""

    type: Literal["athena_appointments_create"] = "athena_appointments_create"


class DeduplicateNodeRunOutput(_NodeRunOutput):
    """Output of a deduplicate node."""

    type: Literal["deduplicate"] = "deduplicate"
    success: bool = False
    deduplicated_list: Any | None = None
    removed_count: int = 0
    error_message: str | None = None


class FieldExtractorNodeRunOutput(_NodeRunOutput):
    """Output of a field_extractor node."""

    type: Literal["field_extractor"] = "field_extractor"
    success: bool = False
    extracted_result: Any | None = None
    error_message: str | None = None


class NoOpNodeRunOutput(_NodeRunOutput):
    """Output of a no_op node."""

    type: Literal["no_op"] = "no_op"
    success: bool = False
    error_message: str | None = None


if TYPE_CHECKING:
    NodeRunOutput: TypeAlias = (
        BaseNodeRunOutput
        | SayLLMNodeRunOutput
        | WorkerLLMNodeRunOutput
        | WorkflowRunEvaluatorNodeRunOutput
        | SayStaticNodeRunOutput
        | SuperNodeRunOutput
        | WorkflowRunFetchNodeRunOutput
        | ToolNodeRunOutput
        | StartConversationNodeRunOutput
        | EndConversationNodeRunOutput
        | SendSMSNodeRunOutput
        | GoogleDocsNodeRunOutput
        | HttpRequestNodeRunOutput
        | AthenaPatientsSearchNodeRunOutput
        | AthenaPatientsCreateNodeRunOutput
        | AthenaPatientsUpdateNodeRunOutput
        | AthenaAppointmentsCreateNodeRunOutput
        | DeduplicateNodeRunOutput
        | FieldExtractorNodeRunOutput
        | NoOpNodeRunOutput
        | UnknownTyped
    )
else:
    NodeRunOutput = typed_union(
        BaseNodeRunOutput,
        SayLLMNodeRunOutput,
        WorkerLLMNodeRunOutput,
        WorkflowRunEvaluatorNodeRunOutput,
        SayStaticNodeRunOutput,
        SuperNodeRunOutput,
        WorkflowRunFetchNodeRunOutput,
        ToolNodeRunOutput,
        StartConversationNodeRunOutput,
        EndConversationNodeRunOutput,
        SendSMSNodeRunOutput,
        GoogleDocsNodeRunOutput,
        HttpRequestNodeRunOutput,
        AthenaPatientsSearchNodeRunOutput,
        AthenaPatientsCreateNodeRunOutput,
        AthenaPatientsUpdateNodeRunOutput,
        AthenaAppointmentsCreateNodeRunOutput,
        DeduplicateNodeRunOutput,
        FieldExtractorNodeRunOutput,
        NoOpNodeRunOutput,
    )


class WorkflowRunOutput(BaseRunOutput):
    """Output of one workflow run segment (turn)."""

    thread_to_node_outputs: dict[str, list[NodeRunOutput]] = {}
