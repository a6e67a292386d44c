"""Runtime event catalogue: one model per event ``type``.

Events arrive as plain dicts from storage and over the wire; ``parse_event``
turns one into its typed model and falls back to ``UnknownEvent`` (all fields
kept) for types this package does not know.
"""

from typing import TYPE_CHECKING, Any, TypeAlias

from pydantic import TypeAdapter

from threadline.config.base import WireModel, typed_union
from threadline.config.events.base import (
    BaseEvent,
    EdgeEvent,
    LLMUsageInfo,
    NodeEvent,
    SelfLoopOutcome,
    StructuredOutputRetryAttempt,
    StructuredOutputRetryMetadata,
    UnknownEvent,
    thread_reference_id,
)
from threadline.config.events.edges import (
    CompanionEdgeEvent,
    ConditionalEdgeEvent,
    DirectEdgeEvent,
    GuardrailEscalationEdgeEvent,
    ReverseConditionalEdgeEvent,
    SelfLoopDelayEvent,
    SelfLoopEdgeEvent,
    SelfLoopExhaustedEvent,
    WaitingConditionMatchedEvent,
)
from threadline.config.events.nodes import (
    AssistantResponseEvent,
    AthenaNodeEvent,
    BusyWaitForUserMessageEvent,
    ConditionEvaluatorLLMNodeEvent,
    DiscardedMainLLMNodeEvent,
    EndConversationNodeEvent,
    EndRunNodeEvent,
    ForceTransferToNodeEvent,
    GoogleDocsCreateDocumentNodeEvent,
    GoogleDocsGetDocumentNodeEvent,
    GoogleDocsUpdateDocumentNodeEvent,
    HttpRequestNodeEvent,
    LLMNodeEvent,
    NodeExpiredEvent,
    PauseEvent,
    SayLLMNodeEvent,
    SayStaticNodeEvent,
    SendSMSNodeEvent,
    StartConversationNodeEvent,
    StartRunNodeEvent,
    UserMessagesEvent,
    WorkerLLMNodeEvent,
    WorkflowNavigationEvent,
)
from threadline.config.events.workflow import (
    BudgetExceededEvent,
    BudgetWarningEvent,
    CompanionStepBoundaryEvent,
    EndThreadEvent,
    EndWorkflowEvent,
    EndWorkflowIterationEvent,
    PauseThreadEvent,
    StartThreadEvent,
    StartWorkflowEvent,
    WaitingEvaluationBoundaryEvent,
    WorkflowDebugLogEvent,
    WorkflowErrorEvent,
    WorkflowReadyForInputEvent,
    WorkflowShowStateEvent,
    WorkflowWarningEvent,
)

EVENT_MODELS: tuple[type[BaseEvent], ...] = (
    StartWorkflowEvent,
    EndWorkflowEvent,
    EndWorkflowIterationEvent,
    WorkflowReadyForInputEvent,
    CompanionStepBoundaryEvent,
    WaitingEvaluationBoundaryEvent,
    StartThreadEvent,
    PauseThreadEvent,
    EndThreadEvent,
    WorkflowDebugLogEvent,
    WorkflowWarningEvent,
    WorkflowErrorEvent,
    WorkflowShowStateEvent,
    StartRunNodeEvent,
    EndRunNodeEvent,
    UserMessagesEvent,
    LLMNodeEvent,
    WorkerLLMNodeEvent,
    SayLLMNodeEvent,
    ConditionEvaluatorLLMNodeEvent,
    DiscardedMainLLMNodeEvent,
    SayStaticNodeEvent,
    AssistantResponseEvent,
    BusyWaitForUserMessageEvent,
    PauseEvent,
    ForceTransferToNodeEvent,
    WorkflowNavigationEvent,
    NodeExpiredEvent,
    SendSMSNodeEvent,
    GoogleDocsCreateDocumentNodeEvent,
    GoogleDocsGetDocumentNodeEvent,
    GoogleDocsUpdateDocumentNodeEvent,
    StartConversationNodeEvent,
    EndConversationNodeEvent,
    HttpRequestNodeEvent,
    AthenaNodeEvent,
    DirectEdgeEvent,
    SelfLoopEdgeEvent,
    SelfLoopDelayEvent,
    SelfLoopExhaustedEvent,
    WaitingConditionMatchedEvent,
    GuardrailEscalationEdgeEvent,
    ConditionalEdgeEvent,
    ReverseConditionalEdgeEvent,
    CompanionEdgeEvent,
    BudgetWarningEvent,
    BudgetExceededEvent,
)

if TYPE_CHECKING:
    Event: TypeAlias = BaseEvent
else:
    Event = typed_union(*EVENT_MODELS, fallback=UnknownEvent)

_EVENT_ADAPTER: TypeAdapter[BaseEvent] = TypeAdapter(Event)


def parse_event(payload: Any) -> BaseEvent:
    """Validate one event dict into its typed model (unknown types are kept)."""
    if isinstance(payload, BaseEvent):
        return payload
    return _EVENT_ADAPTER.validate_python(payload)


class WorkflowEventsArray(WireModel):
    """A list of events."""

    events: list[Event] = []


__all__ = [
    "EVENT_MODELS",
    "AssistantResponseEvent",
    "AthenaNodeEvent",
    "BaseEvent",
    "BudgetExceededEvent",
    "BudgetWarningEvent",
    "BusyWaitForUserMessageEvent",
    "CompanionEdgeEvent",
    "CompanionStepBoundaryEvent",
    "ConditionEvaluatorLLMNodeEvent",
    "ConditionalEdgeEvent",
    "DirectEdgeEvent",
    "DiscardedMainLLMNodeEvent",
    "EdgeEvent",
    "EndConversationNodeEvent",
    "EndRunNodeEvent",
    "EndThreadEvent",
    "EndWorkflowEvent",
    "EndWorkflowIterationEvent",
    "Event",
    "ForceTransferToNodeEvent",
    "GoogleDocsCreateDocumentNodeEvent",
    "GoogleDocsGetDocumentNodeEvent",
    "GoogleDocsUpdateDocumentNodeEvent",
    "GuardrailEscalationEdgeEvent",
    "HttpRequestNodeEvent",
    "LLMNodeEvent",
    "LLMUsageInfo",
    "NodeEvent",
    "NodeExpiredEvent",
    "PauseEvent",
    "PauseThreadEvent",
    "ReverseConditionalEdgeEvent",
    "SayLLMNodeEvent",
    "SayStaticNodeEvent",
    "SelfLoopDelayEvent",
    "SelfLoopEdgeEvent",
    "SelfLoopExhaustedEvent",
    "SelfLoopOutcome",
    "SendSMSNodeEvent",
    "StartConversationNodeEvent",
    "StartRunNodeEvent",
    "StartThreadEvent",
    "StartWorkflowEvent",
    "StructuredOutputRetryAttempt",
    "StructuredOutputRetryMetadata",
    "UnknownEvent",
    "UserMessagesEvent",
    "WaitingConditionMatchedEvent",
    "WaitingEvaluationBoundaryEvent",
    "WorkerLLMNodeEvent",
    "WorkflowDebugLogEvent",
    "WorkflowErrorEvent",
    "WorkflowEventsArray",
    "WorkflowNavigationEvent",
    "WorkflowReadyForInputEvent",
    "WorkflowShowStateEvent",
    "WorkflowWarningEvent",
    "parse_event",
    "thread_reference_id",
]
