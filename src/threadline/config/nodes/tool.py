"""The tool_node node."""

from typing import Any, Literal, Self

from pydantic import model_validator

from threadline.config.nodes.base import BaseNodeConfig, NodeCategory
from threadline.config.tool import ToolConfig

DEFAULT_TOOL_RESULT_VARIABLE = "tool_result"


class ToolNodeConfig(BaseNodeConfig):
    """Runs one tool deterministically whenever it is reached."""

    type: Literal["tool_node"] = "tool_node"
    primary_category: str | None = NodeCategory.SYSTEM.value
    secondary_category: str | None = NodeCategory.TOOL.value
    tool_config: ToolConfig | None = None
    tool_arguments: dict[str, Any] | None = {}
    result_runtime_variable_name: str | None = DEFAULT_TOOL_RESULT_VARIABLE
    preserve_argument_types: bool = False

    def effective_result_variable_name(self) -> str:
        """The node's own name if changed from the default, else the tool's."""
        chosen = self.result_runtime_variable_name
        if chosen and chosen != DEFAULT_TOOL_RESULT_VARIABLE:
            return chosen
        from_tool = getattr(self.tool_config, "result_runtime_variable_name", None)
        return from_tool or chosen or DEFAULT_TOOL_RESULT_VARIABLE

    @model_validator(mode="after")
    def _mappings_avoid_outcome_keys(self) -> Self:
        mappings = getattr(self.tool_config, "result_variable_mappings", None) or []
        if not mappings:
            return self
        name = self.effective_result_variable_name()
        reserved = {f"{name}_success", f"{name}_error"}
        if clash := sorted(reserved & {m.target_variable_name for m in mappings}):
            raise ValueError(f"result_variable_mappings writes reserved {clash}")
        return self
