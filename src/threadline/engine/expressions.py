"""The ``condition_expression`` language: parsing, evaluation and hydration.

Grammar (keywords are case-insensitive; function names are exact)::

    expression := or
    or         := and (("OR" | "||") and)*
    and        := not (("AND" | "&&") not)*
    not        := ("NOT" | "!") not | comparison
    comparison := operand [("==" | "!=" | "<" | "<=" | ">" | ">=") operand]
    operand    := STRING | ["-"] NUMBER | "true" | "false" | "null"
                | PLACEHOLDER | FUNCTION "(" expression ")" | "(" expression ")"
    FUNCTION   := "isPresent" | "isAbsent" | "isEmpty" | "isNonEmpty"
    STRING     := '...' | "..."   (backslash escapes the next character)
    PLACEHOLDER:= [[runtime]] | [[thread_<id>.name]] | {{dynamic}} | {{global.name}}
                  (with dotted/indexed paths and Liquid filters, see ``templates``)

Comparisons do not chain (``a < b < c`` is a syntax error). Placeholders are operands
of the AST, resolved to native values at evaluation time, never spliced into the text.

Evaluation is total; it never raises. The rules:

* A comparison with a MISSING operand is false, whatever the operator (also ``!=``).
* A number compared with a numeric string compares numerically (``"45" < 50``); a
  boolean compared with ``"true"``/``"false"`` compares as booleans. ``==``/``!=``
  otherwise use plain equality (strings are case-sensitive; ``null`` equals None).
* ``<``/``<=``/``>``/``>=`` need two numbers or two strings; other pairs are false.
* ``isPresent(x)``: x is neither MISSING nor None. ``isEmpty(x)``: x is MISSING, None,
  a blank string or an empty list/dict. ``isAbsent``/``isNonEmpty`` are the negations.
* Truthiness (an operand used as a condition): MISSING, None, False, 0, empty
  collections and the strings "", "false", "0", "no", "off" (any case) are false.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from typing import Any

from threadline.engine._lexer import tokenize
from threadline.engine._parser import Parser
from threadline.engine.expression_ast import (
    BoolOp,
    Call,
    Compare,
    CompareOp,
    Constant,
    Expr,
    ExpressionSyntaxError,
    Not,
    Variable,
)
from threadline.engine.filters import MISSING
from threadline.engine.placeholders import Placeholder

__all__ = [
    "FUNCTIONS",
    "BoolOp",
    "Call",
    "Compare",
    "Constant",
    "Expr",
    "ExpressionSyntaxError",
    "Not",
    "Resolver",
    "Variable",
    "evaluate",
    "hydrate_expression",
    "parse_expression",
]

Resolver = Callable[[Placeholder], Any]


def _is_present(value: Any) -> bool:
    return value is not MISSING and value is not None


def _is_empty(value: Any) -> bool:
    if not _is_present(value):
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple | dict) and not value


FUNCTIONS: dict[str, Callable[[Any], bool]] = {
    "isAbsent": lambda v: not _is_present(v),
    "isEmpty": _is_empty,
    "isNonEmpty": lambda v: not _is_empty(v),
    "isPresent": _is_present,
}


MEMO_TEXT_CHARS = 2048
"""Expressions up to this long are parsed once per process (``_parse_memo``, at
most ``MEMO_ENTRIES`` of them, least recently used out); longer ones each time."""
MEMO_ENTRIES = 512


@functools.lru_cache(maxsize=MEMO_ENTRIES)
def _parse_memo(text: str) -> Expr:
    return Parser(text).parse()


def parse_expression(text: str) -> Expr:
    """Parse ``text`` into an AST or raise ``ExpressionSyntaxError``.

    The AST is immutable, so one parse of a text serves every turn that routes
    over it (a condition was parsed again on every evaluation: 25-80 µs each); a
    text that does not parse is not remembered and raises every time."""
    if len(text) <= MEMO_TEXT_CHARS:
        return _parse_memo(text)
    return Parser(text).parse()


# --------------------------------------------------------------- evaluation

_FALSE_WORDS = frozenset({"", "false", "0", "no", "off"})


def _truthy(value: Any) -> bool:
    if value is MISSING or value is None:
        return False
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE_WORDS
    if isinstance(value, list | tuple | dict):
        return bool(value)
    return bool(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _coerce(left: Any, right: Any) -> tuple[Any, Any]:
    """Bring a numeric string to a number, and a "true"/"false" string to a bool."""
    if isinstance(left, str) != isinstance(right, str):
        a, b = _number(left), _number(right)
        if a is not None and b is not None:
            return a, b
        for x, y in ((left, right), (right, left)):
            if isinstance(x, bool) and isinstance(y, str):
                word = y.strip().lower()
                if word in ("true", "false"):
                    return x, word == "true"
    return left, right


def _compare(op: CompareOp, left: Any, right: Any) -> bool:
    if left is MISSING or right is MISSING:
        return False
    left, right = _coerce(left, right)
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    numeric = _number(left) is not None and not isinstance(left, str)
    numeric = numeric and _number(right) is not None and not isinstance(right, str)
    if not (numeric or (isinstance(left, str) and isinstance(right, str))):
        return False
    ordering: dict[str, Callable[[Any, Any], bool]] = {
        "<": lambda a, b: bool(a < b),
        "<=": lambda a, b: bool(a <= b),
        ">": lambda a, b: bool(a > b),
        ">=": lambda a, b: bool(a >= b),
    }
    return ordering[op](left, right)


def _value(expr: Expr, resolve: Resolver) -> Any:
    if isinstance(expr, Constant):
        return expr.value
    if isinstance(expr, Variable):
        return resolve(expr.placeholder)
    if isinstance(expr, Call):
        return FUNCTIONS[expr.name](_value(expr.argument, resolve))
    if isinstance(expr, Not):
        return not _truthy(_value(expr.operand, resolve))
    if isinstance(expr, Compare):
        left, right = _value(expr.left, resolve), _value(expr.right, resolve)
        return _compare(expr.op, left, right)
    results = (_truthy(_value(o, resolve)) for o in expr.operands)
    return all(results) if expr.op == "and" else any(results)


def evaluate(expr: Expr, resolve: Resolver) -> bool:
    """Evaluate ``expr``; ``resolve(placeholder)`` returns a value or ``MISSING``.

    Never raises for missing variables or mismatched types (see the module rules).
    """
    return _truthy(_value(expr, resolve))


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, default=str)
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def hydrate_expression(text: str, resolve: Resolver) -> str:
    """Return ``text`` with each placeholder replaced by its value as a literal.

    This is the ``hydrated_condition_expression`` reported on events (``"3 >= 3"``);
    unresolved placeholders stay as written. Evaluation never re-parses this text.
    """
    tokens = [t for t in tokenize(text) if t.kind == "var"]
    out, last = [], 0
    for token in tokens:
        value = resolve(token.value)
        out.append(text[last : token.pos])
        out.append(token.text if value is MISSING else _literal(value))
        last = token.pos + len(token.text)
    out.append(text[last:])
    return "".join(out)
