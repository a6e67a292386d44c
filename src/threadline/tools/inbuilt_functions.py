"""The pure inbuilt functions (math, text, dates, data), by catalogue ``tool_id``.

Each takes the bound arguments and returns a JSON value; a bad argument raises
(``KeyError`` for a missing one, ``ValueError`` otherwise), which the runner
reports as ``invalid_arguments`` / ``runtime_error``. ``datetime_now`` reads the
clock: tools run in the shell, never in the engine.
"""

import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Args = dict[str, Any]

__all__ = ["PURE_FUNCTIONS", "Args"]

_MAX_DAYS = 1_000_000
_MAX_EXPONENT = 10_000


def _num(args: Args, name: str) -> float:
    value = args[name]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{name} must be a number")
    return float(value)


def _divide(args: Args) -> float:
    if _num(args, "b") == 0:
        raise ValueError("division by zero")
    return _num(args, "a") / _num(args, "b")


def _sqrt(args: Args) -> float:
    if _num(args, "x") < 0:
        raise ValueError("square root of a negative number")
    return math.sqrt(_num(args, "x"))


def _power(args: Args) -> float:
    exponent = _num(args, "exponent")
    if abs(exponent) > _MAX_EXPONENT:
        raise ValueError(f"exponent must be within ±{_MAX_EXPONENT}")
    return float(_num(args, "base") ** exponent)


def _percentage(args: Args) -> float:
    if _num(args, "whole") == 0:
        raise ValueError("whole must not be 0")
    return _num(args, "part") / _num(args, "whole") * 100


def _date(args: Args, name: str) -> date:
    try:
        return date.fromisoformat(str(args[name])[:10])
    except ValueError as exc:
        raise ValueError(f"{name} must be a date like 2026-12-06") from exc


def _now(args: Args) -> str:
    zone = str(args.get("timezone") or "UTC")
    try:
        tz = UTC if zone == "UTC" else ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"timezone {zone!r} is not an IANA time zone") from exc
    return datetime.now(tz).isoformat(timespec="seconds")


def _add_days(args: Args) -> str:
    days = int(_num(args, "days"))
    if abs(days) > _MAX_DAYS:
        raise ValueError(f"days must be within ±{_MAX_DAYS}")
    return (_date(args, "date") + timedelta(days=days)).isoformat()


def _extract(args: Args) -> Any:
    value: Any = args["data"]
    for step in str(args["path"]).split("."):
        if step == "":
            continue
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.lstrip("-").isdigit():
            index = int(step)
            if not -len(value) <= index < len(value):
                raise ValueError(f"path step {step!r}: index out of range")
            value = value[index]
        else:
            raise ValueError(f"path step {step!r} not found")
    return value


PURE_FUNCTIONS: dict[str, Callable[[Args], Any]] = {
    "math_add": lambda a: _num(a, "a") + _num(a, "b"),
    "math_subtract": lambda a: _num(a, "a") - _num(a, "b"),
    "math_multiply": lambda a: _num(a, "a") * _num(a, "b"),
    "math_divide": _divide,
    "math_power": _power,
    "math_sqrt": _sqrt,
    "math_round": lambda a: round(_num(a, "x"), int(a.get("digits") or 0)),
    "math_percentage": _percentage,
    "text_upper": lambda a: str(a["text"]).upper(),
    "text_lower": lambda a: str(a["text"]).lower(),
    "text_length": lambda a: len(str(a["text"])),
    "text_contains": lambda a: str(a["part"]).lower() in str(a["text"]).lower(),
    "text_replace": lambda a: str(a["text"]).replace(str(a["old"]), str(a["new"])),
    "text_split": lambda a: str(a["text"]).split(str(a.get("separator") or " ")),
    "text_trim": lambda a: str(a["text"]).strip(),
    "datetime_now": _now,
    "date_add_days": _add_days,
    "date_diff_days": lambda a: (_date(a, "end") - _date(a, "start")).days,
    "json_extract": _extract,
}
