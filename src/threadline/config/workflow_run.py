"""The workflow run record: status, turns, usage and latency statistics."""

from enum import StrEnum
from typing import Any

from pydantic import Field

from threadline.config.base import WireModel
from threadline.config.evaluation import EvaluationRunInfo
from threadline.config.feedback import CommentConfig, RatingConfig
from threadline.config.nodes.union import WorkflowConfigFullyHydrated
from threadline.config.run_input import WorkflowRunInput
from threadline.config.run_output import WorkflowRunOutput
from threadline.ids import new_logical_id


class WorkflowStatus(StrEnum):
    """Lifecycle status of a workflow run."""

    NOT_STARTED = "not_started"
    STARTED = "started"
    RUNNING = "running"
    FAILED = "failed"
    COMPLETED = "completed"
    PAUSED = "paused"
    WAITING_FOR_USER_INPUT = "waiting_for_user_input"
    CANCELLED = "cancelled"
    ABORTED_LOOPING_RISK = "aborted_looping_risk"

    @property
    def is_terminal(self) -> bool:
        """No further turns may be sent."""
        return self in TERMINAL_STATUSES

    @property
    def is_active(self) -> bool:
        """Possibly in flight (a stale-run reaper candidate; paused excluded)."""
        return self in ACTIVE_STATUSES


TERMINAL_STATUSES: frozenset[WorkflowStatus] = frozenset(
    {
        WorkflowStatus.COMPLETED,
        WorkflowStatus.FAILED,
        WorkflowStatus.CANCELLED,
        WorkflowStatus.ABORTED_LOOPING_RISK,
    }
)
ACTIVE_STATUSES: frozenset[WorkflowStatus] = frozenset(
    {
        WorkflowStatus.STARTED,
        WorkflowStatus.RUNNING,
        WorkflowStatus.WAITING_FOR_USER_INPUT,
    }
)


class WorkflowRunInputOutputPair(WireModel):
    """One contiguous execution segment (turn) of a run."""

    run_input: WorkflowRunInput | None = None
    run_output: WorkflowRunOutput | None = None
    evaluation: dict[str, Any] | None = None
    iteration_end_state_miscellaneous: dict[str, Any] | None = None
    comments: list[CommentConfig] = []
    ratings: list[RatingConfig] = []


class _TokenCounters(WireModel):
    total_input_tokens: int | None = 0
    total_output_tokens: int | None = 0
    total_tokens: int | None = 0
    call_count_with_user_keys: int | None = 0
    call_count_with_fallback_keys: int | None = 0
    call_count: int | None = 0


class LLMTokenUsageByModel(_TokenCounters):
    """Token usage of one model/provider."""

    response_model: str | None = None
    provider: str | None = None


class LLMTokenUsage(_TokenCounters):
    """Token usage of a run, with a per-model breakdown."""

    breakdown_by_models: list[LLMTokenUsageByModel] | None = None


class _LatencyCounters(WireModel):
    call_count: int | None = 0
    total_latency_milliseconds: int | None = 0
    average_latency_milliseconds: float | None = 0.0


class LLMLatencyStatsByModel(_LatencyCounters):
    """LLM latency of one model/provider."""

    response_model: str | None = None
    provider: str | None = None


class LLMLatencyStats(_LatencyCounters):
    """LLM latency of a run, with a per-model breakdown."""

    breakdown_by_models: list[LLMLatencyStatsByModel] | None = None


class IterationCallLatencyStats(WireModel):
    """Latency distribution (ms) of one kind of call within an iteration."""

    average_milliseconds: float | None = None
    min_milliseconds: float | None = None
    max_milliseconds: float | None = None
    median_milliseconds: float | None = None


class WorkflowIterationMetrics(WireModel):
    """Operational metrics of one iteration (turn)."""

    e2e_latency_milliseconds: int | None = None
    nodes_executed_count: int = 0
    llm_call_count: int = 0
    tool_call_count: int = 0
    llm_call_latency_stats: IterationCallLatencyStats | None = None
    tool_call_latency_stats: IterationCallLatencyStats | None = None


class WorkflowRun(WireModel):
    """One execution of a workflow version."""

    logical_id: str | None = Field(
        default_factory=lambda: new_logical_id("workflow_run")
    )
    workflow_id: str | None = None
    voice_conversation_id: str | None = None
    version_number: int | None = 0
    status: WorkflowStatus = WorkflowStatus.NOT_STARTED
    termination_source: str | None = None
    input_output_pairs: list[WorkflowRunInputOutputPair] = []
    run_by: str | None = None
    comments: list[CommentConfig] = []
    llm_token_usage: LLMTokenUsage | None = None
    llm_latency_stats: LLMLatencyStats | None = None
    version_name: str | None = "Initial Version"
    workflow_config_fully_hydrated: WorkflowConfigFullyHydrated | None = None
    workflow_run_id: str | None = None
    miscellaneous: dict[str, Any] | None = None
    source_workflow_run_id: str | None = None
    checkpoint_source_turn_index: int | None = None
    carried_over_llm_token_usage: LLMTokenUsage | None = None
    carried_over_llm_latency_stats: LLMLatencyStats | None = None
    is_evaluation_run: bool = False
    evaluation_run_info: EvaluationRunInfo | None = None
