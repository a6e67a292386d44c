"""One keep-alive HTTP/1.1 connection of the fast lane's client (``wire_pool``).

A ``Connection`` is an asyncio protocol: it sends one request at a time and
parses the response as its bytes arrive (status line, headers, then a body framed
by ``Content-Length``, by chunked transfer coding, or by the peer closing), with
no reader task and no polling. While it sits idle in the pool, the event loop
tells it when the peer closes it (``connection_lost``), so the pool never has to
probe a socket before reusing it.

Errors: ``WireTimeout`` when a read or write waits longer than its timeout,
``PeerClosed`` when the peer closed the connection before any byte of the
response came (the only failure a reused connection may retry), ``WireError``
for anything else (reset mid-response, a malformed response, a head over
``MAX_HEAD`` bytes: the ceiling ``httpcore2`` uses). A connection that failed,
or whose response says ``Connection: close``, is never reused.
"""

import asyncio
from dataclasses import dataclass
from typing import cast

MAX_HEAD = 100 * 1024
"""Largest response head (status line and headers) accepted, as ``httpcore2``."""


class WireError(Exception):
    """The exchange failed: the connection is broken."""


class WireTimeout(WireError):
    """A connect, read, write or pool wait took longer than its timeout."""


class PeerClosed(WireError):
    """The peer closed the connection before any byte of the response."""


@dataclass(slots=True)
class WireResponse:
    """A whole response; ``headers`` keep their order, names lower-cased."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    reusable: bool

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection (see the module)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._buffer = bytearray()
        self._waiter: asyncio.Future[WireResponse] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._paused = False
        self._timer: asyncio.TimerHandle | None = None
        self._timeout: float | None = None
        self._last = 0.0
        self._head: tuple[int, str, list[tuple[str, str]], bool] | None = None
        self._framing = ""
        self._length = 0
        self._pos = 0
        self._chunks: list[bytes] = []

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.close()  # bytes nobody asked for: the connection is unusable
            return
        self._buffer += data
        self._last = self.loop.time()
        try:
            response = self._parse()
        except WireError as exc:
            self._fail(exc)
            return
        if response is not None:
            self._finish(response)

    def eof_received(self) -> bool:
        self._ended(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._ended(exc)
        if self._drained is not None and not self._drained.done():
            self._drained.set_exception(WireError("connection lost while sending"))

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # the exchange

    async def exchange(
        self, data: bytes, read: float | None, write: float | None
    ) -> WireResponse:
        """Send ``data`` (a whole request) and wait for the whole response."""
        if self.closed or self.transport is None:
            raise PeerClosed("the connection was closed while idle")
        self._waiter = self.loop.create_future()
        self._buffer.clear()
        self._head, self._framing, self._pos, self._chunks = None, "", 0, []
        self.transport.write(data)
        if self._paused:
            self._drained = self.loop.create_future()
            try:
                async with asyncio.timeout(write):
                    await self._drained
            except TimeoutError:
                self._fail(WireTimeout("timed out sending the request"))
            except WireError:
                pass  # lost while sending: the waiter says why
        self._last = self.loop.time()
        if read is not None and not self._waiter.done():
            self._timeout = read
            self._timer = self.loop.call_at(self._last + read, self._check_timeout)
        try:
            return await self._waiter
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._waiter = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _check_timeout(self) -> None:
        self._timer = None
        if self._waiter is None or self._waiter.done():
            return  # the answer came before the timer ran: the connection stays usable
        assert self._timeout is not None
        due = self._last + self._timeout
        if self.loop.time() >= due:
            self._fail(WireTimeout("timed out reading the response"))
        else:
            self._timer = self.loop.call_at(due, self._check_timeout)

    def _fail(self, exc: WireError) -> None:
        self.close()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    def _finish(self, response: WireResponse) -> None:
        if not response.reusable:
            self.close()
        assert self._waiter is not None
        self._waiter.set_result(response)

    def _ended(self, exc: Exception | None) -> None:
        """The peer closed (EOF) or the connection was lost."""
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._framing == "close" and self._head is not None and exc is None:
            status, reason, headers, _ = self._head
            body = bytes(self._buffer[self._pos :])
            self._finish(WireResponse(status, reason, headers, body, False))
        elif not self._buffer and self._head is None:
            self._fail(PeerClosed(f"connection closed before the response ({exc})"))
        else:
            self._fail(WireError(f"connection closed mid-response ({exc})"))

    # parsing

    def _parse(self) -> WireResponse | None:
        while self._head is None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD:
                    raise WireError("the response head is too large")
                return None
            if end > MAX_HEAD:
                raise WireError("the response head is too large")
            head = _head(bytes(self._buffer[:end]))
            del self._buffer[: end + 4]
            if 100 <= head[0] < 200:
                continue  # an interim response: the real one follows
            self._head = head
            self._framing, self._length = _framing(head[0], head[2])
            self._pos = 0
        if self._framing == "length":
            if len(self._buffer) < self._length:
                return None
            body = bytes(self._buffer[: self._length])
            return self._response(body, len(self._buffer) == self._length)
        if self._framing == "chunked":
            return self._chunked()
        if self._framing == "none":
            return self._response(b"", not self._buffer)
        return None  # read until the peer closes

    def _chunked(self) -> WireResponse | None:
        buffer = self._buffer
        while True:
            line_end = buffer.find(b"\r\n", self._pos)
            if line_end < 0:
                return None
            if self._length < 0:  # trailers, until an empty line
                if line_end == self._pos:
                    body = b"".join(self._chunks)
                    return self._response(body, line_end + 2 == len(buffer))
                self._pos = line_end + 2
                continue
            try:
                size = int(bytes(buffer[self._pos : line_end]).split(b";")[0], 16)
            except ValueError:
                raise WireError("a malformed chunk size") from None
            if size == 0:
                self._pos, self._length = line_end + 2, -1
                continue
            start = line_end + 2
            if len(buffer) < start + size + 2:
                return None
            if buffer[start + size : start + size + 2] != b"\r\n":
                raise WireError("a chunk without its CRLF")
            self._chunks.append(bytes(buffer[start : start + size]))
            self._pos = start + size + 2

    def _response(self, body: bytes, clean: bool) -> WireResponse:
        assert self._head is not None
        status, reason, headers, keep = self._head
        return WireResponse(status, reason, headers, body, keep and clean)


def _head(raw: bytes) -> tuple[int, str, list[tuple[str, str]], bool]:
    """Status, reason, headers and keep-alive of a response head."""
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise WireError(f"not an HTTP/1.x response: {lines[0][:80]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise WireError(f"a malformed header line: {line[:80]!r}")
        headers.append((name.lower(), value.strip()))
    keep = parts[0] == "HTTP/1.1"
    for name, value in headers:
        if name == "connection" and "close" in value.lower():
            keep = False
    reason = parts[2] if len(parts) > 2 else ""
    return int(parts[1]), reason, headers, keep


def _framing(status: int, headers: list[tuple[str, str]]) -> tuple[str, int]:
    """How the body is framed: ``none``, ``length`` (n), ``chunked`` or ``close``."""
    if status in (204, 304):
        return "none", 0
    lengths = set()
    for name, value in headers:
        if name == "transfer-encoding":
            if value.lower() != "chunked":
                raise WireError(f"an unsupported transfer coding: {value!r}")
            return "chunked", 0
        if name == "content-length":
            lengths.add(value)
    if len(lengths) > 1:
        raise WireError("conflicting Content-Length headers")
    if lengths:
        text = lengths.pop()
        if not text.isdigit():
            raise WireError(f"a malformed Content-Length: {text!r}")
        return ("length", int(text)) if int(text) else ("none", 0)
    return "close", 0
