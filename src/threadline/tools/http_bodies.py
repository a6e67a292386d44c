"""Request encoding (URL query, headers, body) and response decoding.

Request body by ``content_type`` (GET and HEAD never carry a body; ``None`` means
no body):

* ``application/json``: ``json.dumps`` of the body; a ``str``/``bytes`` body is
  taken as already-encoded JSON and sent verbatim.
* ``application/x-www-form-urlencoded``: a mapping is url-encoded (lists repeat
  the key, ``True`` -> ``true``, ``None`` -> empty, dicts as JSON); ``str``/
  ``bytes`` sent verbatim.
* ``multipart/form-data``: a mapping becomes one part per key: ``bytes`` values
  are file parts (file name = key), everything else a plain text field.
* ``text/plain``: ``str`` sent as is, ``bytes`` verbatim, dicts/lists as JSON
  (``str()`` would give a Python repr), other values via ``str()``.

A user ``Content-Type`` header wins over the default for the chosen encoding,
except for multipart, whose header must carry the generated boundary. A user
``Host`` header is ignored (the host comes from the URL).

Response data by ``response_format``:

* ``json``: the parsed JSON value; ``None`` for an empty body. A body that is not
  JSON is returned as text and ``HttpOutcome.note`` says so.
* ``text``: the body decoded with the response charset (UTF-8 by default,
  undecodable bytes replaced).
* ``binary``: ``{"content_base64": str, "size_bytes": int, "content_type": str |
  None}``.

Bodies are streamed and cut off after ``HttpPolicy.max_response_bytes``
(decoded bytes, so compressed bombs are bounded too); a cut-off response has
``success=False``, an error saying so, and the data of the prefix that was read.
"""

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from threadline.tools.addresses import check_scheme
from threadline.tools.http_call import (
    CONTENT_TYPES,
    FORM,
    JSON,
    MULTIPART,
    HttpCall,
    HttpCallError,
    HttpPolicy,
)

__all__ = [
    "PartialOutcome",
    "build_url",
    "encode_body",
    "form_text",
    "has_body",
    "media_type",
    "read_response",
    "request_headers",
]

_NO_BODY_METHODS = frozenset({"GET", "HEAD"})


# ------------------------------------------------------------------------ requests


def media_type(content_type: str) -> str:
    """The lower-case media type of ``content_type`` (JSON when empty)."""
    return (content_type or JSON).split(";", 1)[0].strip().lower()


def form_text(value: Any) -> str:
    """A scalar as form/query text; containers as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return _json(value)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _pairs(mapping: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in mapping.items():
        if isinstance(value, list | tuple):
            pairs.extend((str(key), form_text(item)) for item in value)
        else:
            pairs.append((str(key), form_text(value)))
    return pairs


def build_url(call: HttpCall) -> httpx.URL:
    """The call's absolute URL with its query merged in (scheme checked)."""
    try:
        url = httpx.URL(call.url)
        if call.query:
            url = url.copy_merge_params(tuple(_pairs(call.query)))
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise HttpCallError(f"Invalid URL {call.url!r}: {exc}") from exc
    check_scheme(url)
    if not url.is_absolute_url:
        raise HttpCallError(f"Invalid URL {call.url!r}: not an absolute URL.")
    return url


def has_body(call: HttpCall, method: str) -> bool:
    """True when ``call`` sends a body with ``method``."""
    return call.body is not None and method not in _NO_BODY_METHODS


def encode_body(call: HttpCall) -> tuple[bytes, str]:
    """The request body bytes and their Content-Type header value."""
    media = media_type(call.content_type)
    body = call.body
    if media not in CONTENT_TYPES:
        raise HttpCallError(
            f"Unsupported body content type {call.content_type!r}; use one of "
            + ", ".join(CONTENT_TYPES)
        )
    if media == MULTIPART:
        return _encode_multipart(body)
    if isinstance(body, bytes):
        return body, call.content_type
    if isinstance(body, str):
        return body.encode("utf-8"), call.content_type
    if media == JSON:
        return _json(body).encode("utf-8"), call.content_type
    if media == FORM:
        if not isinstance(body, Mapping):
            raise HttpCallError("A form-urlencoded body must be a mapping or a string.")
        return urlencode(_pairs(body)).encode("ascii"), call.content_type
    text = _json(body) if isinstance(body, Mapping | list | tuple) else str(body)
    return text.encode("utf-8"), call.content_type


def _encode_multipart(body: Any) -> tuple[bytes, str]:
    if not isinstance(body, Mapping):
        raise HttpCallError("A multipart/form-data body must be a mapping.")
    parts: list[tuple[str, Any]] = []
    for key, value in body.items():
        if isinstance(value, bytes):
            parts.append((str(key), (str(key), value, "application/octet-stream")))
        else:
            parts.append((str(key), (None, form_text(value).encode("utf-8"))))
    request = httpx.Request("POST", "http://multipart.invalid/", files=parts)
    return request.read(), request.headers["content-type"]


def request_headers(call: HttpCall, method: str) -> tuple[dict[str, str], bytes | None]:
    """The headers to send (Content-Type settled) and the body bytes, if any."""
    headers = {
        str(k): str(v) for k, v in call.headers.items() if str(k).lower() != "host"
    }
    if not has_body(call, method):
        return headers, None
    content, content_type = encode_body(call)
    user_type = next((k for k in headers if k.lower() == "content-type"), None)
    if media_type(call.content_type) == MULTIPART and user_type is not None:
        del headers[user_type]
        user_type = None
    if user_type is None:
        headers["Content-Type"] = content_type
    return headers, content


# ----------------------------------------------------------------------- responses


@dataclass
class PartialOutcome:
    """An ``HttpOutcome`` without latency and curl command (added by ``send``)."""

    success: bool = False
    status_code: int | None = None
    data: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    note: str | None = None


async def _read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` body bytes, and whether the body was longer."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        room = limit - size
        if len(chunk) > room:
            chunks.append(chunk[:room])
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), False


def _decode(raw: bytes, charset: str | None) -> str:
    try:
        return raw.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return raw.decode("utf-8", errors="replace")


def _parse_json(text: str) -> tuple[Any, str | None]:
    if not text.strip():
        return None, None
    try:
        return json.loads(text), None
    except ValueError:
        return text, "The response is not valid JSON; it is returned as text."


def _response_data(
    raw: bytes, response: httpx.Response, response_format: str
) -> tuple[Any, str | None]:
    """The body as ``response_format`` data, and a note when JSON was not JSON."""
    if response_format == "binary":
        data = {
            "content_base64": base64.b64encode(raw).decode("ascii"),
            "size_bytes": len(raw),
            "content_type": response.headers.get("content-type"),
        }
        return data, None
    text = _decode(raw, response.charset_encoding)
    if response_format == "json":
        return _parse_json(text)
    return text, None


async def read_response(
    response: httpx.Response, method: str, call: HttpCall, policy: HttpPolicy
) -> PartialOutcome:
    """Read (at most ``max_response_bytes`` of) ``response`` into an outcome."""
    headers = dict(response.headers.items())
    raw, truncated = (b"", False)
    if method != "HEAD":
        raw, truncated = await _read_capped(response, max(policy.max_response_bytes, 0))
    data, note = _response_data(raw, response, call.response_format)
    errors: list[str] = []
    if not response.is_success:
        reason = f" {response.reason_phrase}" if response.reason_phrase else ""
        errors.append(f"HTTP {response.status_code}{reason}")
    if truncated:
        errors.append(
            f"The response body exceeded the {policy.max_response_bytes}-byte limit "
            "(max_response_bytes) and was cut off."
        )
    return PartialOutcome(
        success=not errors,
        status_code=response.status_code,
        data=data,
        headers=headers,
        error="; ".join(errors) or None,
        note=note,
    )
