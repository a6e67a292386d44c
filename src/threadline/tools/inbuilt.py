"""The inbuilt tool catalogue: pre-registered functions referenced by ``tool_id``.

Each entry carries what ``GET /v1/tools/inbuilt`` shows (name, signature the model
sees, JSON schema of its arguments, category) and either the function itself,
which is pure (``inbuilt_functions.py``: math, text, dates, data), or the vendor
and operation it calls (``vendor`` set: ``call_forward``, ``send_sms``,
``send_email``, ``web_search``). A vendor function runs through the deployment's
vendor of that name with the team's vendor credential
(``PUT /v1/teams/current/credentials/<vendor>``); with no such vendor it fails
with ``error_type: "not_configured"``. The model is offered each function under
its ``tool_id`` (``math_add``), never its display name.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from threadline.tools.inbuilt_functions import PURE_FUNCTIONS, Args

__all__ = [
    "CONFIGURABLE_INBUILT_TOOLS",
    "INBUILT_TOOLS",
    "InbuiltTool",
    "is_known_inbuilt",
]


@dataclass(frozen=True, slots=True)
class InbuiltTool:
    """One inbuilt function."""

    tool_id: str
    name: str
    signature: str
    category: str
    args_schema: dict[str, Any]
    run: Callable[[Args], Any] | None = None
    vendor: str | None = None
    """The vendor a non-pure function calls (``run`` is None then)."""
    operation: str | None = None
    side_effect: str = "none"

    def describe(self) -> dict[str, Any]:
        """The catalogue entry, without the function."""
        entry = {
            "tool_id": self.tool_id,
            "name": self.name,
            "signature": self.signature,
            "args_schema": self.args_schema,
            "category": self.category,
            "side_effect": self.side_effect,
        }
        if self.vendor:
            entry["vendor"] = self.vendor
        return entry


def _schema(
    required: dict[str, str], optional: dict[str, str] | None = None
) -> dict[str, Any]:
    props = {n: {"type": t} for n, t in {**required, **(optional or {})}.items()}
    return {"type": "object", "properties": props, "required": list(required)}


_PURE_ROWS = [
    # tool_id, display name, signature, category, required, optional
    (
        "math_add",
        "Add",
        "add(a: float, b: float) -> float",
        "Math",
        "a:number b:number",
        "",
    ),
    (
        "math_subtract",
        "Subtract",
        "subtract(a: float, b: float) -> float",
        "Math",
        "a:number b:number",
        "",
    ),
    (
        "math_multiply",
        "Multiply",
        "multiply(a: float, b: float) -> float",
        "Math",
        "a:number b:number",
        "",
    ),
    (
        "math_divide",
        "Divide",
        "divide(a: float, b: float) -> float",
        "Math",
        "a:number b:number",
        "",
    ),
    (
        "math_power",
        "Power",
        "power(base: float, exponent: float) -> float",
        "Math",
        "base:number exponent:number",
        "",
    ),
    ("math_sqrt", "Square root", "sqrt(x: float) -> float", "Math", "x:number", ""),
    (
        "math_round",
        "Round",
        "round(x: float, digits: int = 0) -> float",
        "Math",
        "x:number",
        "digits:integer",
    ),
    (
        "math_percentage",
        "Percentage",
        "percentage(part: float, whole: float) -> float",
        "Math",
        "part:number whole:number",
        "",
    ),
    ("text_upper", "Uppercase", "upper(text: str) -> str", "Text", "text:string", ""),
    ("text_lower", "Lowercase", "lower(text: str) -> str", "Text", "text:string", ""),
    ("text_length", "Length", "length(text: str) -> int", "Text", "text:string", ""),
    (
        "text_contains",
        "Contains",
        "contains(text: str, part: str) -> bool",
        "Text",
        "text:string part:string",
        "",
    ),
    (
        "text_replace",
        "Replace",
        "replace(text: str, old: str, new: str) -> str",
        "Text",
        "text:string old:string new:string",
        "",
    ),
    (
        "text_split",
        "Split",
        "split(text: str, separator: str = ' ') -> list[str]",
        "Text",
        "text:string",
        "separator:string",
    ),
    ("text_trim", "Trim", "trim(text: str) -> str", "Text", "text:string", ""),
    (
        "datetime_now",
        "Current date and time",
        "now(timezone: str = 'UTC') -> str",
        "Date and time",
        "",
        "timezone:string",
    ),
    (
        "date_add_days",
        "Add days to a date",
        "add_days(date: str, days: int) -> str",
        "Date and time",
        "date:string days:integer",
        "",
    ),
    (
        "date_diff_days",
        "Days between dates",
        "diff_days(start: str, end: str) -> int",
        "Date and time",
        "start:string end:string",
        "",
    ),
    (
        "json_extract",
        "Extract from JSON",
        "extract(data: object, path: str) -> any",
        "Data",
        "data:object path:string",
        "",
    ),
]


def _spec(text: str) -> dict[str, str]:
    return dict(part.split(":", 1) for part in text.split())


_PURE = [
    InbuiltTool(
        tid, name, sig, cat, _schema(_spec(req), _spec(opt)), PURE_FUNCTIONS[tid]
    )
    for tid, name, sig, cat, req, opt in _PURE_ROWS
]

_VENDOR = [
    InbuiltTool(
        "call_forward",
        "Call forward",
        "call_forward(phone_number: str, reason: str = '') -> dict",
        "Communication",
        _schema({"phone_number": "string"}, {"reason": "string"}),
        vendor="conversations",
        operation="call_forward",
        side_effect="sends",
    ),
    InbuiltTool(
        "send_sms",
        "Send SMS",
        "send_sms(destination_phone_number: str, message: str) -> dict",
        "Communication",
        _schema({"destination_phone_number": "string", "message": "string"}),
        vendor="sms",
        operation="send_sms",
        side_effect="sends",
    ),
    InbuiltTool(
        "send_email",
        "Send email",
        "send_email(to: str, subject: str, body: str) -> dict",
        "Communication",
        _schema({"to": "string", "subject": "string", "body": "string"}),
        vendor="email",
        operation="send_email",
        side_effect="sends",
    ),
    InbuiltTool(
        "web_search",
        "Web search",
        "web_search(query: str, max_results: int = 5) -> list[dict]",
        "Search",
        _schema({"query": "string"}, {"max_results": "integer"}),
        vendor="web_search",
        operation="search",
        side_effect="reads",
    ),
]

INBUILT_TOOLS: dict[str, InbuiltTool] = {t.tool_id: t for t in [*_PURE, *_VENDOR]}


def is_known_inbuilt(tool_id: Any) -> bool:
    """Whether ``tool_id`` names a function of the catalogue."""
    return isinstance(tool_id, str) and tool_id in INBUILT_TOOLS


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
    },
    "web_search": {
        "key": "web_search",
        "title": "Web Search",
        "registry_tool_id": "web_search",
        "description": "Search the web through the team's web-search vendor.",
        "config_schema": {
            "type": "object",
            "properties": {
                "max_results": {"type": "integer", "minimum": 1, "maximum": 20},
                "allowed_domains": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
}
