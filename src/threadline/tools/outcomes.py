"""How a tool call ends: a :class:`ToolOutcome`, never an exception.

Inside the runner an expected failure is raised as :class:`ToolFailure` (with an
``error_type``) and turned into a failed ``ToolOutcome`` by
:meth:`threadline.tools.runner.ToolRunner.run`.
"""

from dataclasses import dataclass, field
from typing import Any

__all__ = ["JsonDict", "ToolFailure", "ToolOutcome"]

JsonDict = dict[str, Any]


class ToolFailure(Exception):
    """An expected failure, reported through ``ToolOutcome.error``."""

    def __init__(self, message: str, error_type: str = "tool_error") -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True)
class ToolOutcome:
    """What one tool call did; ``variables`` holds the mapped/expanded writes."""

    success: bool
    result: Any
    error: str | None
    latency_ms: float
    variables: JsonDict = field(default_factory=dict)
    workflow_variables: JsonDict = field(default_factory=dict)
    error_type: str | None = None

    def result_variables(self, name: str, *, with_status: bool = True) -> JsonDict:
        """Thread writes: mappings/expansion, ``name`` and (tool nodes) its status."""
        writes = {**self.variables, name: self.result}
        if with_status:
            writes[f"{name}_success"] = self.success
            writes[f"{name}_error"] = self.error
        return writes
