"""Events emitted when edges are evaluated or taken."""

from typing import Any, Literal

from threadline.config.events.base import (
    EdgeEvent,
    SelfLoopOutcome,
)


class DirectEdgeEvent(EdgeEvent):
    """A direct edge was taken."""

    type: Literal["direct_edge"] = "direct_edge"


class SelfLoopEdgeEvent(EdgeEvent):
    """A node looped back to itself."""

    type: Literal["self_loop_edge"] = "self_loop_edge"


class SelfLoopDelayEvent(EdgeEvent):
    """Waiting ``time_between_retries`` before a bounded self-loop retry."""

    type: Literal["self_loop_delay"] = "self_loop_delay"
    delay_seconds: float = 0.0
    attempt_number: int = 0


class SelfLoopExhaustedEvent(EdgeEvent):
    """A bounded self-loop stopped without a matching exit edge."""

    type: Literal["self_loop_exhausted"] = "self_loop_exhausted"
    outcome: SelfLoopOutcome | None = None
    total_attempts: int = 0


class WaitingConditionMatchedEvent(EdgeEvent):
    """An expression became true while its source node waited for the user."""

    type: Literal["waiting_condition_matched"] = "waiting_condition_matched"
    condition_expression: str | None = None
    hydrated_condition_expression: str | None = None
    trigger_mode: str | None = None
    trigger_node_logical_id: str | None = None
    trigger_node_completion_count: int | None = None
    transitions_this_wait: int = 0
    guardrail_redirected_from_logical_id: str | None = None


class GuardrailEscalationEdgeEvent(EdgeEvent):
    """The guardrail-strikes threshold was reached."""

    type: Literal["guardrail_escalation_edge"] = "guardrail_escalation_edge"
    num_guardrail_nodes_entered: int = 0


class _ConditionalEdgeFields(EdgeEvent):
    super_node_exit_origin: str | None = None
    args_filled: dict[str, Any] = {}


class ConditionalEdgeEvent(_ConditionalEdgeFields):
    """A conditional edge was taken."""

    type: Literal["conditional_edge"] = "conditional_edge"


class ReverseConditionalEdgeEvent(_ConditionalEdgeFields):
    """Control returned from a global node to the node before it."""

    type: Literal["reverse_conditional_edge"] = "reverse_conditional_edge"
    global_node_logical_id: str | None = None


class CompanionEdgeEvent(EdgeEvent):
    """A companion edge was taken."""

    type: Literal["companion_edge"] = "companion_edge"
