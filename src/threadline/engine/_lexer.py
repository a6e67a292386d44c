"""Tokenizer of the ``condition_expression`` language."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from threadline.engine.expression_ast import ExpressionSyntaxError
from threadline.engine.placeholders import placeholder_at

__all__ = ["Token", "tokenize"]

_TOKEN_RE = re.compile(
    r"(?P<ws>\s+)|(?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||[<>()!,=-])|(?P<ident>[A-Za-z_]\w*)"
)
_KEYWORDS = {"and": "and", "or": "or", "not": "not"}
_SYMBOLS = {"&&": "and", "||": "or", "!": "not"}


@dataclass(frozen=True)
class Token:
    kind: str  # op | num | str | ident | var | and | or | not | end
    text: str
    pos: int
    value: Any = None


def _read_string(text: str, pos: int) -> tuple[Token, int]:
    quote, i, chars = text[pos], pos + 1, []
    while i < len(text) and text[i] != quote:
        if text[i] == "\\" and i + 1 < len(text):
            i += 1
        chars.append(text[i])
        i += 1
    if i >= len(text):
        raise ExpressionSyntaxError("unterminated string literal", pos)
    return Token("str", text[pos : i + 1], pos, "".join(chars)), i + 1


def _read_placeholder(text: str, pos: int) -> tuple[Token, int]:
    placeholder = placeholder_at(text, pos)
    if placeholder is None:
        raise ExpressionSyntaxError(
            f"malformed placeholder {text[pos : pos + 2]}…", pos
        )
    return Token("var", placeholder.raw, pos, placeholder), placeholder.end


def _classify(m: re.Match[str], pos: int) -> Token:
    word = m.group(0)
    if m["num"] is not None:
        number = float(word) if any(c in word for c in ".eE") else int(word)
        return Token("num", word, pos, number)
    if m["op"] is not None:
        kind = _SYMBOLS.get(word, "op")
        return Token(kind, word, pos)
    kind = _KEYWORDS.get(word.lower(), "ident")
    return Token(kind, word, pos)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text.startswith(("[[", "{{"), pos):
            token, pos = _read_placeholder(text, pos)
        elif text[pos] in "'\"":
            token, pos = _read_string(text, pos)
        else:
            m = _TOKEN_RE.match(text, pos)
            if m is None:
                raise ExpressionSyntaxError(f"unexpected character {text[pos]!r}", pos)
            start, pos = pos, m.end()
            if m["ws"] is not None:
                continue
            token = _classify(m, start)
        tokens.append(token)
    tokens.append(Token("end", "", len(text)))
    return tokens
