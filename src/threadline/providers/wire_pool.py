"""A keep-alive HTTP/1.1 client for one origin: the fast lane's model calls.

``httpx2``'s pool checks every idle connection's socket for readability before
each request, which costs milliseconds a call at a hundred concurrent calls.
``WirePool`` keeps its idle connections (``wire_conn.Connection``) in a stack
instead: the event loop marks one closed the moment its peer closes it, so taking
one is a list pop. The rest follows ``httpx2`` with the OpenAI SDK's defaults:

- at most ``max_connections`` connections; a request past that waits (FIFO) for
  one, for at most the pool timeout; at most ``max_keepalive`` idle ones are
  kept, each for at most ``keepalive_expiry`` seconds;
- timeouts per operation, as ``httpx2.Timeout``: connect (TCP and TLS), write,
  read (between two reads of the response), pool;
- a request on a reused connection that the peer closed before any byte of the
  response is sent again, once, on a new connection (the keep-alive race: the
  peer closed it as we took it); nothing else is retried here;
- a response that is malformed, cut short or says ``Connection: close`` closes
  its connection; ``gzip`` and ``deflate`` bodies are decoded.

It is used only where it can do everything the SDK's client would (the caller,
``openai_fast``, decides): no proxy, no SSRF guard, no HTTP/2.
"""

import asyncio
import contextlib
import ssl
import zlib
from collections import deque
from dataclasses import dataclass

from threadline.providers.wire_conn import (
    Connection,
    PeerClosed,
    WireError,
    WireResponse,
    WireTimeout,
)

ACCEPT_ENCODING = "gzip, deflate"
"""What the client accepts, the encodings it decodes (as ``httpx2`` sends)."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-operation timeouts in seconds (``None``: wait for ever)."""

    connect: float | None
    read: float | None
    write: float | None
    pool: float | None


class WirePool:
    """Keep-alive connections to one origin (see the module)."""

    def __init__(
        self,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        *,
        max_connections: int = 1000,
        max_keepalive: int = 100,
        keepalive_expiry: float = 5.0,
    ) -> None:
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.max_connections = max_connections
        self.max_keepalive = max_keepalive
        self.keepalive_expiry = keepalive_expiry
        self.opened = 0
        """Connections opened so far (tests and benchmarks read it)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: list[Connection] = []
        self._count = 0
        self._waiters: deque[asyncio.Future[Connection | None]] = deque()
        self._sweep: asyncio.TimerHandle | None = None

    async def request(self, data: bytes, timeouts: Timeouts) -> WireResponse:
        """Send one whole request (head and body) and read its whole response."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._reset(loop)
        for attempt in (0, 1):
            conn, reused = await self._acquire(loop, timeouts)
            try:
                response = await conn.exchange(data, timeouts.read, timeouts.write)
            except PeerClosed:
                self._release(conn, False)
                if reused and attempt == 0:
                    continue
                raise
            except BaseException:
                self._release(conn, False)
                raise
            self._release(conn, response.reusable)
            response.body = _decoded(response)
            return response
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the idle connections (busy ones close when their call ends)."""
        for conn in self._idle:
            conn.close()
            self._count -= 1
        self._idle.clear()
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None

    @property
    def idle(self) -> int:
        return len(self._idle)

    def _reset(self, loop: asyncio.AbstractEventLoop) -> None:
        """A new event loop: the old loop's connections cannot be used on it."""
        for conn in self._idle:
            with contextlib.suppress(RuntimeError):  # its loop is closed already
                conn.close()
        self._idle, self._count, self._waiters = [], 0, deque()
        self._loop, self._sweep = loop, None

    async def _acquire(
        self, loop: asyncio.AbstractEventLoop, timeouts: Timeouts
    ) -> tuple[Connection, bool]:
        while True:
            now = loop.time()
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed and now - conn.idle_since < self.keepalive_expiry:
                    return conn, True
                conn.close()
                self._count -= 1
            if self._count < self.max_connections:
                self._count += 1
                try:
                    return await self._connect(loop, timeouts.connect), False
                except BaseException:
                    self._count -= 1
                    self._wake(None)
                    raise
            waiter: asyncio.Future[Connection | None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(timeouts.pool):
                    handed = await waiter
            except BaseException as exc:
                self._give_back(waiter)
                if isinstance(exc, TimeoutError):
                    raise WireTimeout("timed out waiting for a connection") from None
                raise
            if handed is not None:
                if not handed.closed:
                    return handed, True
                self._count -= 1

    async def _connect(
        self, loop: asyncio.AbstractEventLoop, timeout: float | None
    ) -> Connection:
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(
                    lambda: Connection(loop),
                    self.host,
                    self.port,
                    ssl=self.ssl_context,
                    server_hostname=self.host if self.ssl_context else None,
                )
        except TimeoutError:
            raise WireTimeout(f"timed out connecting to {self.host}") from None
        except (OSError, ssl.SSLError) as exc:
            raise WireError(f"could not connect to {self.host}: {exc}") from exc
        self.opened += 1
        return conn

    def _release(self, conn: Connection, reusable: bool) -> None:
        if reusable and not conn.closed:
            conn.idle_since = conn.loop.time()
            if self._wake(conn):
                return
            if len(self._idle) < self.max_keepalive:
                self._idle.append(conn)
                if self._sweep is None:
                    when = conn.idle_since + self.keepalive_expiry
                    self._sweep = conn.loop.call_at(when, self._expire)
                return
        conn.close()
        self._count -= 1
        self._wake(None)

    def _expire(self) -> None:
        """Close the idle connections past ``keepalive_expiry`` (as ``httpx2``
        does), so none stays open for ever once calls stop."""
        self._sweep = None
        if not self._idle or self._loop is None or self._loop.is_closed():
            return
        now = self._loop.time()
        kept = []
        for conn in self._idle:
            if conn.closed or now - conn.idle_since >= self.keepalive_expiry:
                conn.close()
                self._count -= 1
            else:
                kept.append(conn)
        self._idle = kept
        if kept:
            when = min(c.idle_since for c in kept) + self.keepalive_expiry
            self._sweep = self._loop.call_at(when, self._expire)

    def _give_back(self, waiter: asyncio.Future[Connection | None]) -> None:
        """A waiter that gave up: pass on what it was handed, if anything."""
        if waiter in self._waiters:
            self._waiters.remove(waiter)
        elif waiter.done() and not waiter.cancelled():
            handed = waiter.result()
            if handed is None:
                self._wake(None)
            else:
                self._release(handed, True)

    def _wake(self, conn: Connection | None) -> bool:
        """Hand ``conn`` (or, with ``None``, a free slot) to the first waiter."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return True
        return False


def _decoded(response: WireResponse) -> bytes:
    coding = (response.header("content-encoding") or "identity").strip().lower()
    try:
        if coding in ("identity", ""):
            return response.body
        if coding == "gzip":
            return zlib.decompress(response.body, zlib.MAX_WBITS | 16)
        if coding == "deflate":
            try:
                return zlib.decompress(response.body)
            except zlib.error:
                return zlib.decompress(response.body, -zlib.MAX_WBITS)
    except zlib.error as exc:
        raise WireError(f"could not decode the {coding} body: {exc}") from exc
    raise WireError(f"an unsupported content encoding: {coding!r}")
