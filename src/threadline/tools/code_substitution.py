"""``allow_code_variable_substitution``: variables reach tool code as data, never code.

Interactly pastes each ``{{dynamic}}`` / ``[[runtime]]`` value into the Python source
before compiling it, so an end user's text could become code: a ``user_name`` of
``' + key[::-1] + '`` inside ``'Hello {{user_name}}'`` returned the tool's secret.
Here every value is written as a Python *literal*, decided by where the placeholder
sits in the tokenized source:

- inside a string literal (plain, raw, bytes, triple-quoted): the whole literal is
  rebuilt with the value's text in place (``to_text``: JSON for dicts and lists),
  quoted by ``repr``, so no quote, backslash or newline in the value can end it;
- inside the literal text of an f-string: the value's text is escaped for that
  f-string (quotes, backslashes, braces, control characters); a placeholder inside
  a replacement field ``{...}`` or a raw f-string is refused (``invalid_tool``);
- where an expression may stand: the value as a parenthesised literal of its type
  (``(42)``, ``('text')``, ``(['a', 1])``, ``(None)``);
- in a comment, glued to a name or number, or with no value: left as written (the
  author's own text).

Code that does not tokenize is left exactly as written (the sandbox reports the
syntax error).
"""

from __future__ import annotations

import ast
import io
import math
import re
import secrets
import tokenize
from collections.abc import Callable
from typing import Any

from threadline.engine.filters import MISSING, to_text
from threadline.engine.placeholders import (
    PLACEHOLDER_RE,
    Placeholder,
    build_placeholder,
)
from threadline.tools.outcomes import ToolFailure

__all__ = ["python_literal", "substitute_code"]

Resolve = Callable[[Placeholder], Any]
_STRING_PREFIX = re.compile(r"^([A-Za-z]*)(['\"])")


def substitute_code(code: str, resolve: Resolve) -> str:
    """``code`` with every resolvable placeholder filled in as a literal (see the
    module docstring); raise ``ToolFailure`` (``invalid_tool``) for a placeholder
    that cannot be filled safely."""
    masked, found = _mask(code, resolve)
    if not found:
        return code
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(masked).readline))
    except (tokenize.TokenError, SyntaxError):
        return code
    starts = _line_starts(masked)
    out: list[str] = []
    last = 0
    for token in tokens:
        begin = starts[token.start[0] - 1] + token.start[1]
        end = starts[token.end[0] - 1] + token.end[1]
        if not any(marker in token.string for marker in found):
            continue
        out.append(masked[last:begin])
        out.append(_fill_token(token, found))
        last = end
    out.append(masked[last:])
    return "".join(out)


class _Slot:
    """One placeholder occurrence: its text as written and its value."""

    def __init__(self, raw: str, value: Any) -> None:
        self.raw = raw
        self.value = value


def _mask(code: str, resolve: Resolve) -> tuple[str, dict[str, _Slot]]:
    """Replace each placeholder with a unique identifier absent from ``code``."""
    # 128 random bits: no value can guess a marker and smuggle one in.
    nonce = secrets.token_hex(16)
    found: dict[str, _Slot] = {}

    def mask(m: re.Match[str]) -> str:
        placeholder = build_placeholder(m)
        if placeholder is None:
            return m.group(0)
        marker = f"__tl_{nonce}_{len(found)}__"
        found[marker] = _Slot(m.group(0), resolve(placeholder))
        return marker

    return PLACEHOLDER_RE.sub(mask, code), found


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for line in io.StringIO(text):
        starts.append(starts[-1] + len(line))
    return starts


def _fill_token(token: tokenize.TokenInfo, found: dict[str, _Slot]) -> str:
    if token.type == tokenize.NAME and token.string in found:
        slot = found[token.string]
        return slot.raw if slot.value is MISSING else f"({python_literal(slot.value)})"
    if token.type == tokenize.STRING:
        return _fill_string(token.string, found)
    return _restore(token.string, found)  # a comment, or glued to a name


def _fill_string(literal: str, found: dict[str, _Slot]) -> str:
    prefix = _STRING_PREFIX.match(literal)
    flags = prefix.group(1).lower() if prefix else ""
    if "f" in flags:
        return _fill_fstring(literal, flags, found)
    try:
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError):
        return _restore(literal, found)
    if isinstance(value, bytes):
        for marker, slot in found.items():
            text = slot.raw if slot.value is MISSING else to_text(slot.value)
            value = value.replace(marker.encode(), text.encode())
        return repr(value)
    if not isinstance(value, str):  # pragma: no cover - a string token is a string
        return _restore(literal, found)
    for marker, slot in found.items():
        value = value.replace(marker, _text(slot))
    return repr(value)


def _text(slot: _Slot) -> str:
    return slot.raw if slot.value is MISSING else to_text(slot.value)


def _fill_fstring(literal: str, flags: str, found: dict[str, _Slot]) -> str:
    markers = [m for m in found if m in literal]
    try:
        tree = ast.parse(literal, mode="eval")
    except SyntaxError:
        return _restore(literal, found)
    in_fields = {
        m
        for node in ast.walk(tree)
        if isinstance(node, ast.FormattedValue)
        for inner in ast.walk(node)
        for m in markers
        if (isinstance(inner, ast.Name) and inner.id == m)
        or (isinstance(inner, ast.Constant) and m in str(inner.value))
    }
    refused = [found[m].raw for m in markers if m in in_fields or "r" in flags]
    if refused:
        raise ToolFailure(
            f"the placeholder {refused[0]} sits in an f-string replacement field or "
            "a raw f-string, where its value cannot be substituted as data; put it "
            "in a plain string or pass it with variable_arguments",
            "invalid_tool",
        )
    for marker in markers:
        literal = literal.replace(marker, _escape_fstring(_text(found[marker])))
    return literal


def _escape_fstring(text: str) -> str:
    out = []
    for char in text:
        if char in "\\'\"":
            out.append("\\" + char)
        elif char in "{}":
            out.append(char * 2)
        elif char.isprintable() or char == " ":
            out.append(char)
        else:
            out.append(repr(char)[1:-1])
    return "".join(out)


def _restore(text: str, found: dict[str, _Slot]) -> str:
    for marker, slot in found.items():
        text = text.replace(marker, slot.raw)
    return text


def python_literal(value: Any) -> str:
    """``value`` (JSON-like) as Python source that evaluates to it."""
    if value is None or isinstance(value, bool | int):
        return repr(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return repr(value)
        return f"float({str(value)!r})"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(python_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        items = (
            f"{python_literal(str(k))}: {python_literal(v)}" for k, v in value.items()
        )
        return "{" + ", ".join(items) + "}"
    return repr(to_text(value))
