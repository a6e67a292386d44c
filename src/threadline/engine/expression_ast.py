"""AST of the ``condition_expression`` language (grammar: ``expressions``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from threadline.engine.placeholders import Placeholder

__all__ = [
    "FUNCTION_NAMES",
    "BoolOp",
    "Call",
    "Compare",
    "CompareOp",
    "Constant",
    "Expr",
    "ExpressionSyntaxError",
    "Not",
    "Variable",
]

CompareOp = Literal["==", "!=", "<", "<=", ">", ">="]
FUNCTION_NAMES: Final = frozenset({"isAbsent", "isEmpty", "isNonEmpty", "isPresent"})


class ExpressionSyntaxError(ValueError):
    """A malformed expression; ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position})")
        self.message = message
        self.position = position


@dataclass(frozen=True)
class Constant:
    """A string, number, boolean or null literal."""

    value: Any


@dataclass(frozen=True)
class Variable:
    """A ``[[...]]`` or ``{{...}}`` operand."""

    placeholder: Placeholder


@dataclass(frozen=True)
class Call:
    """A call of one of the unary ``FUNCTIONS``."""

    name: str
    argument: Expr


@dataclass(frozen=True)
class Not:
    """Logical negation."""

    operand: Expr


@dataclass(frozen=True)
class BoolOp:
    """``and``/``or`` over two or more operands, left to right, short-circuit."""

    op: Literal["and", "or"]
    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class Compare:
    """A single binary comparison."""

    op: CompareOp
    left: Expr
    right: Expr


Expr = Constant | Variable | Call | Not | BoolOp | Compare
