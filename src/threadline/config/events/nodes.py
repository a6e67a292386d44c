"""Events emitted by nodes."""

from typing import Any, Literal

from pydantic import Field

from threadline.config.events.base import (
    LLMUsageInfo,
    NodeEvent,
)
from threadline.config.run_input import NodeRunInput
from threadline.config.run_output import NodeRunOutput


class StartRunNodeEvent(NodeEvent):
    """A node run started."""

    type: Literal["start_node_run"] = "start_node_run"
    run_input: NodeRunInput | None = None


class EndRunNodeEvent(NodeEvent):
    """A node run ended."""

    type: Literal["end_node_run"] = "end_node_run"
    run_output: NodeRunOutput | None = None


class UserMessagesEvent(NodeEvent):
    """User messages were received."""

    type: Literal["user_messages"] = "user_messages"
    messages: list[Any] = []


class _LLMEvent(NodeEvent):
    message: Any | None = None
    llm_usage_info: LLMUsageInfo = Field(default_factory=LLMUsageInfo)


class LLMNodeEvent(_LLMEvent):
    """A raw LLM message."""

    type: Literal["llm"] = "llm"


class WorkerLLMNodeEvent(_LLMEvent):
    """A worker LLM produced a message (not spoken)."""

    type: Literal["worker_llm"] = "worker_llm"


class SayLLMNodeEvent(_LLMEvent):
    """A say LLM produced a message."""

    type: Literal["say_llm"] = "say_llm"


class ConditionEvaluatorLLMNodeEvent(_LLMEvent):
    """An LLM judged one freeform condition."""

    type: Literal["condition_evaluator_llm"] = "condition_evaluator_llm"
    destination_node_logical_id: str | None = None
    is_condition_met: bool | None = None


class DiscardedMainLLMNodeEvent(_LLMEvent):
    """The main LLM reply was discarded (a global condition matched)."""

    type: Literal["discarded_main_llm"] = "discarded_main_llm"
    reason: str = "global_condition_matched"


class SayStaticNodeEvent(NodeEvent):
    """A static message was emitted."""

    type: Literal["say_static"] = "say_static"
    message: Any | None = None


class AssistantResponseEvent(NodeEvent):
    """Text delivered to the user."""

    type: Literal["assistant_response"] = "assistant_response"
    content: str | None = None
    response_metadata: dict[str, Any] = {}
    llm_usage_info: LLMUsageInfo = Field(default_factory=LLMUsageInfo)


class BusyWaitForUserMessageEvent(NodeEvent):
    """A thread parked waiting for the user."""

    type: Literal["busy_wait_for_user_message"] = "busy_wait_for_user_message"


class PauseEvent(NodeEvent):
    """A node paused."""

    type: Literal["pause_event"] = "pause_event"


class ForceTransferToNodeEvent(NodeEvent):
    """Control was forced to another node."""

    type: Literal["force_transfer_to_node"] = "force_transfer_to_node"
    destination_node_logical_id: str | None = None


class WorkflowNavigationEvent(NodeEvent):
    """A navigation message."""

    type: Literal["workflow_navigation_message"] = "workflow_navigation_message"
    message: Any | None = None


class NodeExpiredEvent(NodeEvent):
    """A self-loop execution was cut off by ``expiry_time``."""

    type: Literal["node_expired"] = "node_expired"
    attempt_number: int = 0
    reason: str | None = None


class SendSMSNodeEvent(NodeEvent):
    """An SMS was sent."""

    type: Literal["send_sms"] = "send_sms"
    status: str | None = None
    sent_message: str | None = None
    destination_phone_number: str | None = None


class _GoogleDocsEvent(NodeEvent):
    status: str | None = None
    document_id: str | None = None


class GoogleDocsCreateDocumentNodeEvent(_GoogleDocsEvent):
    """A document was created."""

    type: Literal["google_docs_create_document"] = "google_docs_create_document"
    document_url: str | None = None
    document_title: str | None = None


class GoogleDocsGetDocumentNodeEvent(_GoogleDocsEvent):
    """A document was read."""

    type: Literal["google_docs_get_document"] = "google_docs_get_document"
    document_content: str | None = None


class GoogleDocsUpdateDocumentNodeEvent(_GoogleDocsEvent):
    """A document was updated."""

    type: Literal["google_docs_update_document"] = "google_docs_update_document"
    document_url: str | None = None
    updated_content: str | None = None


class StartConversationNodeEvent(NodeEvent):
    """A conversation was started or polled."""

    type: Literal["start_conversation"] = "start_conversation"
    conversation_status: str | None = None
    conversation_id: str | None = None


class EndConversationNodeEvent(NodeEvent):
    """A conversation ended."""

    type: Literal["end_conversation"] = "end_conversation"
    processed_transcript: str | None = None


class HttpRequestNodeEvent(NodeEvent):
    """An HTTP request was made."""

    type: Literal["http_request"] = "http_request"
    curl_command: str | None = None
    status_code: int | None = None
    response_body: dict[str, Any] | None = None
    error: str | None = None


class AthenaNodeEvent(NodeEvent):
    """An Athena EHR call was made."""

    type: Literal["athena"] = "athena"
    status_code: int | None = None
    response_body: dict[str, Any] | None = None
