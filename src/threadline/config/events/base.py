"""Event bases (every event, node events, edge events) and LLM usage info."""

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, computed_field, model_validator

from threadline.config.base import KeepsOnlyGiven, WireModel
from threadline.config.edges import COMPANION_THREAD_DELIMITER
from threadline.config.feedback import CommentConfig
from threadline.ids import new_logical_id

SelfLoopOutcome = Literal["max_retries", "expiry_time"]


def thread_reference_id(thread_id: str | None) -> str | None:
    """Author-facing thread id: "0" for main, a companion's configured id otherwise."""
    if thread_id is None or COMPANION_THREAD_DELIMITER not in thread_id:
        return thread_id
    return thread_id.rsplit(COMPANION_THREAD_DELIMITER, 1)[-1]


def _now() -> float:
    return datetime.now(UTC).timestamp()


class BaseEvent(WireModel):
    """Fields every event has; also the fallback for unknown event types."""

    type: str
    logical_id: str | None = Field(default_factory=lambda: new_logical_id("event"))
    timestamp: float = Field(default_factory=_now)
    origin_thread_id: str | None = None
    comments: list[CommentConfig] = []
    interrupted: bool = False

    @model_validator(mode="before")
    @classmethod
    def _drop_computed(cls, data: Any) -> Any:
        # thread_reference_id is derived on dump; drop it on the way back in.
        if isinstance(data, dict) and "thread_reference_id" in data:
            data = {k: v for k, v in data.items() if k != "thread_reference_id"}
        return data

    def _reference_thread(self) -> str | None:
        return self.origin_thread_id

    @computed_field  # type: ignore[prop-decorator]
    @property
    def thread_reference_id(self) -> str | None:
        """Author-facing id of the event's thread."""
        return thread_reference_id(self._reference_thread())


class UnknownEvent(BaseEvent, KeepsOnlyGiven):
    """An event whose ``type`` is not known here; all its fields are kept."""


class NodeEvent(BaseEvent):
    """An event emitted by a node."""

    origin_node_logical_id: str | None = None
    origin_node_name: str | None = None
    origin_node_run_id: str | None = None


class EdgeEvent(BaseEvent):
    """An event emitted when an edge is evaluated or taken."""

    edge_name: str | None = None
    edge_logical_id: str | None = None
    edge_run_id: str | None = None
    source_node_logical_id: str | None = None
    source_node_name: str | None = None
    destination_node_logical_id: str | None = None
    destination_node_name: str | None = None
    reason: str | None = None


class StructuredOutputRetryAttempt(WireModel):
    """One failed attempt to parse structured output."""

    attempt_number: int
    error_message: str
    latency_milliseconds: int


class StructuredOutputRetryMetadata(WireModel):
    """Retries made to obtain valid structured output."""

    retry_count: int
    failed_attempts: list[StructuredOutputRetryAttempt] = []


class LLMUsageInfo(WireModel):
    """Usage and latency of one LLM call."""

    response_model: str | None = None
    named_llm_config_id: str | None = None
    named_llm_config_name: str | None = None
    provider: str | None = None
    ai_message_turn_id: str | None = None
    llm_response_id: str | None = None
    used_user_api_key: bool = False
    finish_reason: list[str] | None = None
    response_latency_milliseconds: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    was_streamed: bool | None = None
    was_estimated: bool = False
    structured_output_retry_metadata: StructuredOutputRetryMetadata | None = None
