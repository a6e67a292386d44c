"""Edge configurations (discriminated by ``type``, default ``direct``)."""

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import Field

from threadline.config.base import KeepsOnlyGiven, WireModel, typed_union
from threadline.config.condition import ConditionConfig
from threadline.config.entity import BaseEntityConfig
from threadline.ids import new_logical_id

COMPANION_THREAD_DELIMITER = "_companion_"


class EdgeType(StrEnum):
    """The edge kinds."""

    DIRECT = "direct"
    CONDITIONAL = "conditional"
    COMPANION = "companion"


class BaseEdgeConfig(BaseEntityConfig):
    """Fields shared by every edge; edges reference nodes by logical id."""

    logical_id: str | None = Field(default_factory=lambda: new_logical_id("edge"))
    source_node_logical_id: str | None = None
    destination_node_logical_id: str | None = None


class CompanionThreadConfig(WireModel):
    """Marks a direct edge as forking a background companion thread."""

    is_companion_thread: bool = False
    thread_id: str | None = None


class DirectEdgeConfig(BaseEdgeConfig):
    """Always taken; may fork a companion thread."""

    type: Literal["direct"] = "direct"
    companion_thread_config: CompanionThreadConfig | None = None


class WaitingEvaluationTriggerMode(StrEnum):
    """What arms evaluation of a conditional edge while its source node waits."""

    ON_NODE_COMPLETION = "on_node_completion"
    ON_EVERY_BACKGROUND_TICK = "on_every_background_tick"


class EvaluateWhileWaitingConfig(WireModel):
    """Opt-in evaluation of an expression condition while waiting for the user."""

    enabled: bool = False
    trigger_mode: WaitingEvaluationTriggerMode = (
        WaitingEvaluationTriggerMode.ON_NODE_COMPLETION
    )
    trigger_node_logical_ids: list[str] = []
    min_seconds_between_evaluations: float | None = Field(default=None, ge=0)
    max_transitions_per_wait: int = Field(default=3, ge=1)


class ConditionalEdgeConfig(BaseEdgeConfig):
    """Taken when its condition holds."""

    type: Literal["conditional"] = "conditional"
    condition: ConditionConfig | None = None
    evaluate_while_waiting_config: EvaluateWhileWaitingConfig | None = None


class CompanionEdgeConfig(BaseEdgeConfig):
    """A companion edge."""

    type: Literal["companion"] = "companion"


class UnknownEdgeConfig(BaseEdgeConfig, KeepsOnlyGiven):
    """An edge whose ``type`` is not known here; all its fields are kept."""

    type: str


if TYPE_CHECKING:
    EdgeConfig: TypeAlias = (
        DirectEdgeConfig
        | ConditionalEdgeConfig
        | CompanionEdgeConfig
        | UnknownEdgeConfig
    )
else:
    EdgeConfig = typed_union(
        DirectEdgeConfig,
        ConditionalEdgeConfig,
        CompanionEdgeConfig,
        fallback=UnknownEdgeConfig,
        default=EdgeType.DIRECT.value,
    )


def is_companion_edge(edge: object) -> bool:
    """Tell whether an edge forks a companion thread."""
    cfg = getattr(edge, "companion_thread_config", None)
    return bool(cfg and cfg.is_companion_thread)


class BaseEdgeRunInput(WireModel):
    """Run input of an edge (currently only extras)."""

    miscellaneous: dict[str, Any] = {}
