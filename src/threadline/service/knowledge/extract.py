"""The text of a document, by kind, as segments ``(text, where)``.

- ``text`` and ``markdown``: the UTF-8 text itself (Markdown kept as written:
  its headings give chunks their context);
- ``html``: the visible text (no ``script``, ``style``, ``head``), a line break
  at each block element;
- ``pdf``: the text of each page (``pypdf``), one segment per page
  (``where = {"page": n}``, from 1);
- ``url``: fetched with a GET through the SSRF guard (``tools.http``, the
  HTTP nodes' policy, at most ``THREADLINE_KB_MAX_DOCUMENT_BYTES``), then read as
  PDF, HTML or text by its ``Content-Type``.

Every failure raises :class:`ExtractError`, whose message becomes the document's
``error``.
"""

import base64
import io
import logging
from html.parser import HTMLParser
from typing import Any

import httpx

from threadline.tools.http import send
from threadline.tools.http_call import HttpCall, HttpPolicy

JsonDict = dict[str, Any]
Segments = list[tuple[str, JsonDict]]
KINDS = ("text", "markdown", "html", "pdf", "url")
TEXT_KINDS = ("text", "markdown", "html")
FETCH_TIMEOUT_S = 30.0
_BLOCKS = {
    "p", "div", "br", "li", "ul", "ol", "tr", "td", "th", "table", "section",
    "article", "header", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "pre",
    "blockquote", "dt", "dd", "hr",
}  # fmt: skip
_HIDDEN = {"script", "style", "head", "noscript", "template", "svg"}


class ExtractError(Exception):
    """The document's text cannot be read; the message says why."""


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_text(html: str) -> str:
    """The visible text of an HTML page, blank lines squeezed."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def pdf_pages(data: bytes) -> Segments:
    """The text of each page of a PDF."""
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [
            (page.extract_text() or "", {"page": i + 1})
            for i, page in enumerate(reader.pages)
        ]
    except Exception as exc:  # pypdf raises many types for a broken file
        raise ExtractError(
            f"the PDF cannot be read: {type(exc).__name__}: {exc}"
        ) from None
    if not any(text.strip() for text, _ in pages):
        raise ExtractError("the PDF has no extractable text (a scanned PDF needs OCR)")
    return pages


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ExtractError(
            f"the document is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None


def segments(kind: str, data: bytes) -> Segments:
    """The text of a stored document of ``kind`` (not ``url``)."""
    if kind == "pdf":
        return pdf_pages(data)
    text = decode(data).replace("\x00", "")
    if kind == "html":
        text = html_text(text)
    if not text.strip():
        raise ExtractError("the document has no text")
    return [(text, {})]


def kind_of_content_type(content_type: str | None) -> str:
    """``pdf``, ``html`` or ``text`` for a fetched body's ``Content-Type``."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/pdf":
        return "pdf"
    if media in ("text/html", "application/xhtml+xml"):
        return "html"
    if media == "text/markdown":
        return "markdown"
    return "text"


async def fetch(
    url: str,
    *,
    max_bytes: int,
    allow_private: bool,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[str, bytes]:
    """GET ``url`` through the SSRF guard: ``(kind, body)``."""
    policy = HttpPolicy(allow_private=allow_private, max_response_bytes=max_bytes)
    call = HttpCall("GET", url, response_format="binary", timeout_s=FETCH_TIMEOUT_S)
    outcome = await send(call, policy=policy, transport=transport)
    if not outcome.success:
        raise ExtractError(f"fetching {url} failed: {outcome.error}")
    data = outcome.data if isinstance(outcome.data, dict) else {}
    body = base64.b64decode(str(data.get("content_base64") or ""))
    return kind_of_content_type(data.get("content_type")), body
