"""The fast lane's keep-alive HTTP/1.1 client against a real loopback server.

``RawServer`` answers each request with the next scripted list of byte strings
(sent in order, with an optional pause before each) and then keeps or closes the
connection as the script says; it records every request and connection.
"""

import asyncio
import contextlib
import gzip
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import uvloop

from threadline.providers.wire_conn import MAX_HEAD, PeerClosed, WireError, WireTimeout
from threadline.providers.wire_pool import Timeouts, WirePool

T = Timeouts(5.0, 5.0, 5.0, 5.0)
BODY = b'{"hello": "world"}'


def request(body: bytes = BODY) -> bytes:
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (len(body), body)
    )


def ok(body: bytes = b'{"ok": 1}', *extra: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n" % len(body)
    return head + b"".join(h + b"\r\n" for h in extra) + b"\r\n" + body


@dataclass
class Step:
    parts: list[bytes]
    close: bool = False
    pause: float = 0.0


@dataclass
class RawServer:
    script: deque[Step] = field(default_factory=deque)
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                self.requests.append(head + await reader.readexactly(length))
                step = self.script.popleft() if self.script else Step([ok()])
                for part in step.parts:
                    if step.pause:
                        await asyncio.sleep(step.pause)
                    writer.write(part)
                    await writer.drain()
                if step.close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def serving(*steps: Step) -> AsyncIterator[RawServer]:
    raw = RawServer(deque(steps))
    server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
    raw.port = server.sockets[0].getsockname()[1]
    try:
        yield raw
    finally:
        for writer in raw.writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def reuse_case() -> tuple[int, int, list[bytes]]:
    async with serving() as server:
        pool = WirePool("127.0.0.1", server.port, None)
        bodies = [(await pool.request(request(), T)).body for _ in range(3)]
        pool.close()
    return server.connections, len(server.requests), bodies


async def test_requests_reuse_one_keep_alive_connection():
    assert await reuse_case() == (1, 3, [b'{"ok": 1}'] * 3)


def test_the_client_runs_on_uvloop_too():
    assert uvloop.run(reuse_case()) == (1, 3, [b'{"ok": 1}'] * 3)


async def test_an_idle_connection_the_peer_closed_is_not_used_again():
    async with serving(Step([ok()], close=True)) as server:
        pool = WirePool("127.0.0.1", server.port, None)
        await pool.request(request(), T)
        await asyncio.sleep(0.05)  # the peer's close reaches the idle connection
        answer = await pool.request(request(), T)
        pool.close()
    assert answer.status == 200
    assert (server.connections, len(server.requests)) == (2, 2)


async def test_a_reused_connection_closed_before_the_answer_is_retried_once():
    # The server reads the second request and closes without a byte: the keep-
    # alive race. The request goes again, once, on a new connection.
    async with serving(Step([ok()]), Step([], close=True)) as server:
        pool = WirePool("127.0.0.1", server.port, None)
        await pool.request(request(), T)
        answer = await pool.request(request(b'{"n": 2}'), T)
        pool.close()
    assert answer.body == b'{"ok": 1}'
    assert server.connections == 2
    assert [r.endswith(b'{"n": 2}') for r in server.requests] == [False, True, True]


async def test_a_new_connection_closed_before_the_answer_is_not_retried():
    async with serving(Step([], close=True)) as server:
        pool = WirePool("127.0.0.1", server.port, None)
        with pytest.raises(PeerClosed):
            await pool.request(request(), T)
    assert len(server.requests) == 1


async def test_a_connection_cut_mid_response_fails_and_is_not_retried():
    cut = b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial'
    async with serving(Step([ok()]), Step([cut], close=True)) as server:
        pool = WirePool("127.0.0.1", server.port, None)
        await pool.request(request(), T)
        with pytest.raises(WireError) as failed:
            await pool.request(request(), T)
        pool.close()
    assert not isinstance(failed.value, PeerClosed)
    assert len(server.requests) == 2


async def test_chunked_and_split_responses_are_read_whole():
    chunked = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n",
        b"\r\n5\r\nhello\r\n",
        b"7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n",
        b"\r\n",
    ]
    async with serving(Step(chunked, pause=0.01), Step([ok()])) as server:
        pool = WirePool("127.0.0.1", server.port, None)
        first = await pool.request(request(), T)
        second = await pool.request(request(), T)
        pool.close()
    assert first.body == b"hello, world"
    assert second.body == b'{"ok": 1}'
    assert server.connections == 1


async def test_gzip_bodies_are_decoded_and_close_responses_close():
    packed = gzip.compress(b'{"zipped": true}')
    steps = (
        Step([ok(packed, b"Content-Encoding: gzip")]),
        Step([ok(b"{}", b"Connection: close")]),
        Step([b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close"], close=True),
    )
    async with serving(*steps) as server:
        pool = WirePool("127.0.0.1", server.port, None)
        answers = [(await pool.request(request(), T)).body for _ in range(4)]
        pool.close()
    assert answers == [b'{"zipped": true}', b"{}", b"until close", b'{"ok": 1}']
    assert server.connections == 3


async def test_a_slow_answer_times_out_and_its_connection_is_dropped():
    async with serving(Step([ok()], pause=1.0)) as server:
        pool = WirePool("127.0.0.1", server.port, None)
        with pytest.raises(WireTimeout):
            await pool.request(request(), Timeouts(5.0, 0.1, 5.0, 5.0))
        assert (await pool.request(request(), T)).status == 200
        pool.close()
    assert server.connections == 2


async def test_an_unreachable_port_fails_to_connect():
    async with serving() as server:
        port = server.port
    pool = WirePool("127.0.0.1", port, None)
    with pytest.raises(WireError):
        await pool.request(request(), T)


async def test_the_pool_keeps_to_its_connection_limit():
    async with serving(*[Step([ok()], pause=0.02) for _ in range(6)]) as server:
        pool = WirePool("127.0.0.1", server.port, None, max_connections=2)
        answers = await asyncio.gather(*(pool.request(request(), T) for _ in range(6)))
        pool.close()
    assert [a.status for a in answers] == [200] * 6
    assert server.connections == 2


async def test_waiting_for_a_connection_past_the_pool_timeout_fails():
    async with serving(Step([ok()], pause=0.5)) as server:
        pool = WirePool("127.0.0.1", server.port, None, max_connections=1)
        slow = asyncio.create_task(pool.request(request(), T))
        await asyncio.sleep(0.05)
        with pytest.raises(WireTimeout):
            await pool.request(request(), Timeouts(5.0, 5.0, 5.0, 0.05))
        assert (await slow).status == 200
        assert (await pool.request(request(), T)).status == 200
        pool.close()
    assert server.connections == 1


async def test_an_oversized_or_malformed_head_is_refused():
    huge = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (MAX_HEAD + 10) + b"\r\n\r\n"
    async with serving(Step([huge]), Step([b"SMTP ready\r\n\r\n"])) as server:
        pool = WirePool("127.0.0.1", server.port, None)
        with pytest.raises(WireError, match="too large"):
            await pool.request(request(), T)
        with pytest.raises(WireError, match="not an HTTP"):
            await pool.request(request(), T)
        pool.close()


async def test_idle_connections_close_after_the_keep_alive_expiry():
    async with serving() as server:
        pool = WirePool("127.0.0.1", server.port, None, keepalive_expiry=0.1)
        await pool.request(request(), T)
        assert pool.idle == 1
        await asyncio.sleep(0.3)  # no call comes: the idle one is closed
        assert pool.idle == 0
        assert (await pool.request(request(), T)).status == 200
        pool.close()
    assert server.connections == 2
