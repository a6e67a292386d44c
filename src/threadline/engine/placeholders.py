"""Parsing of ``{{dynamic}}`` and ``[[runtime]]`` placeholders (no resolution here).

Grammar of a placeholder body (Liquid-style)::

    body   := path ("|" filter)*
    path   := name ("." name | "[" INT "]" | "[" QUOTED "]")*
    filter := IDENT [":" arg ("," arg)*]     arg: quoted string, number, true/false/nil

``{{global.x}}`` is a team global, ``[[thread_<id>.x]]`` a cross-thread read; names may
contain spaces (node-qualified names such as ``[[Node Name.field]]``). A body that does
not match this grammar is not a placeholder and is left alone by every function.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

from threadline.engine.filters import MISSING

__all__ = [
    "PLACEHOLDER_RE",
    "Filter",
    "Kind",
    "PathItem",
    "Placeholder",
    "build_placeholder",
    "find_placeholders",
    "placeholder_at",
]

PathItem = str | int

PLACEHOLDER_RE = re.compile(
    r"\{\{(?P<dyn>[^{}]+?)\}\}|\[\[(?P<rt>(?:[^\[\]]|\[[^\[\]]*\])+?)\]\]"
)
_SEGMENT_RE = re.compile(
    r"\s*(?:(?P<name>[^.\[\]|'\"{}<>]+)|\[\s*(?P<idx>-?\d+)\s*\]"
    r"|\[\s*'(?P<sq>[^']*)'\s*\]|\[\s*\"(?P<dq>[^\"]*)\"\s*\])\s*"
)
_FILTER_RE = re.compile(r"\s*(?P<name>[A-Za-z_]\w*)\s*(?::(?P<args>.*))?$", re.DOTALL)
_THREAD_RE = re.compile(r"thread_(?P<id>[A-Za-z0-9_-]+)$")


class Kind(enum.StrEnum):
    """Which variable namespace a placeholder reads."""

    DYNAMIC = "dynamic"
    RUNTIME = "runtime"
    GLOBAL = "global"
    THREAD = "thread"


@dataclass(frozen=True)
class Filter:
    """One ``| name: arg, arg`` step of a placeholder."""

    name: str
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Placeholder:
    """A parsed placeholder; ``start``/``end`` are offsets of ``raw`` in the text."""

    kind: Kind
    name: str
    path: tuple[PathItem, ...]
    filters: tuple[Filter, ...] = ()
    thread_id: str | None = None
    raw: str = ""
    start: int = 0
    end: int = 0

    @property
    def root(self) -> str:
        """The first path element (the variable's top-level name)."""
        return str(self.path[0])

    @property
    def has_default(self) -> bool:
        """Whether a ``default`` filter is applied."""
        return any(f.name == "default" for f in self.filters)

    @property
    def default(self) -> Any:
        """The first ``default`` filter's argument, or ``MISSING`` if there is none."""
        for f in self.filters:
            if f.name == "default":
                return f.args[0] if f.args else ""
        return MISSING


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    quote: str | None = None
    current = ""
    for char in text:
        if quote is None and char == sep:
            parts.append(current)
            current = ""
            continue
        if char in "'\"" and quote in (None, char):
            quote = char if quote is None else None
        current += char
    parts.append(current)
    return parts


def _parse_path(text: str) -> tuple[PathItem, ...] | None:
    path: list[PathItem] = []
    pos = 0
    expect_name = True
    while pos < len(text):
        m = _SEGMENT_RE.match(text, pos)
        if m is None or m.end() == pos:
            return None
        if m["name"] is not None:
            name = m["name"].strip()
            if not expect_name or not name:
                return None
            path.append(name)
        else:
            idx = m["idx"]
            path.append(int(idx) if idx is not None else (m["sq"] or m["dq"] or ""))
        pos = m.end()
        expect_name = pos < len(text) and text[pos] == "."
        pos += 1 if expect_name else 0
    return (
        tuple(path) if path and isinstance(path[0], str) and not expect_name else None
    )


def _parse_arg(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("nil", "null", "none"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _parse_filter(text: str) -> Filter | None:
    m = _FILTER_RE.match(text)
    if m is None:
        return None
    raw_args = m["args"]
    if raw_args is None:
        return Filter(m["name"])
    pieces = _split_outside_quotes(raw_args, ",")
    if any(not p.strip() for p in pieces):
        return None
    return Filter(m["name"], tuple(_parse_arg(p) for p in pieces))


def _classify(
    delimiter: str, path: tuple[PathItem, ...]
) -> tuple[Kind, tuple[PathItem, ...], str | None]:
    head = str(path[0])
    if delimiter == "{{":
        if head == "global" and len(path) > 1 and isinstance(path[1], str):
            return Kind.GLOBAL, path[1:], None
        return Kind.DYNAMIC, path, None
    thread = _THREAD_RE.match(head)
    if thread and len(path) > 1 and isinstance(path[1], str):
        return Kind.THREAD, path[1:], thread["id"]
    return Kind.RUNTIME, path, None


def _path_text(path: tuple[PathItem, ...]) -> str:
    text = ""
    for item in path:
        text += f"[{item}]" if isinstance(item, int) else ("." if text else "") + item
    return text


def build_placeholder(m: re.Match[str]) -> Placeholder | None:
    delimiter = "{{" if m["dyn"] is not None else "[["
    body = m["dyn"] if m["dyn"] is not None else m["rt"]
    parts = _split_outside_quotes(body, "|")
    path = _parse_path(parts[0].strip())
    filters = [_parse_filter(p) for p in parts[1:]]
    if path is None or any(f is None for f in filters):
        return None
    kind, rest, thread_id = _classify(delimiter, path)
    return Placeholder(
        kind=kind,
        name=_path_text(rest),
        path=rest,
        filters=tuple(f for f in filters if f is not None),
        thread_id=thread_id,
        raw=m.group(0),
        start=m.start(),
        end=m.end(),
    )


def find_placeholders(text: str) -> list[Placeholder]:
    """Return every well-formed placeholder in ``text``, in order of appearance."""
    found = (build_placeholder(m) for m in PLACEHOLDER_RE.finditer(text))
    return [p for p in found if p is not None]


def placeholder_at(text: str, pos: int) -> Placeholder | None:
    """Parse the placeholder starting exactly at ``pos``, or return None."""
    m = PLACEHOLDER_RE.match(text, pos)
    return build_placeholder(m) if m else None
