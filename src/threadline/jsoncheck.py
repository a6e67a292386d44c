"""What a JSON value a client sends may hold, checked in one iterative walk.

Shared by the API's guard on request bodies and WebSocket frames
(``api/json_guard.py``) and by services that keep a client's JSON for later
(global variables). Pure: no I/O.

- Nesting deeper than ``max_depth`` (``json_too_deep``): deep values make the JSON
  decoder, pydantic's serializer and recursive walkers fail.
- Integers outside ±(2**53 - 1) (``integer_out_of_range``): no client keeps them
  exactly, and no database column holds the largest.
- Text that is not valid Unicode (``invalid_text``): a lone surrogate
  (``"\\ud800"``) cannot be encoded as UTF-8 on the way out, and a NUL cannot be
  stored in PostgreSQL text.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MAX_SAFE_INTEGER = 2**53 - 1
"""Largest integer a JSON number keeps exactly in every client (IEEE double)."""


@dataclass(frozen=True, slots=True)
class JsonProblem:
    """The first part of a value that cannot be kept: where, why, a stable code."""

    field: str
    message: str
    code: str


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be kept (a lone surrogate, a NUL), or None."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "text is not valid Unicode (a lone surrogate)"
    if "\x00" in text:
        return "text must not contain U+0000 (NUL)"
    return None


def _children(value: dict[Any, Any] | list[Any]) -> Iterator[tuple[Any, Any]]:
    if isinstance(value, dict):
        return iter(value.items())
    return enumerate(value)


def _printable(part: Any) -> str:
    """A path part as text that can be sent back (a bad key shows its escapes)."""
    return str(part).encode("utf-8", "backslashreplace").decode("utf-8")


def _field(prefix: str, path: tuple[Any, ...]) -> str:
    parts = [prefix] if prefix else []
    return ".".join(parts + [_printable(p) for p in path]) or "body"


def _scalar_problem(item: Any) -> tuple[str, str] | None:
    if isinstance(item, str):
        reason = text_problem(item)
        return None if reason is None else (reason, "invalid_text")
    is_int = isinstance(item, int) and not isinstance(item, bool)
    if is_int and abs(item) > MAX_SAFE_INTEGER:
        limit = f"at most ±{MAX_SAFE_INTEGER}"
        return f"integer out of range ({limit})", "integer_out_of_range"
    return None


def find_problem(value: Any, max_depth: int, prefix: str = "") -> JsonProblem | None:
    """The first part of ``value`` (decoded JSON) that breaks the rules, or None.

    ``max_depth`` counts containers: ``[]`` is 1 deep, ``[[]]`` 2. ``prefix`` is
    put before every field name (``value`` gives ``value.a.0``).
    """
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if not isinstance(item, dict | list):
            found = _scalar_problem(item)
            if found is not None:
                return JsonProblem(_field(prefix, path), *found)
            continue
        if len(path) >= max_depth:
            message = f"JSON nested deeper than {max_depth} levels"
            return JsonProblem(_field(prefix, path), message, "json_too_deep")
        for key, child in _children(item):
            reason = text_problem(key) if isinstance(key, str) else None
            if reason is not None:
                where = _field(prefix, (*path, key))
                return JsonProblem(where, f"key: {reason}", "invalid_text")
            stack.append((child, (*path, key)))
    return None
