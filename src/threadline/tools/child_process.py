"""A child process whose output is always drained, capped, and which is always reaped.

Used by the ``inline_python`` sandbox (``threadline.tools.sandbox``). The child's
stdin, stdout and stderr are pipes this module creates and owns (not asyncio's
``PIPE``), read by protocols that never stop reading: bytes past what is kept are
counted and dropped, so a child writing gigabytes to file descriptor 1 or 2 can
neither fill the server's memory nor block on a full pipe. Past a cap the whole
process group is killed at once (``killed_for = "output_limit"``).

Why own the pipes: ``asyncio.subprocess.Process.wait()`` on Python 3.11 returns only
once every ``PIPE`` it created has reached end-of-file. A reader that stopped
reading (over a cap, or cancelled at the wall limit) leaves the child blocked on a
full pipe, or the pipe never seen closed, and ``wait()`` then never returns: one
leaked descriptor per call and a request (and a graceful shutdown) hanging forever.
Here ``wait()`` depends on the process alone, and leaving the ``async with`` block
closes every descriptor, kills the group if it still runs and waits a bounded time
for the kernel to reap it, whatever happened inside (error, timeout, cancellation).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

__all__ = ["REAP_SECONDS", "ChildProcess"]

REAP_SECONDS = 5.0
"""How long leaving ``ChildProcess.start`` waits for a killed child to be reaped;
a child stuck in the kernel past that is left to asyncio's child watcher."""


class _Drain(asyncio.Protocol):
    """Reads a pipe to its end: keeps the first ``keep`` bytes, counts them all, and
    calls ``on_flood`` once more than ``cap`` bytes have arrived."""

    def __init__(self, keep: int, cap: int, on_flood: Callable[[], None]) -> None:
        self.data = bytearray()
        self.size = 0
        self._keep = keep
        self._cap = cap
        self._on_flood = on_flood
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        room = self._keep - len(self.data)
        if room > 0:
            self.data += data[:room]
        before, self.size = self.size, self.size + len(data)
        if before <= self._cap < self.size:
            self._on_flood()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class ChildProcess:
    """One child, its three pipes and why it was killed (see the module docstring)."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self.killed_for: str | None = None
        """``timeout`` or ``output_limit`` when this side killed the child."""
        self._transports: list[asyncio.BaseTransport] = []
        self._files: list[Any] = []
        self._stdin: asyncio.WriteTransport | None = None
        self._out: _Drain | None = None
        self._err: _Drain | None = None

    @property
    def stdout(self) -> bytes:
        """What the child wrote on its stdout (at most the kept bytes)."""
        return bytes(self._out.data) if self._out else b""

    @property
    def stderr(self) -> bytes:
        """The first bytes the child wrote on its stderr."""
        return bytes(self._err.data) if self._err else b""

    @property
    def returncode(self) -> int | None:
        """The exit status (negative: killed by that signal), None while running."""
        return self.proc.returncode if self.proc else None

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls,
        argv: Sequence[str],
        cwd: str,
        *,
        stdout_cap: int,
        stderr_keep: int,
        stderr_cap: int,
    ) -> AsyncIterator[ChildProcess]:
        """Start ``argv`` with an empty environment in its own session.

        More than ``stdout_cap`` bytes on stdout, or ``stderr_cap`` on stderr, kill
        it (``output_limit``); ``stderr_keep`` bytes of stderr are kept.
        """
        child = cls()
        try:
            await child._spawn(argv, cwd, stdout_cap, stderr_keep, stderr_cap)
            yield child
        finally:
            await child._close()

    async def _spawn(
        self,
        argv: Sequence[str],
        cwd: str,
        stdout_cap: int,
        stderr_keep: int,
        stderr_cap: int,
    ) -> None:
        loop = asyncio.get_running_loop()
        fds: list[int] = []
        try:
            in_r, in_w = _pipe(fds)
            out_r, out_w = _pipe(fds)
            err_r, err_w = _pipe(fds)
            self.proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=in_r,
                stdout=out_w,
                stderr=err_w,
                env={},
                cwd=cwd,
                start_new_session=True,
            )
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        # Only the child holds the ends it uses now: its exit is our end-of-file.
        for fd in (in_r, out_w, err_w):
            os.close(fd)
        out = os.fdopen(out_r, "rb", buffering=0)
        err = os.fdopen(err_r, "rb", buffering=0)
        stdin = os.fdopen(in_w, "wb", buffering=0)
        self._files = [out, err, stdin]
        self._out = _Drain(stdout_cap + 1, stdout_cap, self._flooded)
        self._err = _Drain(stderr_keep, stderr_cap, self._flooded)
        for file, drain in ((out, self._out), (err, self._err)):
            reader, _ = await loop.connect_read_pipe(_factory(drain), file)
            self._transports.append(reader)
        writer, _ = await loop.connect_write_pipe(asyncio.Protocol, stdin)
        self._transports.append(writer)
        self._stdin = writer

    def send(self, data: bytes) -> None:
        """Write ``data`` to the child's stdin, then close it (without waiting)."""
        assert self._stdin is not None
        self._stdin.write(data)
        self._stdin.write_eof()

    async def finish(self, wall_seconds: float) -> None:
        """Wait for the child to exit and its output to end; past ``wall_seconds``
        kill it (``killed_for = "timeout"``)."""
        assert self.proc is not None
        assert self._out is not None
        assert self._err is not None
        try:
            async with asyncio.timeout(wall_seconds):
                await self.proc.wait()
                await asyncio.gather(self._out.closed, self._err.closed)
        except TimeoutError:
            self.killed_for = self.killed_for or "timeout"
            self.kill()

    def kill(self) -> None:
        """SIGKILL the child's whole process group (it leads its own session)."""
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()

    def _flooded(self) -> None:
        self.killed_for = self.killed_for or "output_limit"
        self.kill()

    async def _close(self) -> None:
        self.kill()
        for transport in self._transports:
            _abort(transport)
        for file in self._files:
            file.close()
        if self.proc is not None and self.proc.returncode is None:
            # Shielded: a cancelled caller still gets its child reaped (bounded).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.proc.wait()), REAP_SECONDS)


def _factory(drain: _Drain) -> Callable[[], _Drain]:
    return lambda: drain


def _pipe(fds: list[int]) -> tuple[int, int]:
    read, write = os.pipe()
    fds += (read, write)
    return read, write


def _abort(transport: asyncio.BaseTransport) -> None:
    """Close at once: a write pipe drops what it has not sent yet."""
    if isinstance(transport, asyncio.WriteTransport):
        if not transport.is_closing() or transport.get_write_buffer_size():
            transport.abort()
    else:
        transport.close()
