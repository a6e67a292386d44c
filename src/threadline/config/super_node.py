"""The interface a super node (an embedded workflow) exposes to callers."""

from enum import StrEnum
from typing import Any

from threadline.config.base import WireModel


class SuperNodeFieldMappingTargetType(StrEnum):
    """Where a super-node input value is injected."""

    NODE_CONFIG_FIELD = "node_config_field"
    DYNAMIC_VARIABLE = "dynamic_variable"
    EDGE_CONFIG_FIELD = "edge_config_field"
    WORKFLOW_CONFIG_FIELD = "workflow_config_field"
    RUNTIME_VARIABLE = "runtime_variable"


class SuperNodeInputFieldValueType(StrEnum):
    """Declared shape of a super-node input value."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    OBJECT = "object"
    ARRAY = "array"
    ENUM = "enum"
    ANY = "any"


class SuperNodeFieldMapping(WireModel):
    """One injection target for an input field value."""

    target_type: SuperNodeFieldMappingTargetType
    target_node_or_edge_logical_id: str | None = None
    target_field_path: str | None = None
    target_variable_name: str | None = None


class SuperNodeInputField(WireModel):
    """One field callers provide when using the super node."""

    name: str
    description: str | None = None
    required: bool = True
    default_value: Any | None = None
    json_schema: dict[str, Any] | None = None
    mappings: list[SuperNodeFieldMapping] = []
    value_type: SuperNodeInputFieldValueType = SuperNodeInputFieldValueType.ANY
    enum_values: list[Any] | None = None
    min_value: float | None = None
    max_value: float | None = None
    min_length: int | None = None
    max_length: int | None = None


class SuperNodeInterface(WireModel):
    """The input fields of a super node."""

    input_fields: list[SuperNodeInputField] = []
