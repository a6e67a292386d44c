"""The SSRF guard: which addresses a call may reach, and connecting only to those.

Unless ``HttpPolicy.allow_private`` (``THREADLINE_HTTP_ALLOW_PRIVATE=1``) is set, or
the host is one of ``HttpPolicy.allowed_hosts`` (named exactly, by the operator):

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
  Every header but content negotiation (``REDIRECT_SAFE_HEADERS``) is dropped
  when a redirect leaves the original scheme/host/port.

Known limits: environment proxies (``HTTP_PROXY`` etc.) and ``.netrc`` are
ignored (``trust_env=False``), because a proxy would do its own DNS. With
``allow_private`` the URL is used unchanged and httpx resolves it itself.
Addresses are tried in resolver order, falling back to the next one only when
connecting fails. NAT64 (64:ff9b::/96) counts as reserved, so IPv6-only hosts
behind NAT64 cannot reach IPv4 sites without ``allow_private``. Cookies set
during a redirect chain are not replayed on later hops.

Redirects themselves are followed in :mod:`threadline.tools.http`.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from threadline.tools.http_call import (
    ALLOW_PRIVATE_SETTING,
    BlockedAddress,
    HttpCallError,
    HttpPolicy,
)

__all__ = [
    "Hop",
    "IPAddress",
    "Resolver",
    "allowed_host",
    "check_host",
    "check_scheme",
    "check_url",
    "is_blocked_address",
    "is_ip_literal",
    "resolve_host",
    "send_pinned",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
_ALLOWED_SCHEMES = frozenset({"http", "https"})


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


def is_ip_literal(host: str) -> bool:
    """True when ``host`` is an IP address rather than a name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


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
    target = f"{host!r}" if is_ip_literal(host) else f"{host!r} (resolves to {ip})"
    return (
        f"Refused to connect to {target}: {kind} address. Requests to "
        "private/loopback addresses are disabled; set "
        f"{ALLOW_PRIVATE_SETTING} to allow them."
    )


def check_scheme(url: httpx.URL) -> None:
    """Raise :class:`BlockedAddress` unless ``url`` is http(s) (or has no scheme)."""
    if url.scheme and url.scheme not in _ALLOWED_SCHEMES:
        raise BlockedAddress(
            f"Refused URL scheme {url.scheme!r}: only http and https are allowed."
        )


def allowed_host(host: str, policy: HttpPolicy) -> bool:
    """True when the operator let ``host`` through the guard (by exact name)."""
    name = host.strip("[]").rstrip(".").lower()
    return name in policy.allowed_hosts


async def _addresses(
    shown: str, lookup: str, port: int, resolve: Resolver
) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(lookup.strip("[]"))]
    except ValueError:
        pass
    try:
        found = await resolve(lookup, port)
    except (OSError, UnicodeError) as exc:
        raise HttpCallError(f"Could not resolve host {shown!r}: {exc}") from exc
    if not found:
        raise HttpCallError(f"Could not resolve host {shown!r}.")
    return found


async def check_host(
    host: str,
    port: int,
    policy: HttpPolicy,
    *,
    resolve: Resolver = resolve_host,
    shown: str | None = None,
) -> list[IPAddress]:
    """Apply the address part of the guard to ``host``; the addresses to connect to.

    Returns ``[]`` ("connect to the name, unpinned") when ``policy.allow_private``
    or the operator allowed the host by name; raises :class:`BlockedAddress` when
    any address the host resolves to is not public, and :class:`HttpCallError`
    when it does not resolve. Messages name ``shown`` (default ``host``).
    """
    shown = shown or host
    if (
        policy.allow_private
        or allowed_host(host, policy)
        or allowed_host(shown, policy)
    ):
        return []
    addresses = await _addresses(shown, host, port, resolve)
    for ip in addresses:
        kind = _address_kind(ip)
        if kind is not None:
            raise BlockedAddress(_blocked_message(shown, ip, kind))
    return addresses


async def check_url(
    url: httpx.URL, policy: HttpPolicy, *, resolve: Resolver = resolve_host
) -> list[IPAddress]:
    """Apply the SSRF guard to ``url``; return the checked addresses to connect to.

    Raises :class:`BlockedAddress` for a refused scheme or address, and returns
    ``[]`` (meaning "connect normally, unpinned") when ``policy.allow_private``
    or the host is one of ``policy.allowed_hosts``. Host names are looked up
    with ``resolve``.
    """
    check_scheme(url)
    if not url.host:
        raise HttpCallError("The URL has no host.")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        lookup = url.raw_host.decode("ascii")
    except UnicodeError as exc:
        raise HttpCallError(f"Could not resolve host {url.host!r}: {exc}") from exc
    return await check_host(lookup, port, policy, resolve=resolve, shown=url.host)


@dataclass
class Hop:
    """One request of a redirect chain."""

    method: str
    url: httpx.URL
    headers: dict[str, str]
    content: bytes | None


async def send_pinned(
    client: httpx.AsyncClient, hop: Hop, addresses: list[IPAddress]
) -> httpx.Response:
    """Send ``hop`` to the first reachable checked address (or unpinned if none)."""
    if not addresses:
        request = client.build_request(
            hop.method, hop.url, headers=hop.headers, content=hop.content
        )
        return await client.send(request, stream=True)
    extensions: dict[str, Any] = {}
    if hop.url.scheme == "https" and not is_ip_literal(hop.url.host):
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
