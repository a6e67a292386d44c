"""Outbound HTTP for ``http_request`` nodes, ``external_api`` tools and webhooks.

:func:`send` performs one :class:`HttpCall` and always returns an
:class:`HttpOutcome`; errors (refused address, timeout, connection failure,
oversized body, non-2xx status) are reported in ``HttpOutcome.error`` and never
raised. :func:`curl_command` renders the call as a copy-pasteable, redacted curl
command (the ``curl_command`` of the ``http_request`` event and run output).

SSRF guard
----------
Unless ``HttpPolicy.allow_private`` (``THREADLINE_HTTP_ALLOW_PRIVATE=1``) is set:

* only ``http`` and ``https`` URLs are accepted;
* the host is resolved with the event loop's ``getaddrinfo`` and the request is
  refused (:class:`BlockedAddress`, reported through ``error``) when *any* address
  it resolves to is loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7),
  shared (100.64/10), link-local (169.254/16 including cloud metadata, fe80::/10),
  unspecified, multicast, reserved or otherwise not globally routable; IPv4
  addresses embedded in IPv6 (IPv4-mapped, 6to4, Teredo) are checked too;
* the connection is **pinned** to a checked address: the request goes to
  ``scheme://<checked-ip>:port/...`` with the original ``Host`` header and, for
  HTTPS, the original host name as SNI (httpx's ``sni_hostname`` extension), so
  the TLS certificate is still verified against the host name. No second DNS
  lookup happens, which closes the DNS-rebinding window;
* redirects are followed by hand (at most ``HttpPolicy.max_redirects``); every
  hop goes through the same scheme check, resolution, check and pinning.
  Credentials (``authorization``, ``cookie``, ``x-api-key``, ...) are dropped
  when a redirect leaves the original scheme/host/port.

Known limits: environment proxies (``HTTP_PROXY`` etc.) and ``.netrc`` are
ignored (``trust_env=False``), because a proxy would do its own DNS. With
``allow_private`` the URL is used unchanged and httpx resolves it itself.
Addresses are tried in resolver order, falling back to the next one only when
connecting fails. NAT64 (64:ff9b::/96) counts as reserved, so IPv6-only hosts
behind NAT64 cannot reach IPv4 sites without ``allow_private``. Cookies set
during a redirect chain are not replayed on later hops.

Response data by ``response_format``
------------------------------------
* ``json``: the parsed JSON value; ``None`` for an empty body. A body that is not
  JSON is returned as text and ``HttpOutcome.note`` says so.
* ``text``: the body decoded with the response charset (UTF-8 by default,
  undecodable bytes replaced).
* ``binary``: ``{"content_base64": str, "size_bytes": int, "content_type": str |
  None}``.

Bodies are streamed and cut off after ``HttpPolicy.max_response_bytes``
(decoded bytes, so compressed bombs are bounded too); a cut-off response has
``success=False``, an error saying so, and the data of the prefix that was read.

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

A ``timeout_s`` of 0 (or below) means the platform maximum of 300 s; larger
values are capped at 300 s. The timeout applies per network operation (httpx)
and also as an overall deadline for the whole call, DNS and redirects included.

This module imports only the standard library and httpx.
"""

import asyncio
import base64
import ipaddress
import json
import shlex
import socket
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import httpx

__all__ = [
    "ALLOW_PRIVATE_SETTING",
    "CONTENT_TYPES",
    "METHODS",
    "REDACTED",
    "RESPONSE_FORMATS",
    "SENSITIVE_HEADERS",
    "BlockedAddress",
    "HttpCall",
    "HttpCallError",
    "HttpOutcome",
    "HttpPolicy",
    "check_url",
    "curl_command",
    "is_blocked_address",
    "resolve_host",
    "send",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
"""Methods an ``http_request`` node may use."""
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
TEXT = "text/plain"
CONTENT_TYPES = (JSON, FORM, MULTIPART, TEXT)
"""Accepted ``body_content_type`` values (parameters such as charset allowed)."""
RESPONSE_FORMATS = ("json", "text", "binary")
SENSITIVE_HEADERS = frozenset(
    {"authorization", "x-api-key", "api-key", "cookie", "proxy-authorization"}
)
"""Headers always redacted in curl commands and dropped on cross-origin redirects."""
REDACTED = "[REDACTED]"
ALLOW_PRIVATE_SETTING = "THREADLINE_HTTP_ALLOW_PRIVATE=1"
MAX_TIMEOUT_S = 300.0

_NO_BODY_METHODS = frozenset({"GET", "HEAD"})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_ALLOWED_SCHEMES = frozenset({"http", "https"})


@dataclass(frozen=True)
class HttpCall:
    """One outbound request, after templating."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    content_type: str = JSON
    timeout_s: float = 30.0
    response_format: str = "json"  # json | text | binary


@dataclass(frozen=True)
class HttpOutcome:
    """What happened. ``success`` is True only for a complete 2xx response."""

    success: bool
    status_code: int | None
    data: Any
    headers: dict[str, str]
    error: str | None
    latency_ms: float
    curl_command: str
    note: str | None = None
    """Non-fatal remark, e.g. that a ``json`` response was not JSON."""


@dataclass(frozen=True)
class HttpPolicy:
    """Deployment-wide limits (``allow_private`` <- THREADLINE_HTTP_ALLOW_PRIVATE)."""

    allow_private: bool = False
    max_response_bytes: int = 5_000_000
    max_redirects: int = 5


class HttpCallError(Exception):
    """The call cannot be made as specified (bad URL, method, format...)."""


class BlockedAddress(HttpCallError):
    """The SSRF guard refused the URL's scheme or address."""


# --------------------------------------------------------------------------- SSRF


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    embedded = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
    return [a for a in embedded if a is not None]


def _address_kind(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address, or None when it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in _embedded_ipv4(ip):
            inner_kind = _address_kind(inner)
            if inner_kind is not None:
                return f"{inner_kind} (embedded IPv4 {inner})"
    checks = (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("non-public", not ip.is_global),
    )
    for kind, hit in checks:
        if hit:
            return kind
    return None


def is_blocked_address(ip: IPAddress) -> bool:
    """True when the SSRF guard refuses ``ip`` (not a public unicast address)."""
    return _address_kind(ip) is not None


async def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, in resolver order, without duplicates."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    found: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]))
        if ip not in found:
            found.append(ip)
    return found


def _blocked_message(host: str, ip: IPAddress, kind: str) -> str:
    target = f"{host!r}" if _is_ip_literal(host) else f"{host!r} (resolves to {ip})"
    return (
        f"Refused to connect to {target}: {kind} address. Requests to "
        "private/loopback addresses are disabled; set "
        f"{ALLOW_PRIVATE_SETTING} to allow them."
    )


def _check_scheme(url: httpx.URL) -> None:
    if url.scheme and url.scheme not in _ALLOWED_SCHEMES:
        raise BlockedAddress(
            f"Refused URL scheme {url.scheme!r}: only http and https are allowed."
        )


async def check_url(url: httpx.URL, policy: HttpPolicy) -> list[IPAddress]:
    """Apply the SSRF guard to ``url``; return the checked addresses to connect to.

    Raises :class:`BlockedAddress` for a refused scheme or address, and returns
    ``[]`` (meaning "connect normally, unpinned") when ``policy.allow_private``.
    """
    _check_scheme(url)
    if not url.host:
        raise HttpCallError("The URL has no host.")
    if policy.allow_private:
        return []
    host = url.host
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = await resolve_host(url.raw_host.decode("ascii"), port)
        except (OSError, UnicodeError) as exc:
            raise HttpCallError(f"Could not resolve host {host!r}: {exc}") from exc
    if not addresses:
        raise HttpCallError(f"Could not resolve host {host!r}.")
    for ip in addresses:
        kind = _address_kind(ip)
        if kind is not None:
            raise BlockedAddress(_blocked_message(host, ip, kind))
    return addresses


# ------------------------------------------------------------------ request shape


def _timeout(call: HttpCall) -> float:
    t = float(call.timeout_s)
    return MAX_TIMEOUT_S if t <= 0 else min(t, MAX_TIMEOUT_S)


def _method(call: HttpCall) -> str:
    method = (call.method or "GET").upper()
    if method not in METHODS:
        raise HttpCallError(
            f"Unsupported HTTP method {call.method!r}; use one of "
            + ", ".join(sorted(METHODS))
        )
    return method


def _media_type(content_type: str) -> str:
    return (content_type or JSON).split(";", 1)[0].strip().lower()


def _text(value: Any) -> str:
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
            pairs.extend((str(key), _text(item)) for item in value)
        else:
            pairs.append((str(key), _text(value)))
    return pairs


def _build_url(call: HttpCall) -> httpx.URL:
    try:
        url = httpx.URL(call.url)
        if call.query:
            url = url.copy_merge_params(tuple(_pairs(call.query)))
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise HttpCallError(f"Invalid URL {call.url!r}: {exc}") from exc
    _check_scheme(url)
    if not url.is_absolute_url:
        raise HttpCallError(f"Invalid URL {call.url!r}: not an absolute URL.")
    return url


def _has_body(call: HttpCall, method: str) -> bool:
    return call.body is not None and method not in _NO_BODY_METHODS


def _encode_body(call: HttpCall) -> tuple[bytes, str]:
    """The request body bytes and their Content-Type header value."""
    media = _media_type(call.content_type)
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
            parts.append((str(key), (None, _text(value).encode("utf-8"))))
    request = httpx.Request("POST", "http://multipart.invalid/", files=parts)
    return request.read(), request.headers["content-type"]


def _request_headers(
    call: HttpCall, method: str
) -> tuple[dict[str, str], bytes | None]:
    headers = {
        str(k): str(v) for k, v in call.headers.items() if str(k).lower() != "host"
    }
    if not _has_body(call, method):
        return headers, None
    content, content_type = _encode_body(call)
    user_type = next((k for k in headers if k.lower() == "content-type"), None)
    if _media_type(call.content_type) == MULTIPART and user_type is not None:
        del headers[user_type]
        user_type = None
    if user_type is None:
        headers["Content-Type"] = content_type
    return headers, content


# ----------------------------------------------------------------------- sending


async def send(
    call: HttpCall,
    *,
    policy: HttpPolicy,
    secret_values: Collection[str] = (),
    transport: httpx.AsyncBaseTransport | None = None,
) -> HttpOutcome:
    """Perform ``call`` under ``policy``; never raises (except on cancellation).

    ``secret_values`` are redacted from the curl command and from error texts;
    ``transport`` replaces the network (tests use ``httpx.MockTransport``).
    """
    started = time.perf_counter()
    try:
        curl = curl_command(call, secret_values=secret_values)
    except Exception:  # a malformed call must still produce an outcome
        curl = ""
    timeout = _timeout(call)
    partial: _Partial
    try:
        async with asyncio.timeout(timeout):
            partial = await _perform(call, policy, transport, timeout)
    except HttpCallError as exc:
        partial = _Partial(error=str(exc))
    except (TimeoutError, httpx.TimeoutException):
        partial = _Partial(error=f"The request timed out after {timeout:g} s.")
    except httpx.ConnectError as exc:
        partial = _Partial(error=f"Could not connect: {str(exc) or type(exc).__name__}")
    except httpx.HTTPError as exc:
        partial = _Partial(error=f"HTTP error: {type(exc).__name__}: {exc}")
    except Exception as exc:
        partial = _Partial(error=f"The request failed: {type(exc).__name__}: {exc}")
    error = partial.error
    if error is not None:
        error = _redact(error, _secret_variants(secret_values))
    return HttpOutcome(
        success=partial.success,
        status_code=partial.status_code,
        data=partial.data,
        headers=partial.headers,
        error=error,
        latency_ms=(time.perf_counter() - started) * 1000.0,
        curl_command=curl,
        note=partial.note,
    )


@dataclass
class _Partial:
    success: bool = False
    status_code: int | None = None
    data: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    note: str | None = None


@dataclass
class _Hop:
    method: str
    url: httpx.URL
    headers: dict[str, str]
    content: bytes | None


async def _perform(
    call: HttpCall,
    policy: HttpPolicy,
    transport: httpx.AsyncBaseTransport | None,
    timeout: float,
) -> _Partial:
    if call.response_format not in RESPONSE_FORMATS:
        raise HttpCallError(
            f"Unsupported response format {call.response_format!r}; use one of "
            + ", ".join(RESPONSE_FORMATS)
        )
    method = _method(call)
    headers, content = _request_headers(call, method)
    hop = _Hop(method, _build_url(call), headers, content)
    async with httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
    ) as client:
        for redirects in range(policy.max_redirects + 1):
            addresses = await check_url(hop.url, policy)
            response = await _send_pinned(client, hop, addresses)
            location = response.headers.get("location")
            if response.status_code not in _REDIRECT_STATUSES or not location:
                try:
                    return await _read(response, hop.method, call, policy)
                finally:
                    await response.aclose()
            await response.aclose()
            if redirects == policy.max_redirects:
                return _Partial(
                    status_code=response.status_code,
                    headers=dict(response.headers.items()),
                    error=f"Too many redirects (more than {policy.max_redirects}).",
                )
            hop = _redirected(hop, response.status_code, location)
    raise AssertionError("unreachable")  # pragma: no cover


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _redirected(hop: _Hop, status: int, location: str) -> _Hop:
    try:
        target = hop.url.join(location)
    except (httpx.InvalidURL, ValueError) as exc:
        raise HttpCallError(f"Invalid redirect location {location!r}: {exc}") from exc
    method, content, headers = hop.method, hop.content, dict(hop.headers)
    if (status == 303 and method != "HEAD") or (
        status in (301, 302) and method == "POST"
    ):
        method, content = "GET", None
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    if _origin(target) != _origin(hop.url):
        headers = {
            k: v for k, v in headers.items() if k.lower() not in SENSITIVE_HEADERS
        }
    return _Hop(method, target, headers, content)


async def _send_pinned(
    client: httpx.AsyncClient, hop: _Hop, addresses: list[IPAddress]
) -> httpx.Response:
    """Send ``hop`` to the first reachable checked address (or unpinned if none)."""
    if not addresses:
        request = client.build_request(
            hop.method, hop.url, headers=hop.headers, content=hop.content
        )
        return await client.send(request, stream=True)
    extensions: dict[str, Any] = {}
    if hop.url.scheme == "https" and not _is_ip_literal(hop.url.host):
        extensions["sni_hostname"] = hop.url.raw_host.decode("ascii")
    headers = {**hop.headers, "Host": hop.url.netloc.decode("ascii")}
    failure: httpx.ConnectError | None = None
    for ip in addresses:
        request = client.build_request(
            hop.method,
            hop.url.copy_with(host=str(ip)),
            headers=headers,
            content=hop.content,
            extensions=extensions,
        )
        try:
            return await client.send(request, stream=True)
        except httpx.ConnectError as exc:
            failure = exc
    assert failure is not None
    raise failure


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------- responses


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


async def _read(
    response: httpx.Response, method: str, call: HttpCall, policy: HttpPolicy
) -> _Partial:
    headers = dict(response.headers.items())
    raw, truncated = (b"", False)
    if method != "HEAD":
        raw, truncated = await _read_capped(response, max(policy.max_response_bytes, 0))
    data: Any
    note: str | None = None
    if call.response_format == "binary":
        data = {
            "content_base64": base64.b64encode(raw).decode("ascii"),
            "size_bytes": len(raw),
            "content_type": response.headers.get("content-type"),
        }
    else:
        text = _decode(raw, response.charset_encoding)
        data = text
        if call.response_format == "json":
            data, note = _parse_json(text)
    errors: list[str] = []
    if not response.is_success:
        reason = f" {response.reason_phrase}" if response.reason_phrase else ""
        errors.append(f"HTTP {response.status_code}{reason}")
    if truncated:
        errors.append(
            f"The response body exceeded the {policy.max_response_bytes}-byte limit "
            "(max_response_bytes) and was cut off."
        )
    return _Partial(
        success=not errors,
        status_code=response.status_code,
        data=data,
        headers=headers,
        error="; ".join(errors) or None,
        note=note,
    )


def _parse_json(text: str) -> tuple[Any, str | None]:
    if not text.strip():
        return None, None
    try:
        return json.loads(text), None
    except ValueError:
        return text, "The response is not valid JSON; it is returned as text."


# -------------------------------------------------------------------------- curl


def _secret_variants(secret_values: Iterable[str]) -> list[str]:
    """Secrets plus their URL- and JSON-escaped forms, longest first."""
    variants: set[str] = set()
    for secret in secret_values:
        if not secret:
            continue
        variants.update(
            {
                secret,
                quote(secret, safe=""),
                quote_plus(secret),
                json.dumps(secret, ensure_ascii=False)[1:-1],
            }
        )
    variants.discard("")
    return sorted(variants, key=lambda s: (-len(s), s))


def _redact(text: str, variants: list[str]) -> str:
    for secret in variants:
        text = text.replace(secret, REDACTED)
    return text


def _curl_url(call: HttpCall) -> str:
    try:
        url = _build_url(call)
    except HttpCallError:
        return call.url
    text = str(url)
    if url.password:
        userinfo = url.userinfo.decode("ascii")
        shown = f"{userinfo.split(':', 1)[0]}:{REDACTED}"
        text = text.replace(f"//{userinfo}@", f"//{shown}@", 1)
    return text


def _curl_body(call: HttpCall, method: str, has_type: bool) -> list[str]:
    if not _has_body(call, method):
        return []
    media = _media_type(call.content_type)
    if media == MULTIPART and isinstance(call.body, Mapping):
        args: list[str] = []
        for key, value in call.body.items():
            if isinstance(value, bytes):
                args += ["-F", f"{key}=@{key};type=application/octet-stream"]
            else:
                args += ["--form-string", f"{key}={_text(value)}"]
        return args
    try:
        content, content_type = _encode_body(call)
    except HttpCallError:
        content, content_type = _text(call.body).encode("utf-8"), call.content_type
    header = [] if has_type else ["-H", f"Content-Type: {content_type}"]
    return [*header, "--data-raw", content.decode("utf-8", errors="replace")]


def curl_command(call: HttpCall, *, secret_values: Collection[str] = ()) -> str:
    """``call`` as a shell-quoted curl command, with secrets replaced by [REDACTED].

    Headers in :data:`SENSITIVE_HEADERS` are always redacted; any occurrence of a
    value in ``secret_values`` (also URL- or JSON-escaped) in the URL, a header
    or the body is replaced. Redirect following is not expressed (no ``-L``).
    """
    variants = _secret_variants(secret_values)
    method = (call.method or "GET").upper()
    args = ["curl", "--head"] if method == "HEAD" else ["curl", "-X", method]
    args.append(_curl_url(call))
    has_type = False
    for key, value in call.headers.items():
        name = str(key)
        if name.lower() == "host":
            continue
        if name.lower() == "content-type":
            if _media_type(call.content_type) == MULTIPART and _has_body(call, method):
                continue
            has_type = True
        shown = REDACTED if name.lower() in SENSITIVE_HEADERS else str(value)
        args += ["-H", f"{name}: {shown}"]
    args += _curl_body(call, method, has_type)
    args += ["--max-time", f"{_timeout(call):g}"]
    return " ".join(shlex.quote(_redact(arg, variants)) for arg in args)
