"""The SSRF guard for tenant LLM endpoints, applied where the LLM SDKs connect.

A tenant's LLM config may name its own URL (``base_url`` of ``openai_llm`` and
``custom_llm``, ``endpoint`` of ``azure_openai_llm``, or the same fields of a team
credential). Such URLs go through the guard of HTTP nodes
(:mod:`threadline.tools.addresses`, same rules, same ``HttpPolicy``), twice:

* when a config is saved or tested: :meth:`EndpointGuard.check` (scheme, host and
  every address the host resolves to; a host that does not resolve yet is let
  through, the connect-time check still applies);
* when the SDK connects: the client of :meth:`EndpointGuard.http_client` has a
  network backend that resolves the host itself, checks every address and
  connects to a checked one, so the TLS handshake and the ``Host`` header keep
  the name while the socket goes where the check said. A name that resolved to a
  public address at save time and resolves to a private one now (DNS rebinding)
  is refused here, with :class:`threadline.errors.AddressRefused`.

The client follows no redirects (an LLM API does not redirect its calls, and a
redirect would carry the key elsewhere) and ignores proxy environment variables
(a proxy would resolve the name itself). Endpoints the operator configured
(``THREADLINE_LLM_OVERRIDE_URL``, ``THREADLINE_AZURE_OPENAI_ENDPOINT``, ...) are not
tenant URLs and do not go through here.
"""

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpcore2
import httpx
import httpx2

from threadline.errors import AddressRefused
from threadline.tools import addresses
from threadline.tools.addresses import IPAddress, Resolver
from threadline.tools.http_call import BlockedAddress, HttpCallError, HttpPolicy

__all__ = ["EndpointGuard"]


def _lookup(host: str, port: int) -> Any:
    # Looked up at call time, so that tests replacing ``resolve_host`` cover us.
    return addresses.resolve_host(host, port)


@dataclass(frozen=True)
class EndpointGuard:
    """The SSRF guard for tenant LLM URLs under ``policy``.

    ``resolve`` replaces DNS (tests); ``None`` uses
    :func:`threadline.tools.addresses.resolve_host`.
    """

    policy: HttpPolicy = field(default_factory=HttpPolicy)
    resolve: Resolver | None = None

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The checked addresses of ``host`` (``[]``: connect by name, allowed).

        Raises :class:`AddressRefused` for a refused address and
        ``httpcore2.ConnectError`` for a host that does not resolve.
        """
        try:
            return await addresses.check_host(
                host, port, self.policy, resolve=self.resolve or _lookup
            )
        except BlockedAddress as exc:
            raise AddressRefused(str(exc)) from None
        except HttpCallError as exc:
            raise httpcore2.ConnectError(str(exc)) from None

    async def check(self, url: str) -> None:
        """Refuse (``AddressRefused``) a URL the guard would refuse at connect time.

        A host that does not resolve is accepted: it may resolve later, and the
        connect-time check applies then.
        """
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, ValueError) as exc:
            raise AddressRefused(f"{url!r} is not a valid URL: {exc}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise AddressRefused(
                f"{url!r} is not an http(s) URL with a host: only http and https "
                "endpoints are allowed"
            )
        try:
            await addresses.check_url(
                parsed, self.policy, resolve=self.resolve or _lookup
            )
        except BlockedAddress as exc:
            raise AddressRefused(str(exc)) from None
        except HttpCallError:
            return

    def http_client(self, *, timeout: float, verify: bool = True) -> httpx2.AsyncClient:
        """An httpx2 client (the OpenAI SDK's) whose every connection is checked."""
        transport = httpx2.AsyncHTTPTransport(verify=verify, trust_env=False)
        # httpx2 builds its connection pool without a way to pass a network
        # backend; the pool is rebuilt with the same TLS context and ours.
        pool = transport._pool
        transport._pool = httpcore2.AsyncConnectionPool(
            ssl_context=pool._ssl_context,
            network_backend=_GuardedBackend(self),
        )
        return httpx2.AsyncClient(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
        )


class _GuardedBackend(httpcore2.AsyncNetworkBackend):
    """Connects only to addresses the guard checked (see the module docstring)."""

    def __init__(self, guard: EndpointGuard) -> None:
        self._guard = guard
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        async with asyncio.timeout(timeout):
            checked = await self._guard.addresses(host, port)
        targets = [str(ip) for ip in checked] or [host]
        failure: Exception | None = None
        for target in targets:
            try:
                return await self._inner.connect_tcp(
                    target,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore2.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise AddressRefused("LLM endpoints are reached over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
