"""The inbuilt tool catalogue: pre-registered functions referenced by ``tool_id``.

Each entry carries what ``GET /v1/tools/inbuilt`` shows (name, signature the model
sees, JSON schema of its arguments, category) and the function itself, which is pure.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Args = dict[str, Any]


@dataclass(frozen=True, slots=True)
class InbuiltTool:
    """One inbuilt function."""

    tool_id: str
    name: str
    signature: str
    category: str
    args_schema: dict[str, Any]
    run: Callable[[Args], Any]

    def describe(self) -> dict[str, Any]:
        """The catalogue entry, without the function."""
        return {
            "tool_id": self.tool_id,
            "name": self.name,
            "signature": self.signature,
            "args_schema": self.args_schema,
            "category": self.category,
        }


def _numbers(*names: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {n: {"type": "number"} for n in names},
        "required": list(names),
    }


def _text(*names: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {n: {"type": "string"} for n in names},
        "required": list(names),
    }


def _divide(args: Args) -> float:
    if float(args["b"]) == 0:
        raise ValueError("division by zero")
    return float(args["a"]) / float(args["b"])


def _sqrt(args: Args) -> float:
    if float(args["x"]) < 0:
        raise ValueError("square root of a negative number")
    return math.sqrt(float(args["x"]))


_TOOLS = [
    InbuiltTool(
        "math_add",
        "Add",
        "add(a: float, b: float) -> float",
        "Math",
        _numbers("a", "b"),
        lambda a: float(a["a"]) + float(a["b"]),
    ),
    InbuiltTool(
        "math_subtract",
        "Subtract",
        "subtract(a: float, b: float) -> float",
        "Math",
        _numbers("a", "b"),
        lambda a: float(a["a"]) - float(a["b"]),
    ),
    InbuiltTool(
        "math_multiply",
        "Multiply",
        "multiply(a: float, b: float) -> float",
        "Math",
        _numbers("a", "b"),
        lambda a: float(a["a"]) * float(a["b"]),
    ),
    InbuiltTool(
        "math_divide",
        "Divide",
        "divide(a: float, b: float) -> float",
        "Math",
        _numbers("a", "b"),
        _divide,
    ),
    InbuiltTool(
        "math_power",
        "Power",
        "power(base: float, exponent: float) -> float",
        "Math",
        _numbers("base", "exponent"),
        lambda a: float(a["base"]) ** float(a["exponent"]),
    ),
    InbuiltTool(
        "math_sqrt",
        "Square root",
        "sqrt(x: float) -> float",
        "Math",
        _numbers("x"),
        _sqrt,
    ),
    InbuiltTool(
        "text_upper",
        "Uppercase",
        "upper(text: str) -> str",
        "Text",
        _text("text"),
        lambda a: str(a["text"]).upper(),
    ),
    InbuiltTool(
        "text_lower",
        "Lowercase",
        "lower(text: str) -> str",
        "Text",
        _text("text"),
        lambda a: str(a["text"]).lower(),
    ),
    InbuiltTool(
        "text_length",
        "Length",
        "length(text: str) -> int",
        "Text",
        _text("text"),
        lambda a: len(str(a["text"])),
    ),
    InbuiltTool(
        "text_contains",
        "Contains",
        "contains(text: str, part: str) -> bool",
        "Text",
        _text("text", "part"),
        lambda a: str(a["part"]).lower() in str(a["text"]).lower(),
    ),
]

INBUILT_TOOLS: dict[str, InbuiltTool] = {t.tool_id: t for t in _TOOLS}

CONFIGURABLE_INBUILT_TOOLS: dict[str, dict[str, Any]] = {
    "call_forward": {
        "key": "call_forward",
        "title": "Call Forward",
        "registry_tool_id": "call_forward",
        "description": "Forward the conversation to a phone number, optionally "
        "running a warm-transfer workflow first.",
        "config_schema": {
            "type": "object",
            "properties": {
                "warm_transfer_conversation_workflow_id": {
                    "type": ["string", "null"],
                    "pattern": "^[0-9a-f]{24}$",
                    "description": "Workflow run as the warm-transfer conversation",
                }
            },
        },
    }
}
