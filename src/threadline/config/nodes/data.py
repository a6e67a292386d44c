"""Data-transformation nodes (deduplicate, field_extractor) and no_op."""

from typing import Literal

from threadline.config.nodes.base import BaseNodeConfig, NodeCategory


class DeduplicateNodeConfig(BaseNodeConfig):
    """Removes duplicates (by a dot-path key) from a list runtime variable."""

    type: Literal["deduplicate"] = "deduplicate"
    primary_category: str | None = NodeCategory.DATA_TRANSFORMATION.value
    secondary_category: str | None = NodeCategory.DEDUPLICATION.value
    input_runtime_variable_name: str | None = None
    dedup_key: str | None = None
    dedup_key_runtime_variable_name: str | None = None
    output_runtime_variable_name: str | None = "deduplicate_result"


class FieldExtractorNodeConfig(BaseNodeConfig):
    """Keeps only the chosen key paths of a JSON runtime variable."""

    type: Literal["field_extractor"] = "field_extractor"
    primary_category: str | None = NodeCategory.DATA_TRANSFORMATION.value
    secondary_category: str | None = NodeCategory.EXTRACTION.value
    input_runtime_variable_name: str | None = None
    keys_to_retain: list[str] = []
    keys_to_retain_runtime_variable_name: str | None = None
    output_runtime_variable_name: str | None = "field_extractor_result"


class NoOpNodeConfig(BaseNodeConfig):
    """Runs and succeeds without doing anything (placeholder, fan-in, fork point)."""

    type: Literal["no_op"] = "no_op"
    primary_category: str | None = NodeCategory.SYSTEM.value
    secondary_category: str | None = NodeCategory.UTILITY.value
    note: str | None = None
    output_runtime_variable_name: str | None = "no_op_result"
    delay_seconds: float | None = 0.0
    simulate_failure: bool = False
