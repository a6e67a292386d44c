"""The outbound HTTP layer: encoding, responses, limits, the SSRF guard, curl.

No traffic leaves the machine: public hosts only ever meet ``httpx.MockTransport``
(with a patched resolver for host names); the one real server listens on 127.0.0.1.
"""

import asyncio
import base64
import ipaddress
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from threadline.tools import http as http_mod
from threadline.tools.http import (
    BlockedAddress,
    HttpCall,
    HttpPolicy,
    check_url,
    curl_command,
    is_blocked_address,
    send,
)

PUBLIC_IP = "93.184.215.14"
OTHER_PUBLIC_IP = "8.8.4.4"
POLICY = HttpPolicy()

Handler = Callable[[httpx.Request], httpx.Response]


def mock(handler: Handler) -> httpx.MockTransport:
    return httpx.MockTransport(handler)


def recorder(
    response: httpx.Response | None = None,
) -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return response if response is not None else httpx.Response(200, json={})

    return seen, mock(handler)


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Host name -> addresses; unknown names fail like NXDOMAIN."""
    table: dict[str, list[str]] = {}

    async def fake(host: str, port: int) -> list[Any]:
        if host not in table:
            raise OSError(f"unknown host {host}")
        return [ipaddress.ip_address(a) for a in table[host]]

    monkeypatch.setattr(http_mod, "resolve_host", fake)
    return table


# ------------------------------------------------------------------ responses


async def test_json_response_is_parsed() -> None:
    seen, transport = recorder(httpx.Response(200, json={"a": [1, 2]}))
    out = await send(
        HttpCall("GET", f"http://{PUBLIC_IP}/x", query={"q": "v w", "n": [1, 2]}),
        policy=POLICY,
        transport=transport,
    )
    assert out.success
    assert out.status_code == 200
    assert out.data == {"a": [1, 2]}
    assert out.error is None
    assert out.note is None
    assert out.headers["content-type"] == "application/json"
    assert out.latency_ms >= 0
    assert str(seen[0].url) == f"http://{PUBLIC_IP}/x?q=v+w&n=1&n=2"
    assert seen[0].content == b""


async def test_json_format_falls_back_to_text_with_a_note() -> None:
    _, transport = recorder(httpx.Response(200, text="<html>hi</html>"))
    out = await send(
        HttpCall("GET", f"http://{PUBLIC_IP}/"), policy=POLICY, transport=transport
    )
    assert out.success
    assert out.data == "<html>hi</html>"
    assert out.note is not None
    assert "not valid JSON" in out.note


async def test_empty_json_body_is_none() -> None:
    _, transport = recorder(httpx.Response(204))
    out = await send(
        HttpCall("DELETE", f"http://{PUBLIC_IP}/"), policy=POLICY, transport=transport
    )
    assert out.success
    assert out.data is None
    assert out.note is None


async def test_text_format_decodes_charset() -> None:
    body = "café".encode("latin-1")
    response = httpx.Response(
        200, content=body, headers={"content-type": "text/plain; charset=latin-1"}
    )
    _, transport = recorder(response)
    out = await send(
        HttpCall("GET", f"http://{PUBLIC_IP}/", response_format="text"),
        policy=POLICY,
        transport=transport,
    )
    assert out.data == "café"


async def test_binary_format_is_base64_with_size() -> None:
    payload = bytes(range(256))
    response = httpx.Response(
        200, content=payload, headers={"content-type": "image/png"}
    )
    _, transport = recorder(response)
    out = await send(
        HttpCall("GET", f"http://{PUBLIC_IP}/", response_format="binary"),
        policy=POLICY,
        transport=transport,
    )
    assert out.success
    assert out.data == {
        "content_base64": base64.b64encode(payload).decode("ascii"),
        "size_bytes": 256,
        "content_type": "image/png",
    }


async def test_non_2xx_keeps_data_and_names_the_status() -> None:
    _, transport = recorder(httpx.Response(404, json={"detail": "nope"}))
    out = await send(
        HttpCall("GET", f"http://{PUBLIC_IP}/"), policy=POLICY, transport=transport
    )
    assert not out.success
    assert out.status_code == 404
    assert out.data == {"detail": "nope"}
    assert out.error == "HTTP 404 Not Found"


async def test_oversized_body_is_cut_off() -> None:
    _, transport = recorder(httpx.Response(200, content=b"x" * 100))
    out = await send(
        HttpCall("GET", f"http://{PUBLIC_IP}/", response_format="text"),
        policy=HttpPolicy(max_response_bytes=10),
        transport=transport,
    )
    assert not out.success
    assert out.status_code == 200
    assert out.data == "x" * 10
    assert out.error is not None
    assert "10-byte limit" in out.error


async def test_body_exactly_at_the_limit_is_fine() -> None:
    _, transport = recorder(httpx.Response(200, content=b"x" * 10))
    out = await send(
        HttpCall("GET", f"http://{PUBLIC_IP}/", response_format="text"),
        policy=HttpPolicy(max_response_bytes=10),
        transport=transport,
    )
    assert out.success
    assert out.data == "x" * 10


async def test_head_reads_no_body() -> None:
    seen, transport = recorder(httpx.Response(200, headers={"x-a": "1"}))
    out = await send(
        HttpCall("HEAD", f"http://{PUBLIC_IP}/", body={"ignored": True}),
        policy=POLICY,
        transport=transport,
    )
    assert out.success
    assert out.headers["x-a"] == "1"
    assert seen[0].method == "HEAD"
    assert seen[0].content == b""


# ----------------------------------------------------------------- failures


async def test_read_timeout_is_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    out = await send(
        HttpCall("GET", f"http://{PUBLIC_IP}/", timeout_s=5),
        policy=POLICY,
        transport=mock(handler),
    )
    assert not out.success
    assert out.status_code is None
    assert out.error == "The request timed out after 5 s."


async def test_overall_deadline_is_enforced() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)  # pragma: no cover

    out = await send(
        HttpCall("GET", f"http://{PUBLIC_IP}/", timeout_s=0.05),
        policy=POLICY,
        transport=httpx.MockTransport(slow),
    )
    assert not out.success
    assert out.error is not None
    assert "timed out" in out.error
    assert out.latency_ms < 2000


async def test_connection_error_is_reported_and_secrets_redacted() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused for token s3cr3t", request=request)

    out = await send(
        HttpCall("GET", f"http://{PUBLIC_IP}/"),
        policy=POLICY,
        secret_values=["s3cr3t"],
        transport=mock(handler),
    )
    assert not out.success
    assert out.error == "Could not connect: refused for token [REDACTED]"


async def test_unexpected_exception_never_escapes() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("boom")

    out = await send(
        HttpCall("GET", f"http://{PUBLIC_IP}/"), policy=POLICY, transport=mock(handler)
    )
    assert out.error == "The request failed: RuntimeError: boom"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (HttpCall("TRACE", f"http://{PUBLIC_IP}/"), "Unsupported HTTP method"),
        (
            HttpCall("GET", f"http://{PUBLIC_IP}/", response_format="xml"),
            "Unsupported response format",
        ),
        (
            HttpCall("POST", f"http://{PUBLIC_IP}/", body={}, content_type="a/b"),
            "Unsupported body content type",
        ),
        (HttpCall("GET", "/relative"), "not an absolute URL"),
        (HttpCall("GET", "http://h:notaport/"), "Invalid URL"),
    ],
)
@pytest.mark.anyio
async def test_invalid_calls_are_reported(call: HttpCall, message: str) -> None:
    _, transport = recorder()
    out = await send(call, policy=POLICY, transport=transport)
    assert not out.success
    assert out.error is not None
    assert message in out.error


# --------------------------------------------------------------- request bodies


async def test_json_body() -> None:
    seen, transport = recorder()
    await send(
        HttpCall("POST", f"http://{PUBLIC_IP}/", body={"a": 1, "b": ["x"]}),
        policy=POLICY,
        transport=transport,
    )
    assert seen[0].headers["content-type"] == "application/json"
    assert json.loads(seen[0].content) == {"a": 1, "b": ["x"]}


async def test_json_string_body_is_sent_verbatim() -> None:
    seen, transport = recorder()
    await send(
        HttpCall("PUT", f"http://{PUBLIC_IP}/", body='{"raw": true}'),
        policy=POLICY,
        transport=transport,
    )
    assert seen[0].content == b'{"raw": true}'


async def test_user_content_type_wins_except_for_multipart() -> None:
    seen, transport = recorder()
    await send(
        HttpCall(
            "POST",
            f"http://{PUBLIC_IP}/",
            headers={"content-type": "application/vnd.api+json"},
            body={"a": 1},
        ),
        policy=POLICY,
        transport=transport,
    )
    assert seen[0].headers["content-type"] == "application/vnd.api+json"


async def test_form_body() -> None:
    seen, transport = recorder()
    await send(
        HttpCall(
            "POST",
            f"http://{PUBLIC_IP}/",
            body={"name": "a b", "flag": True, "many": [1, 2], "none": None},
            content_type="application/x-www-form-urlencoded",
        ),
        policy=POLICY,
        transport=transport,
    )
    assert seen[0].headers["content-type"] == "application/x-www-form-urlencoded"
    assert seen[0].content == b"name=a+b&flag=true&many=1&many=2&none="


async def test_multipart_body() -> None:
    seen, transport = recorder()
    await send(
        HttpCall(
            "POST",
            f"http://{PUBLIC_IP}/",
            headers={"Content-Type": "multipart/form-data"},
            body={"field": "value", "n": 3, "upload": b"\x00\x01"},
            content_type="multipart/form-data",
        ),
        policy=POLICY,
        transport=transport,
    )
    content_type = seen[0].headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    body = seen[0].content
    assert b'Content-Disposition: form-data; name="field"\r\n\r\nvalue\r\n' in body
    assert b'name="n"\r\n\r\n3\r\n' in body
    assert b'name="upload"; filename="upload"' in body
    assert b"\x00\x01" in body


async def test_multipart_needs_a_mapping() -> None:
    _, transport = recorder()
    out = await send(
        HttpCall(
            "POST", f"http://{PUBLIC_IP}/", body="x", content_type="multipart/form-data"
        ),
        policy=POLICY,
        transport=transport,
    )
    assert out.error == "A multipart/form-data body must be a mapping."


async def test_text_body() -> None:
    seen, transport = recorder()
    await send(
        HttpCall("PATCH", f"http://{PUBLIC_IP}/", body=42, content_type="text/plain"),
        policy=POLICY,
        transport=transport,
    )
    assert seen[0].headers["content-type"] == "text/plain"
    assert seen[0].content == b"42"


async def test_get_carries_no_body() -> None:
    seen, transport = recorder()
    await send(
        HttpCall("GET", f"http://{PUBLIC_IP}/", body={"a": 1}),
        policy=POLICY,
        transport=transport,
    )
    assert seen[0].content == b""
    assert "content-type" not in seen[0].headers


# ------------------------------------------------------------------- SSRF guard


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fc00::1",
        "fe80::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "2002:7f00:1::",
    ],
)
def test_blocked_addresses(address: str) -> None:
    assert is_blocked_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", [PUBLIC_IP, "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses(address: str) -> None:
    assert not is_blocked_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/",
        "http://10.0.0.5/",
        "https://192.168.0.1/",
    ],
)
@pytest.mark.anyio
async def test_private_literals_are_refused(url: str) -> None:
    seen, transport = recorder()
    out = await send(HttpCall("GET", url), policy=POLICY, transport=transport)
    assert not out.success
    assert out.status_code is None
    assert out.error is not None
    assert "private/loopback" in out.error
    assert "THREADLINE_HTTP_ALLOW_PRIVATE=1" in out.error
    assert seen == []


async def test_localhost_is_refused_through_real_resolution() -> None:
    seen, transport = recorder()
    out = await send(
        HttpCall("GET", "http://localhost:9/"), policy=POLICY, transport=transport
    )
    assert out.error is not None
    assert "'localhost' (resolves to" in out.error
    assert "THREADLINE_HTTP_ALLOW_PRIVATE=1" in out.error
    assert seen == []


@pytest.mark.parametrize("url", ["ftp://example.test/f", "file:///etc/passwd"])
@pytest.mark.anyio
async def test_other_schemes_are_refused(url: str) -> None:
    seen, transport = recorder()
    out = await send(HttpCall("GET", url), policy=POLICY, transport=transport)
    assert out.error is not None
    assert "only http and https" in out.error
    assert seen == []


async def test_scheme_check_applies_even_when_private_is_allowed() -> None:
    with pytest.raises(BlockedAddress):
        await check_url(httpx.URL("gopher://x/"), HttpPolicy(allow_private=True))


async def test_host_resolving_to_any_private_address_is_refused(
    resolver: dict[str, list[str]],
) -> None:
    resolver["rebind.example.test"] = [PUBLIC_IP, "10.0.0.1"]
    seen, transport = recorder()
    out = await send(
        HttpCall("GET", "http://rebind.example.test/"),
        policy=POLICY,
        transport=transport,
    )
    assert out.error is not None
    assert "(resolves to 10.0.0.1): private address" in out.error
    assert seen == []


async def test_unresolvable_host(resolver: dict[str, list[str]]) -> None:
    _, transport = recorder()
    out = await send(
        HttpCall("GET", "http://nowhere.example.test/"),
        policy=POLICY,
        transport=transport,
    )
    assert out.error is not None
    assert out.error.startswith("Could not resolve host 'nowhere.example.test'")


async def test_public_host_is_pinned_to_the_checked_address(
    resolver: dict[str, list[str]],
) -> None:
    resolver["api.example.test"] = [PUBLIC_IP]
    seen, transport = recorder(httpx.Response(200, json={"ok": True}))
    out = await send(
        HttpCall("GET", "https://api.example.test:8443/v1?x=1"),
        policy=POLICY,
        transport=transport,
    )
    assert out.success
    request = seen[0]
    assert str(request.url) == f"https://{PUBLIC_IP}:8443/v1?x=1"
    assert request.headers["host"] == "api.example.test:8443"
    assert request.extensions["sni_hostname"] == "api.example.test"
    assert "'https://api.example.test:8443/v1?x=1'" in out.curl_command


async def test_failed_connect_falls_back_to_next_address(
    resolver: dict[str, list[str]],
) -> None:
    resolver["multi.example.test"] = [OTHER_PUBLIC_IP, PUBLIC_IP]
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        if request.url.host == OTHER_PUBLIC_IP:
            raise httpx.ConnectError("unreachable", request=request)
        return httpx.Response(200, json=1)

    out = await send(
        HttpCall("GET", "http://multi.example.test/"),
        policy=POLICY,
        transport=mock(handler),
    )
    assert out.success
    assert hosts == [OTHER_PUBLIC_IP, PUBLIC_IP]


async def test_allow_private_sends_the_url_unchanged() -> None:
    seen, transport = recorder()
    out = await send(
        HttpCall("GET", "http://internal.example.test/"),
        policy=HttpPolicy(allow_private=True),
        transport=transport,
    )
    assert out.success
    assert str(seen[0].url) == "http://internal.example.test/"


# -------------------------------------------------------------------- redirects


def redirecting(routes: dict[str, httpx.Response]) -> tuple[list[httpx.Request], Any]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return routes.get(request.url.path, httpx.Response(200, json={"done": True}))

    return seen, mock(handler)


async def test_redirect_to_a_private_address_is_refused() -> None:
    seen, transport = redirecting(
        {"/start": httpx.Response(302, headers={"location": "http://127.0.0.1/admin"})}
    )
    out = await send(
        HttpCall("GET", f"http://{PUBLIC_IP}/start"), policy=POLICY, transport=transport
    )
    assert not out.success
    assert out.error is not None
    assert "'127.0.0.1': loopback address" in out.error
    assert [r.url.path for r in seen] == ["/start"]


async def test_redirect_to_metadata_host_name_is_refused(
    resolver: dict[str, list[str]],
) -> None:
    resolver["metadata.example.test"] = ["169.254.169.254"]
    seen, transport = redirecting(
        {
            "/a": httpx.Response(
                307, headers={"location": "http://metadata.example.test/"}
            )
        }
    )
    out = await send(
        HttpCall("GET", f"http://{PUBLIC_IP}/a"), policy=POLICY, transport=transport
    )
    assert out.error is not None
    assert "link-local address" in out.error
    assert len(seen) == 1


async def test_303_becomes_get_and_credentials_stay_home() -> None:
    seen, transport = redirecting(
        {"/a": httpx.Response(303, headers={"location": f"http://{OTHER_PUBLIC_IP}/b"})}
    )
    out = await send(
        HttpCall(
            "POST",
            f"http://{PUBLIC_IP}/a",
            headers={"Authorization": "Bearer t", "X-Trace": "1"},
            body={"a": 1},
        ),
        policy=POLICY,
        transport=transport,
    )
    assert out.success
    assert out.data == {"done": True}
    first, second = seen
    assert first.method == "POST"
    assert first.headers["authorization"] == "Bearer t"
    assert second.method == "GET"
    assert second.content == b""
    assert "authorization" not in second.headers
    assert "content-type" not in second.headers
    # Another origin gets no header the call set, whatever its name.
    assert "x-trace" not in second.headers


async def test_307_keeps_method_and_body_on_same_origin() -> None:
    seen, transport = redirecting(
        {"/a": httpx.Response(307, headers={"location": "/b"})}
    )
    await send(
        HttpCall(
            "PUT",
            f"http://{PUBLIC_IP}/a",
            headers={"Authorization": "Bearer t"},
            body={"a": 1},
        ),
        policy=POLICY,
        transport=transport,
    )
    second = seen[1]
    assert second.url.path == "/b"
    assert second.method == "PUT"
    assert json.loads(second.content) == {"a": 1}
    assert second.headers["authorization"] == "Bearer t"


async def test_too_many_redirects() -> None:
    seen, transport = redirecting(
        {"/loop": httpx.Response(302, headers={"location": "/loop"})}
    )
    out = await send(
        HttpCall("GET", f"http://{PUBLIC_IP}/loop"),
        policy=HttpPolicy(max_redirects=2),
        transport=transport,
    )
    assert not out.success
    assert out.status_code == 302
    assert out.error == "Too many redirects (more than 2)."
    assert len(seen) == 3


# ---------------------------------------------------------- real loopback server


@pytest.fixture
async def loopback_server() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A one-response HTTP server on 127.0.0.1; yields its port and the requests."""
    received: list[bytes] = []

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        received.append(await reader.readuntil(b"\r\n\r\n"))
        body = b'{"hello": "loopback"}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, received
    finally:
        server.close()
        await server.wait_closed()


async def test_real_loopback_refused_before_connecting_then_allowed(
    loopback_server: tuple[int, list[bytes]],
) -> None:
    port, received = loopback_server
    call = HttpCall("GET", f"http://127.0.0.1:{port}/ping")

    refused = await send(call, policy=HttpPolicy())
    assert not refused.success
    assert refused.error is not None
    assert "private/loopback" in refused.error
    await asyncio.sleep(0.05)
    assert received == []

    allowed = await send(call, policy=HttpPolicy(allow_private=True))
    assert allowed.success, allowed.error
    assert allowed.data == {"hello": "loopback"}
    assert len(received) == 1
    assert received[0].startswith(b"GET /ping HTTP/1.1\r\n")


# ------------------------------------------------------------------------ curl


def test_curl_command_shape_and_quoting() -> None:
    call = HttpCall(
        "post",
        "https://api.example.test/v1/items",
        headers={"X-Note": "it's"},
        query={"q": "a b"},
        body={"name": "O'Brien"},
        timeout_s=10,
    )
    assert curl_command(call) == (
        "curl -X POST 'https://api.example.test/v1/items?q=a+b' "
        "-H 'X-Note: it'\"'\"'s' -H 'Content-Type: application/json' "
        '--data-raw \'{"name":"O\'"\'"\'Brien"}\' --max-time 10'
    )


def test_curl_command_redacts_sensitive_headers_and_secrets() -> None:
    call = HttpCall(
        "POST",
        "https://user:pw@api.example.test/x",
        headers={
            "Authorization": "Bearer abc",
            "X-API-Key": "k1",
            "api-key": "k2",
            "Cookie": "sid=1",
            "Proxy-Authorization": "Basic zz",
            "X-Custom": "token=tok/en+1",
        },
        query={"key": "tok/en+1"},
        body={"password": "tok/en+1", "quoted": 'sec"ret'},
    )
    command = curl_command(call, secret_values=["tok/en+1", 'sec"ret', ""])
    for leaked in ("abc", "k1", "k2", "sid=1", "zz", "tok/en+1", "tok%2Fen", "sec"):
        assert leaked not in command
    assert "'Authorization: [REDACTED]'" in command
    assert "'X-Custom: token=[REDACTED]'" in command
    assert "key=[REDACTED]" in command
    assert "user:[REDACTED]@" in command
    assert '"password":"[REDACTED]"' in command
    assert '"quoted":"[REDACTED]"' in command


def test_curl_command_head_form_and_multipart() -> None:
    head = curl_command(HttpCall("HEAD", "http://h.test/", body={"x": 1}))
    assert head == "curl --head http://h.test/ --max-time 30"

    form = curl_command(
        HttpCall(
            "POST",
            "http://h.test/",
            body={"a": "1 2"},
            content_type="application/x-www-form-urlencoded",
        )
    )
    assert form.endswith(
        "-H 'Content-Type: application/x-www-form-urlencoded' "
        "--data-raw a=1+2 --max-time 30"
    )

    multi = curl_command(
        HttpCall(
            "POST",
            "http://h.test/",
            headers={"Content-Type": "multipart/form-data"},
            body={"a": "@notafile", "f": b"\x00"},
            content_type="multipart/form-data",
            timeout_s=0,
        )
    )
    assert multi == (
        "curl -X POST http://h.test/ --form-string a=@notafile "
        "-F 'f=@f;type=application/octet-stream' --max-time 300"
    )


async def test_send_reports_the_redacted_curl_command() -> None:
    _, transport = recorder()
    out = await send(
        HttpCall("GET", f"http://{PUBLIC_IP}/", headers={"X-Token": "hunter2"}),
        policy=POLICY,
        secret_values=["hunter2"],
        transport=transport,
    )
    assert out.curl_command == (
        f"curl -X GET http://{PUBLIC_IP}/ -H 'X-Token: [REDACTED]' --max-time 30"
    )
