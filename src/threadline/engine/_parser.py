"""Recursive-descent parser of the ``condition_expression`` language."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from threadline.engine._lexer import Token, tokenize
from threadline.engine.expression_ast import (
    FUNCTION_NAMES,
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

__all__ = ["Parser"]

_CONSTANTS = {"true": True, "false": False, "null": None}
MAX_DEPTH = 64
"""Deepest nesting of ``NOT``, parentheses and calls: parsing and evaluation
recurse once per level, so a deeper expression is a syntax error, not a crash."""


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.token
        self.index += 1
        return token

    def expect(self, text: str, what: str) -> None:
        if self.token.text != text or self.token.kind not in ("op",):
            raise self.error(f"expected {what}")
        self.advance()

    def error(self, message: str) -> ExpressionSyntaxError:
        token = self.token
        found = "end of expression" if token.kind == "end" else repr(token.text)
        return ExpressionSyntaxError(f"{message}, found {found}", token.pos)

    def nested(self, parse: Callable[[], Expr]) -> Expr:
        """``parse()`` one level deeper; too deep is a syntax error."""
        if self.depth >= MAX_DEPTH:
            raise self.error(f"expression nested deeper than {MAX_DEPTH} levels")
        self.depth += 1
        try:
            return parse()
        finally:
            self.depth -= 1

    def parse(self) -> Expr:
        if self.token.kind == "end":
            raise ExpressionSyntaxError("empty expression", 0)
        expr = self.parse_bool("or")
        if self.token.kind != "end":
            raise self.error("expected AND, OR or the end of the expression")
        return expr

    def parse_bool(self, op: Literal["and", "or"]) -> Expr:
        sub = self.parse_not if op == "and" else lambda: self.parse_bool("and")
        operands = [sub()]
        while self.token.kind == op:
            self.advance()
            operands.append(sub())
        return operands[0] if len(operands) == 1 else BoolOp(op, tuple(operands))

    def parse_not(self) -> Expr:
        if self.token.kind == "not":
            self.advance()
            return Not(self.nested(self.parse_not))
        return self.parse_comparison()

    def parse_comparison(self) -> Expr:
        left = self.parse_operand()
        if self.token.kind != "op" or self.token.text not in _COMPARE_OPS:
            if self.token.text == "=":
                raise self.error("use '==' to compare for equality")
            return left
        op: CompareOp = _COMPARE_OPS[self.advance().text]
        right = self.parse_operand()
        if self.token.kind == "op" and self.token.text in _COMPARE_OPS:
            raise self.error("comparisons cannot be chained; combine them with AND")
        return Compare(op, left, right)

    def parse_operand(self) -> Expr:
        token = self.token
        if token.kind in ("str", "num"):
            self.advance()
            return Constant(token.value)
        if token.kind == "var":
            self.advance()
            return Variable(token.value)
        if token.kind == "op" and token.text == "-":
            self.advance()
            if self.token.kind != "num":
                raise self.error("expected a number after '-'")
            return Constant(-self.advance().value)
        if token.kind == "op" and token.text == "(":
            self.advance()
            inner = self.nested(lambda: self.parse_bool("or"))
            self.expect(")", "')'")
            return inner
        if token.kind == "ident":
            return self.parse_name()
        raise self.error("expected a value, a [[variable]], a function call or '('")

    def parse_name(self) -> Expr:
        token = self.advance()
        if token.text.lower() in _CONSTANTS:
            return Constant(_CONSTANTS[token.text.lower()])
        if self.token.text != "(":
            raise ExpressionSyntaxError(
                f"unknown name {token.text!r}; write variables as "
                f"[[{token.text}]] or {{{{{token.text}}}}}",
                token.pos,
            )
        if token.text not in FUNCTION_NAMES:
            supported = ", ".join(sorted(FUNCTION_NAMES))
            raise ExpressionSyntaxError(
                f"unknown function {token.text!r} (supported: {supported})", token.pos
            )
        self.advance()
        argument = self.nested(lambda: self.parse_bool("or"))
        self.expect(")", f"')' closing {token.text}(; functions take one argument")
        return Call(token.text, argument)


_COMPARE_OPS: dict[str, CompareOp] = {
    "==": "==",
    "!=": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}
