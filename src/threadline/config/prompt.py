"""Prompt configuration and the shared selection-mode enum."""

from enum import StrEnum

from threadline.config.base import WireModel


class SelectionMode(StrEnum):
    """How one item is chosen from a list of candidates."""

    RANDOM = "random"
    SEQUENCE = "sequence"


class PromptConfig(WireModel):
    """An LLM system prompt."""

    prompt: str | None = None
