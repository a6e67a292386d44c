"""Liquid-style filters for placeholders, and the ``MISSING`` sentinel.

Every filter is total: a wrong argument count or an unsuitable value returns the value
unchanged rather than raising. Only ``default`` acts on a missing value; every other
filter passes ``MISSING`` through. An unknown filter name is a no-op (``validate``
warns about it at save time).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from threadline.engine.render_limits import Budget

__all__ = ["KNOWN_FILTERS", "MISSING", "Missing", "apply", "to_text"]


class Missing(enum.Enum):
    """Type of the ``MISSING`` sentinel: a variable that has no value at all."""

    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = Missing.MISSING


def to_text(value: Any) -> str:
    """Render a value as Liquid does: ``true``/``false``, ``""`` for None, JSON for
    dicts and lists, ``str()`` otherwise."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or value is MISSING:
        return ""
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _is_blank(value: Any) -> bool:
    if value is MISSING or value is None or value is False:
        return True
    return isinstance(value, str | list | tuple | Mapping) and len(value) == 0


def _default(value: Any, args: tuple[Any, ...]) -> Any:
    return (args[0] if args else "") if _is_blank(value) else value


def _text(fn: Callable[[str], str]) -> Callable[[Any, tuple[Any, ...]], Any]:
    return lambda value, args: fn(to_text(value))


def _join(value: Any, args: tuple[Any, ...]) -> Any:
    if not isinstance(value, list | tuple):
        return value
    sep = to_text(args[0]) if args else " "
    return sep.join(to_text(item) for item in value)


def _size(value: Any, args: tuple[Any, ...]) -> Any:
    return len(value) if isinstance(value, str | list | tuple | Mapping) else 0


def _first(value: Any, args: tuple[Any, ...]) -> Any:
    return value[0] if isinstance(value, str | list | tuple) and value else None


def _last(value: Any, args: tuple[Any, ...]) -> Any:
    return value[-1] if isinstance(value, str | list | tuple) and value else None


def _append(value: Any, args: tuple[Any, ...]) -> Any:
    return to_text(value) + "".join(to_text(a) for a in args[:1])


def _prepend(value: Any, args: tuple[Any, ...]) -> Any:
    return "".join(to_text(a) for a in args[:1]) + to_text(value)


def _replace(value: Any, args: tuple[Any, ...]) -> Any:
    if len(args) != 2:
        return value
    return to_text(value).replace(to_text(args[0]), to_text(args[1]))


def _remove(value: Any, args: tuple[Any, ...]) -> Any:
    return to_text(value).replace(to_text(args[0]), "") if args else value


def _json(value: Any, args: tuple[Any, ...]) -> Any:
    return json.dumps(value, ensure_ascii=False, default=str)


def _date(value: Any, args: tuple[Any, ...]) -> Any:
    """Format an ISO-8601 string or an epoch number with a strftime format."""
    if not args or not isinstance(args[0], str):
        return value
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            moment = datetime.fromtimestamp(value, tz=UTC)
        elif isinstance(value, str):
            moment = datetime.fromisoformat(value.strip())
        else:
            return value
        return moment.strftime(args[0])
    except (ValueError, OverflowError, OSError):
        return value


_FILTERS: dict[str, Callable[[Any, tuple[Any, ...]], Any]] = {
    "append": _append,
    "capitalize": _text(str.capitalize),
    "date": _date,
    "default": _default,
    "downcase": _text(str.lower),
    "first": _first,
    "join": _join,
    "json": _json,
    "last": _last,
    "lstrip": _text(str.lstrip),
    "prepend": _prepend,
    "remove": _remove,
    "replace": _replace,
    "rstrip": _text(str.rstrip),
    "size": _size,
    "strip": _text(str.strip),
    "upcase": _text(str.upper),
}

KNOWN_FILTERS: Final = frozenset(_FILTERS)


# strftime expands a directive of 2 characters to at most ~24 (``%c``).
_DATE_GROWTH = 16


def _predicted(name: str, value: Any, args: tuple[Any, ...]) -> int | None:
    """The size of the filter's text result, when it can be known before building
    it (the amplifying filters); None otherwise."""
    if name == "replace" and len(args) == 2:
        text, old, new = to_text(value), to_text(args[0]), to_text(args[1])
        hits = text.count(old) if old else len(text) + 1
        return len(text) + hits * (len(new) - len(old))
    if name in ("append", "prepend"):
        return len(to_text(value)) + sum(len(to_text(a)) for a in args[:1])
    if name == "join" and isinstance(value, list | tuple):
        sep = len(to_text(args[0])) if args else 1
        items = sum(len(to_text(item)) for item in value)
        return items + sep * max(len(value) - 1, 0)
    if name == "date" and args and isinstance(args[0], str):
        return len(args[0]) * _DATE_GROWTH
    return None


def apply(
    name: str, value: Any, args: tuple[Any, ...], budget: Budget | None = None
) -> Any:
    """Apply the filter ``name`` to ``value``; unknown filters return it unchanged.

    With a ``budget`` the filter counts as a step and its result against the
    render's limits, refused before it is built when its size is predictable.
    """
    fn = _FILTERS.get(name)
    if fn is None or (value is MISSING and name != "default"):
        return value
    if budget is None:
        return fn(value, args)
    what = f"the result of the {name!r} filter"
    budget.step()
    size = _predicted(name, value, args)
    if size is not None:
        budget.expect(size, what)
    result = fn(value, args)
    if isinstance(result, str):
        budget.produced(len(result), what)
    return result
