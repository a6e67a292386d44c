"""What a team may store as a global variable: names, flags and values.

Used by :mod:`threadline.service.team.global_variables`. A value is checked before it is
stored (valid Unicode, integers within ±(2**53 - 1), ``ValueLimits`` on depth and
size); :func:`unreadable` tells why a value stored before these checks cannot be
sent back.
"""

import json
import re
from dataclasses import dataclass
from typing import Any

from threadline.errors import Conflict, InvalidField
from threadline.jsoncheck import find_problem

JsonDict = dict[str, Any]

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_NAME = 128
MIN_SECRET = 4
"""Shortest non-empty secret value (shorter ones cannot be redacted safely)."""
RESERVED_NAMES = frozenset({"interactly_api_base_url", "interactly_api_token"})
"""The Interactly service's system variables: never created by a team."""
READABLE_DEPTH = 200
"""Deepest stored value still sent back (the serializer gives up past ~255)."""


@dataclass(frozen=True)
class ValueLimits:
    """Ceilings on a value a team stores (``THREADLINE_MAX_VARIABLE_*``)."""

    max_depth: int = 32
    max_bytes: int = 100_000


def field_error(
    field: str, message: str, kind: str = "value_error", code: str | None = None
) -> InvalidField:
    """A 422 naming ``field`` (``code`` defaults to ``validation_error``)."""
    return InvalidField(
        f"{field}: {message}",
        code=code,
        details=[{"field": field, "message": message, "type": kind}],
    )


_TOO_DEEP = {"json_too_deep": "variable_too_deep"}


def check_value(value: Any, field: str, limits: ValueLimits) -> Any:
    """``value`` when it may be stored, else the 422 naming what is wrong."""
    problem = find_problem(value, limits.max_depth, field)
    if problem is not None:
        code = _TOO_DEEP.get(problem.code, problem.code)
        raise field_error(problem.field, problem.message, code, code)
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    size = len(text.encode("utf-8"))
    if size > limits.max_bytes:
        message = f"value is {size} bytes of JSON, more than {limits.max_bytes}"
        raise field_error(field, message, "variable_too_large", "variable_too_large")
    return value


def unreadable(value: Any) -> str | None:
    """Why a stored value cannot be sent back (stored before it was checked)."""
    problem = find_problem(value, READABLE_DEPTH)
    if problem is None:
        return None
    return (
        f"the stored value cannot be shown ({problem.message} at {problem.field}); "
        "update or delete this variable"
    )


def as_object(raw: Any, what: str, field: str = "body") -> JsonDict:
    """``raw`` when it is a JSON object, else a 422 naming ``field``."""
    if not isinstance(raw, dict):
        raise field_error(field, f"a {what} must be a JSON object", "dict_type")
    return raw


def valid_name(value: Any, field: str = "name") -> str:
    """A stripped variable name usable as ``{{global.<name>}}``; 409 if reserved."""
    if not isinstance(value, str) or not value.strip():
        raise field_error(field, "a non-empty string is required", "missing")
    name = value.strip()
    if len(name) > MAX_NAME or not NAME_RE.fullmatch(name):
        raise field_error(
            field,
            f"{name[:MAX_NAME]!r} is not a valid variable name: use letters, digits "
            f"and underscores, not starting with a digit (at most {MAX_NAME} "
            "characters), so it works as {{global.<name>}}",
        )
    if name in RESERVED_NAMES:
        raise Conflict(f"{name!r} is a reserved system variable name")
    return name


def optional_text(raw: JsonDict, key: str, field: str) -> str | None:
    """``raw[key]`` when it is a string or absent, else a 422."""
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise field_error(field, "must be a string or null", "string_type")
    return value


def optional_flag(raw: JsonDict, key: str, field: str) -> bool | None:
    """``raw[key]`` when it is a boolean or absent, else a 422."""
    value = raw.get(key)
    if value is not None and not isinstance(value, bool):
        raise field_error(field, "must be a boolean", "bool_type")
    return value


def secret_text(value: Any, field: str) -> str:
    """A secret value: text of at least ``MIN_SECRET`` characters (or empty)."""
    if not isinstance(value, str):
        raise field_error(field, "a secret value must be a string", "string_type")
    if 0 < len(value) < MIN_SECRET:
        # Redacting a 1-3 character secret would also hide it inside ordinary
        # words and event types ("x" in "tool_execution").
        raise field_error(
            field, f"a secret value needs at least {MIN_SECRET} characters"
        )
    return value
