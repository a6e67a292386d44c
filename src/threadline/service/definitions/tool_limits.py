"""Save-time check of the operator's tool ceilings on any config a tenant sends.

A tool config may sit anywhere: alone (``POST /v1/tools``, inline test execution),
in a node (``tool_node.tool_config``, an LLM node's ``tools_config.tools``), in a
workflow config, a hydrated version or an imported bundle. :func:`check_tools` walks
whatever JSON it is given and refuses (422, code ``over_limit``, naming the field)
a tool whose ``timeout_seconds`` is above ``THREADLINE_TOOL_MAX_SECONDS``, and one
below 1 (a time limit that cannot be honoured).
"""

from typing import Any

from threadline.config.tool import ToolType
from threadline.errors import InvalidField
from threadline.tools.limits import ToolCeilings

__all__ = ["OVER_LIMIT", "check_tools"]

OVER_LIMIT = "over_limit"
"""Error code of a config asking more than an operator's ceiling."""
_TOOL_TYPES = frozenset(t.value for t in ToolType)


def _tools_in(raw: Any, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    """Every ``(field path, tool config)`` in ``raw``; iterative, so a deep
    document cannot exhaust the stack."""
    found: list[tuple[str, dict[str, Any]]] = []
    stack: list[tuple[str, Any]] = [(prefix, raw)]
    while stack:
        path, value = stack.pop()
        dot = f"{path}." if path else ""
        if isinstance(value, dict):
            if value.get("type") in _TOOL_TYPES:
                found.append((path, value))
            stack.extend((f"{dot}{k}", v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{dot}{i}", v) for i, v in enumerate(value))
    return sorted(found, key=lambda item: item[0])


def _number(value: Any) -> float | None:
    """``timeout_seconds`` as the wire validation will read it: a number, or a
    numeric string (pydantic's lax mode turns ``"1000"`` into 1000)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def check_tools(raw: Any, ceilings: ToolCeilings, prefix: str = "") -> None:
    """Raise ``InvalidField`` (``over_limit``) for the first tool in ``raw`` whose
    ``timeout_seconds`` the server will not grant (and a 422 for a
    ``confirm_test_runs`` that is not a boolean: a Threadline field the typed
    config does not declare, so it round-trips as an extra)."""
    for path, tool in _tools_in(raw, prefix):
        gate = tool.get("confirm_test_runs")
        if gate is not None and not isinstance(gate, bool):
            field = f"{path}.confirm_test_runs" if path else "confirm_test_runs"
            raise InvalidField(f"{field}: must be true or false")
        asked = _number(tool.get("timeout_seconds"))
        if asked is None:
            continue  # unset, or not a number: the wire validation reports it
        field = f"{path}.timeout_seconds" if path else "timeout_seconds"
        if asked < 1:
            message = "must be at least 1 (leave it unset for the platform default)"
        elif asked > ceilings.max_seconds:
            shown = int(asked) if asked.is_integer() else asked
            message = (
                f"{shown} s is over the server's ceiling of "
                f"{ceilings.max_seconds} s (THREADLINE_TOOL_MAX_SECONDS)"
            )
        else:
            continue
        raise InvalidField(
            f"{field}: {message}",
            code=OVER_LIMIT,
            details=[{"field": field, "message": message, "type": OVER_LIMIT}],
        )
