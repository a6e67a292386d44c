"""Processes and fakes of the crash test: a fresh PostgreSQL database, the fake model
(``threadline fake-llm --log``), an HTTP receiver logging every POST, and
``threadline serve`` processes that can be SIGKILLed and restarted.

Every timestamp is wall-clock ``time.time()`` so the fake model's log (another
process), the receiver's log and the kill times compare directly.
"""

import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from threadline.settings import Settings

JsonDict = dict[str, Any]

BIN = Path(sys.executable).parent
THREADLINE = str(BIN / "threadline")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def body_hash(body: Any) -> str:
    """The same hash as ``threadline.providers.fake_server.body_hash``."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# --- PostgreSQL ---------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


async def _admin(admin_url: str, statement: str) -> None:
    engine = create_async_engine(
        _with_database(admin_url, "postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def fresh_database(admin_url: str) -> AsyncIterator[str]:
    """Create ``threadline_crash_<random>`` on the server of ``admin_url`` (a
    ``postgresql+asyncpg://`` URL); yield its URL; drop it."""
    name = f"threadline_crash_{secrets.token_hex(4)}"
    await _admin(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(admin_url, name)
    finally:
        await _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the HTTP receiver --------------------------------------------------------------


@dataclass
class Received:
    t: float
    sha256: str
    body: Any
    complete: bool = True
    """False when the connection closed before the whole body arrived (the sender
    was killed between writing the headers and the body): no request was made."""


class Receiver:
    """Logs each POST (time of receipt, body hash), waits ``latency_s``, answers
    ``{"ok": true, "done": turn >= done_at_turn}`` from the body's ``turn``."""

    def __init__(self, latency_s: float, done_at_turn: int) -> None:
        self.latency_s = latency_s
        self.done_at_turn = done_at_turn
        self.log: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                now = time.time()
                size = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(size) if size else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                entry = Received(now, body_hash(body), body, len(raw) == size)
                with receiver._lock:
                    receiver.log.append(entry)
                if not entry.complete:
                    return
                time.sleep(receiver.latency_s)
                turn = 0
                if isinstance(body, dict):
                    with contextlib.suppress(TypeError, ValueError):
                        turn = int(body.get("turn") or 0)
                payload = json.dumps(
                    {"ok": True, "done": turn >= receiver.done_at_turn}
                ).encode()
                with contextlib.suppress(OSError):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def entries(self) -> list[Received]:
        with self._lock:
            return list(self.log)

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


# --- processes ----------------------------------------------------------------------


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    """The parent's environment without ``THREADLINE_*``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    env["THREADLINE_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def reaper_interval(wanted: float) -> str:
    """``wanted`` if the settings take fractions, else the next whole second."""
    try:
        Settings(reaper_interval_seconds=wanted)
    except ValueError:
        return str(max(1, int(wanted + 0.999)))
    return str(wanted)


def migrate(env: dict[str, str]) -> None:
    done = subprocess.run(
        [THREADLINE, "migrate"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


async def wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {port}") from None
            await asyncio.sleep(0.05)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return


@dataclass
class Proc:
    """A subprocess with its output in ``log``; SIGKILL and restart."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    port: int
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: list[float] = field(default_factory=list)
    _healthy: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def healthy(self) -> bool:
        """Started, answered ``/health`` since, and not killed."""
        return self._healthy and self.alive()

    def start(self) -> None:
        assert self.popen is None
        self._healthy = False
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"\n=== start #{self.starts} at {time.time():.3f}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def sigkill(self) -> float:
        """SIGKILL the process; returns the time of the kill."""
        assert self.popen is not None
        at = time.time()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait()
        self.popen = None
        self._healthy = False
        self.kills.append(at)
        with self.log.open("ab") as out:
            out.write(f"\n=== SIGKILL at {at:.3f}\n".encode())
        return at

    def stop(self) -> None:
        if self.popen is None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self.popen = None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    async def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                if self.popen is not None and self.popen.poll() is not None:
                    raise RuntimeError(
                        f"{self.name} exited with {self.popen.returncode}:\n"
                        + self.tail()
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/health")).status_code == 200:
                        self._healthy = True
                        return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.name} not healthy:\n{self.tail()}")
                await asyncio.sleep(0.1)


def fake_llm(workdir: Path, latency_ms: int) -> tuple[Proc, Path]:
    port = free_port()
    log = workdir / "llm-requests.jsonl"
    argv = [THREADLINE, "fake-llm", "--port", str(port)]
    argv += ["--latency-ms", str(latency_ms), "--log", str(log)]
    proc = Proc("fake-llm", argv, dict(os.environ), workdir / "fake-llm.out", port)
    return proc, log


def serve(name: str, workdir: Path, env: dict[str, str]) -> Proc:
    port = free_port()
    argv = [THREADLINE, "serve", "--port", str(port)]
    return Proc(name, argv, env, workdir / f"{name}.out", port)


def read_llm_log(path: Path) -> list[Received]:
    if not path.exists():
        return []
    entries = []
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            entries.append(Received(row["t"], row["sha256"], row["body"]))
    return entries


@contextlib.contextmanager
def stopped_at_exit(*procs: Proc) -> Iterator[None]:
    try:
        yield
    finally:
        for proc in procs:
            proc.stop()


def report(line: str) -> None:
    """A line for the person running ``make test-crash`` (shown with ``-s``)."""
    sys.stderr.write(line + "\n")


def keep_dir(workdir: Path, target: str | None) -> None:
    """Copy the process logs somewhere that outlives pytest's tmp dir, if asked."""
    if target:
        shutil.copytree(workdir, target, dirs_exist_ok=True)
