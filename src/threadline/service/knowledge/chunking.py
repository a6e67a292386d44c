"""Cutting extracted text into overlapping chunks (pure).

Each chunk is at most ``size`` characters, cut at a paragraph break, else a line
break, else a space in its second half when there is one; the next chunk starts
``overlap`` characters before the end of this one (at a word start), so a
sentence cut in two is whole in one of them. Positions are character offsets into
the segment's text.
"""

from dataclasses import dataclass
from typing import Any

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class Piece:
    """One chunk's text, where it came from (``segment``: e.g. a PDF page) and
    its character span in that segment."""

    text: str
    segment: JsonDict
    start: int
    end: int


def _cut(text: str, start: int, size: int) -> int:
    end = min(start + size, len(text))
    if end >= len(text):
        return len(text)
    floor = start + size // 2
    for mark in ("\n\n", "\n", " "):
        at = text.rfind(mark, floor, end)
        if at > start:
            return at
    return end


def _word_start(text: str, at: int, limit: int) -> int:
    """``at``, moved forward to the start of a word (not past ``limit``)."""
    if at <= 0 or text[at - 1].isspace():
        return at
    space = text.find(" ", at, limit)
    return space + 1 if space != -1 else at


def spans(text: str, size: int, overlap: int) -> list[tuple[int, int]]:
    """The ``(start, end)`` of each chunk of ``text``."""
    overlap = max(0, min(overlap, size // 2))
    out: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        end = _cut(text, start, size)
        out.append((start, end))
        if end >= len(text):
            break
        start = max(_word_start(text, end - overlap, end), start + 1)
    return out


def chunk_segments(
    segments: list[tuple[str, JsonDict]], size: int, overlap: int
) -> list[Piece]:
    """Chunks of each ``(text, where)`` segment, in order; blank ones dropped."""
    pieces: list[Piece] = []
    for text, where in segments:
        for start, end in spans(text, size, overlap):
            part = text[start:end].strip()
            if part:
                pieces.append(Piece(part, where, start, end))
    return pieces
