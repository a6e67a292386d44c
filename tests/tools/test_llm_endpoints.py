"""The SSRF guard inside the LLM clients: check at connect time, connect pinned."""

import ipaddress
from typing import Any

import httpcore2
import pytest

from threadline.errors import AddressRefused
from threadline.tools.addresses import IPAddress
from threadline.tools.http_call import HttpPolicy
from threadline.tools.llm_endpoints import EndpointGuard, _GuardedBackend


class RecordingBackend:
    """Stands in for the socket layer: records where it was asked to connect."""

    def __init__(self) -> None:
        self.targets: list[tuple[str, int]] = []

    async def connect_tcp(self, host: str, port: int, **_: Any) -> Any:
        self.targets.append((host, port))
        return object()


def _resolver(*answers: str) -> Any:
    async def resolve(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address(a) for a in answers]

    return resolve


async def test_the_connection_goes_to_the_checked_address() -> None:
    backend = _GuardedBackend(EndpointGuard(resolve=_resolver("93.184.216.34")))
    inner = RecordingBackend()
    backend._inner = inner  # type: ignore[assignment]
    await backend.connect_tcp("models.example", 443)
    assert inner.targets == [("93.184.216.34", 443)]


@pytest.mark.parametrize("answer", ["127.0.0.1", "10.1.2.3", "::1", "169.254.169.254"])
async def test_a_name_resolving_to_a_private_address_is_refused(answer: str) -> None:
    backend = _GuardedBackend(EndpointGuard(resolve=_resolver("93.184.216.34", answer)))
    inner = RecordingBackend()
    backend._inner = inner  # type: ignore[assignment]
    with pytest.raises(AddressRefused):
        await backend.connect_tcp("models.example", 443)
    assert inner.targets == []


async def test_allowed_and_allow_private_connect_by_name() -> None:
    for policy in (
        HttpPolicy(allowed_hosts=frozenset({"models.internal"})),
        HttpPolicy(allow_private=True),
    ):
        backend = _GuardedBackend(EndpointGuard(policy, resolve=_resolver("10.0.0.5")))
        inner = RecordingBackend()
        backend._inner = inner  # type: ignore[assignment]
        await backend.connect_tcp("Models.Internal", 8000)
        assert inner.targets == [("Models.Internal", 8000)]


async def test_a_host_that_does_not_resolve_is_a_connect_error() -> None:
    async def nowhere(host: str, port: int) -> list[IPAddress]:
        raise OSError("Name or service not known")

    backend = _GuardedBackend(EndpointGuard(resolve=nowhere))
    with pytest.raises(httpcore2.ConnectError):
        await backend.connect_tcp("nowhere.example", 443)
    await EndpointGuard(resolve=nowhere).check("https://nowhere.example/v1")


@pytest.mark.parametrize(
    "url", ["ftp://models.example/", "file:///etc/passwd", "http://", "not a url"]
)
async def test_only_http_urls_with_a_host_pass_the_save_check(url: str) -> None:
    with pytest.raises(AddressRefused):
        await EndpointGuard(resolve=_resolver("93.184.216.34")).check(url)


async def test_the_client_follows_no_redirects_and_ignores_proxies() -> None:
    client = EndpointGuard().http_client(timeout=5.0)
    assert client.follow_redirects is False
    assert client.trust_env is False
    await client.aclose()
