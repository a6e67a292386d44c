"""Conditions (edges, global nodes) and the messages spoken while they run."""

from typing import Any

from threadline.config.base import WireModel
from threadline.config.prompt import SelectionMode


class StaticMessagesConfig(WireModel):
    """Pre-written messages; one is selected and emitted."""

    static_messages: list[str] = []
    static_messages_selection_mode: SelectionMode | None = SelectionMode.RANDOM


class DynamicMessagesConfig(WireModel):
    """A prompt the LLM uses to generate an in-flight message."""

    dynamic_message_prompt: str | None = None


class ConditionConfig(WireModel):
    """A freeform (LLM-judged) and/or expression condition."""

    condition_freeform: str | None = None
    condition_expression: str | None = None
    args_schema: dict[str, Any] | None = None
    static_messages_config: StaticMessagesConfig | None = None
    dynamic_messages_config: DynamicMessagesConfig | None = None
