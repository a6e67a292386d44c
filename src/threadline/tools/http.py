"""Outbound HTTP for ``http_request`` nodes, ``external_api`` tools and webhooks.

:func:`send` performs one :class:`HttpCall` and always returns an
:class:`HttpOutcome`; errors (refused address, timeout, connection failure,
oversized body, non-2xx status) are reported in ``HttpOutcome.error`` and never
raised. :func:`curl_command` renders the call as a copy-pasteable, redacted curl
command (the ``curl_command`` of the ``http_request`` event and run output).

This is the public face of the HTTP layer; the parts live beside it:

* :mod:`~threadline.tools.http_call`: the call, policy, outcome and errors;
* :mod:`~threadline.tools.addresses`: the SSRF guard (scheme and address checks,
  resolution, pinning the connection to a checked address);
* :mod:`~threadline.tools.http_bodies`: request encoding by ``content_type`` and
  response decoding by ``response_format`` (with the size cap);
* :mod:`~threadline.tools.curl`: the curl command and secret redaction.

Redirects are followed here, by hand (at most ``HttpPolicy.max_redirects``);
every hop goes through the SSRF guard again. A 303 (except for HEAD), or a
301/302 after POST, becomes a GET without body; when a redirect leaves the
original scheme/host/port, every header the call set is dropped except
:data:`REDIRECT_SAFE_HEADERS` (content negotiation), so credentials under any name
stay with their origin.

A ``timeout_s`` of 0 (or below) means the platform maximum of 300 s; larger
values are capped at 300 s. The timeout applies per network operation (httpx)
and also as an overall deadline for the whole call, DNS and redirects included.

Each request (each hop of a redirect chain) is a client span when tracing is on,
and carries its W3C ``traceparent`` (``threadline.telemetry.tracing``).

This package of modules imports only the standard library, httpx and
``threadline.telemetry``.
"""

import asyncio
import time
from collections.abc import Collection
from dataclasses import replace

import httpx

from threadline.telemetry import tracing
from threadline.tools import addresses
from threadline.tools.addresses import (
    Hop,
    IPAddress,
    is_blocked_address,
    resolve_host,
    send_pinned,
)
from threadline.tools.curl import curl_command, redact_variants, secret_variants
from threadline.tools.http_bodies import (
    PartialOutcome,
    build_url,
    read_response,
    request_headers,
)
from threadline.tools.http_call import (
    ALLOW_PRIVATE_SETTING,
    CONTENT_TYPES,
    METHODS,
    REDACTED,
    REDIRECT_SAFE_HEADERS,
    RESPONSE_FORMATS,
    SENSITIVE_HEADERS,
    BlockedAddress,
    HttpCall,
    HttpCallError,
    HttpOutcome,
    HttpPolicy,
    effective_timeout,
)
from threadline.tools.http_call import FORM as FORM
from threadline.tools.http_call import JSON as JSON
from threadline.tools.http_call import MAX_TIMEOUT_S as MAX_TIMEOUT_S
from threadline.tools.http_call import MULTIPART as MULTIPART
from threadline.tools.http_call import TEXT as TEXT

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

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


async def check_url(url: httpx.URL, policy: HttpPolicy) -> list[IPAddress]:
    """Apply the SSRF guard to ``url``; return the checked addresses to connect to.

    Raises :class:`BlockedAddress` for a refused scheme or address, and returns
    ``[]`` (meaning "connect normally, unpinned") when ``policy.allow_private``.
    Host names are resolved with this module's :func:`resolve_host`, looked up
    at call time so that one replacement (tests patch it) covers every call.
    """
    return await addresses.check_url(url, policy, resolve=resolve_host)


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
    timeout = effective_timeout(call)
    try:
        async with asyncio.timeout(timeout):
            partial = await _perform(call, policy, transport, timeout)
    except Exception as exc:
        partial = PartialOutcome(error=_failure_text(exc, timeout))
    error = partial.error
    if error is not None:
        error = redact_variants(error, secret_variants(secret_values))
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


def _failure_text(exc: Exception, timeout: float) -> str:
    """The ``error`` of a call that raised ``exc``."""
    if isinstance(exc, HttpCallError):
        return str(exc)
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return f"The request timed out after {timeout:g} s."
    if isinstance(exc, httpx.ConnectError):
        return f"Could not connect: {str(exc) or type(exc).__name__}"
    if isinstance(exc, httpx.HTTPError):
        return f"HTTP error: {type(exc).__name__}: {exc}"
    return f"The request failed: {type(exc).__name__}: {exc}"


def _method(call: HttpCall) -> str:
    method = (call.method or "GET").upper()
    if method not in METHODS:
        raise HttpCallError(
            f"Unsupported HTTP method {call.method!r}; use one of "
            + ", ".join(sorted(METHODS))
        )
    return method


def _first_hop(call: HttpCall) -> Hop:
    if call.response_format not in RESPONSE_FORMATS:
        raise HttpCallError(
            f"Unsupported response format {call.response_format!r}; use one of "
            + ", ".join(RESPONSE_FORMATS)
        )
    method = _method(call)
    headers, content = request_headers(call, method)
    return Hop(method, build_url(call), headers, content)


async def _perform(
    call: HttpCall,
    policy: HttpPolicy,
    transport: httpx.AsyncBaseTransport | None,
    timeout: float,
) -> PartialOutcome:
    hop = _first_hop(call)
    async with httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
    ) as client:
        for redirects in range(policy.max_redirects + 1):
            response = await _traced_hop(client, hop, policy)
            location = response.headers.get("location")
            if response.status_code not in _REDIRECT_STATUSES or not location:
                try:
                    return await read_response(response, hop.method, call, policy)
                finally:
                    await response.aclose()
            await response.aclose()
            if redirects == policy.max_redirects:
                return PartialOutcome(
                    status_code=response.status_code,
                    headers=dict(response.headers.items()),
                    error=f"Too many redirects (more than {policy.max_redirects}).",
                )
            hop = _redirected(hop, response.status_code, location)
    raise AssertionError("unreachable")  # pragma: no cover


async def _traced_hop(
    client: httpx.AsyncClient, hop: Hop, policy: HttpPolicy
) -> httpx.Response:
    """One request, as a client span whose ``traceparent`` it carries."""
    with tracing.span(
        f"HTTP {hop.method}",
        {
            "http.request.method": hop.method,
            "server.address": hop.url.host,
            "server.port": hop.url.port,
            "url.scheme": hop.url.scheme,
        },
        kind=tracing.CLIENT,
    ) as span:
        carried = tracing.headers()
        if carried:
            hop = replace(hop, headers={**hop.headers, **carried})
        response = await send_pinned(client, hop, await check_url(hop.url, policy))
        span.set("http.response.status_code", response.status_code)
        return response


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _redirected(hop: Hop, status: int, location: str) -> Hop:
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
            k: v for k, v in headers.items() if k.lower() in REDIRECT_SAFE_HEADERS
        }
    return Hop(method, target, headers, content)
