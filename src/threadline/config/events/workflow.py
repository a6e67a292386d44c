"""Workflow- and thread-level events."""

from typing import Any, Literal

from threadline.config.events.base import (
    BaseEvent,
)
from threadline.config.workflow_run import (
    WorkflowIterationMetrics,
    WorkflowRunInputOutputPair,
)


class StartWorkflowEvent(BaseEvent):
    """The run started."""

    type: Literal["start_workflow"] = "start_workflow"


class _UsageTotals(BaseEvent):
    llm_token_usage: dict[str, Any] | None = None
    llm_latency_stats: dict[str, Any] | None = None


class EndWorkflowEvent(_UsageTotals):
    """The run completed (all threads, companions included, ended)."""

    type: Literal["end_workflow"] = "end_workflow"


class WorkflowErrorEvent(_UsageTotals):
    """The run failed."""

    type: Literal["workflow_error"] = "workflow_error"
    error_message: str | None = None
    stack_trace: str | None = None


class EndWorkflowIterationEvent(BaseEvent):
    """A turn ended."""

    type: Literal["end_workflow_iteration"] = "end_workflow_iteration"
    iteration_number: int | None = None
    run_input_output_pair: WorkflowRunInputOutputPair | None = None
    iteration_metrics: WorkflowIterationMetrics | None = None


class WorkflowReadyForInputEvent(BaseEvent):
    """Every non-companion thread settled; the next user input is accepted."""

    type: Literal["workflow_ready_for_input"] = "workflow_ready_for_input"
    active_companion_thread_ids: list[str] = []


class CompanionStepBoundaryEvent(BaseEvent):
    """A companion thread advanced one self-loop step (safe checkpoint)."""

    type: Literal["companion_step_boundary"] = "companion_step_boundary"
    companion_thread_id: str
    attempts_completed: int | None = None
    deadline_epoch: float | None = None
    still_active: bool = True


class WaitingEvaluationBoundaryEvent(BaseEvent):
    """Waiting-eligible edges of a parked thread were evaluated."""

    type: Literal["waiting_evaluation_boundary"] = "waiting_evaluation_boundary"
    parked_node_logical_id: str | None = None
    edges_evaluated: int = 0
    transitioned: bool = False
    still_waiting: bool = True


class StartThreadEvent(BaseEvent):
    """A thread started."""

    type: Literal["start_thread"] = "start_thread"


class PauseThreadEvent(BaseEvent):
    """A thread paused."""

    type: Literal["pause_thread"] = "pause_thread"
    last_node_logical_id: str | None = None


class EndThreadEvent(BaseEvent):
    """A thread ended."""

    type: Literal["end_thread"] = "end_thread"
    last_node_logical_id: str | None = None


class WorkflowDebugLogEvent(BaseEvent):
    """Debug output."""

    type: Literal["workflow_debug_log"] = "workflow_debug_log"
    chat_history: list[str] = []
    debug_message: str | None = None


class WorkflowWarningEvent(BaseEvent):
    """A non-fatal warning."""

    type: Literal["workflow_warning"] = "workflow_warning"
    warning_message: str | None = None


class WorkflowShowStateEvent(BaseEvent):
    """A snapshot of a thread's runtime variables."""

    type: Literal["workflow_show_state"] = "workflow_show_state"
    thread_id: str | None = None
    runtime_variables: dict[str, Any] = {}
    workflow_runtime_variables: dict[str, Any] = {}

    def _reference_thread(self) -> str | None:
        return self.thread_id or self.origin_thread_id


class BudgetWarningEvent(BaseEvent):
    """A Threadline extension: a run budget reached its soft threshold (once per
    budget)."""

    type: Literal["budget_warning"] = "budget_warning"
    budget: str | None = None
    """``max_tokens``, ``max_cost_usd``, ``max_llm_calls``, ``max_seconds`` or
    ``max_turns``."""
    limit: float | None = None
    used: float | None = None
    warn_at_fraction: float | None = None


class BudgetExceededEvent(BaseEvent):
    """A Threadline extension: the run would pass a budget, so the call or turn was
    not made and the run failed (``termination_source: run_budget``)."""

    type: Literal["budget_exceeded"] = "budget_exceeded"
    budget: str | None = None
    limit: float | None = None
    used: float | None = None
    """What the run had used when it was stopped."""
    would_use: float | None = None
    """What it would have used with the refused call or turn."""
    origin_node_logical_id: str | None = None
    """The node whose model call was refused (None at a turn boundary)."""
