"""Between the OpenAI SDK's HTTP client and the fast lane's own (``wire_pool``).

``wire_for`` says whether a plain call to ``url`` can skip the SDK's ``httpx2``
client for a ``WirePool`` with nothing lost: only when the client is the SDK's
own default one (the builder says so: no SSRF-guarded or custom client), no
proxy applies to the URL (``httpx2`` read the proxy variables when the client was
built; a proxied URL is mounted on another transport), the pool speaks HTTP/1.1
only with its stock network backend (no Unix socket, local address, socket
options or connect retries), the client has no auth, event hooks or query
parameters and the URL no user info. The pool then takes the client's TLS
context and connection limits. Anything else keeps the ``httpx2`` path.

The other helpers keep the two paths' wire and errors the same: the request head
``httpx2`` would send, its timeouts, and an ``httpx2.Response`` of a raw
response for the SDK's status errors and the client's cookie jar.
"""

from typing import Any

import httpcore2
import httpx2

from threadline.providers.wire_conn import WireResponse
from threadline.providers.wire_pool import ACCEPT_ENCODING, Timeouts, WirePool

_DEFAULT_PORTS = {"http": 80, "https": 443}


def wire_for(http: Any, url: str) -> WirePool | None:
    """A ``WirePool`` that can make ``http``'s calls to ``url``, or ``None``."""
    if not isinstance(http, httpx2.AsyncClient):
        return None
    parsed = httpx2.URL(url)
    if parsed.scheme not in _DEFAULT_PORTS or not parsed.host or parsed.userinfo:
        return None
    transport = http._transport
    if http._transport_for_url(parsed) is not transport:
        return None  # a proxy, or another mount
    if type(transport) is not httpx2.AsyncHTTPTransport:
        return None
    pool = transport._pool
    if type(pool) is not httpcore2.AsyncConnectionPool:
        return None
    stock = type(pool._network_backend) is httpcore2.AnyIOBackend or (
        type(pool._network_backend).__name__ == "AutoBackend"
    )
    if not stock or pool._http2 or not pool._http1 or pool._retries:
        return None
    if pool._uds or pool._local_address or pool._socket_options or pool._proxy:
        return None
    if http.auth is not None or http.params or any(http.event_hooks.values()):
        return None
    tls = pool._ssl_context if parsed.scheme == "https" else None
    if parsed.scheme == "https" and tls is None:
        return None
    return WirePool(
        parsed.host,
        parsed.port or _DEFAULT_PORTS[parsed.scheme],
        tls,
        max_connections=min(pool._max_connections, 1 << 20),
        max_keepalive=pool._max_keepalive_connections,
        keepalive_expiry=pool._keepalive_expiry or 0.0,
    )


def request_head(http: httpx2.AsyncClient, url: str, headers: dict[str, str]) -> bytes:
    """The request line and headers of a POST to ``url`` as ``httpx2`` builds
    them, but ``Content-Length``: the client's headers under ``headers``."""
    sent = http.build_request("POST", url, content=b"", headers=headers)
    lines = [f"POST {sent.url.raw_path.decode('ascii')} HTTP/1.1"]
    for name, value in sent.headers.multi_items():
        if name.lower() in ("content-length", "transfer-encoding"):
            continue
        if name.lower() == "accept-encoding":
            value = ACCEPT_ENCODING
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def timeouts(value: Any) -> Timeouts:
    """``httpx2``'s per-operation timeouts of a call's ``timeout`` setting."""
    if isinstance(value, httpx2.Timeout):
        return Timeouts(value.connect, value.read, value.write, value.pool)
    seconds = None if value is None else float(value)
    return Timeouts(seconds, seconds, seconds, seconds)


def as_response(raw: WireResponse, request: httpx2.Request) -> httpx2.Response:
    """``raw`` (its body decoded) as an ``httpx2.Response`` to ``request``."""
    framing = ("content-encoding", "content-length", "transfer-encoding")
    headers = [(k, v) for k, v in raw.headers if k not in framing]
    return httpx2.Response(
        raw.status, headers=headers, content=raw.body, request=request
    )
