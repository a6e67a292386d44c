"""A real ``threadline serve`` process for the batteries that need one (signals,
shutdown, responsiveness under attack): SQLite in a temporary folder, a free port,
a bootstrap API key."""

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

THREADLINE = str(Path(sys.executable).parent / "threadline")
START_GUARD_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A running ``threadline serve``."""

    process: subprocess.Popen[bytes]
    base_url: str
    key: str
    log: Path

    def client(self, timeout: float = 120) -> httpx.AsyncClient:
        """A client of this server, authenticated as the bootstrap team."""
        return httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=timeout,
        )

    def terminate(self) -> None:
        """Ask for a graceful shutdown (SIGTERM)."""
        self.process.send_signal(signal.SIGTERM)


@contextlib.contextmanager
def serve(tmp_path: Path, **env: str) -> Iterator[Server]:
    """Start ``threadline serve`` with ``THREADLINE_*`` overrides; kill it at the end."""
    port = free_port()
    key = "tl_" + secrets.token_urlsafe(24)
    log = tmp_path / "serve.log"
    environ = {
        **os.environ,
        "THREADLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "THREADLINE_BOOTSTRAP_API_KEY": key,
        "THREADLINE_LOG_LEVEL": "warning",
        **{f"THREADLINE_{k.upper()}": v for k, v in env.items()},
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [THREADLINE, "serve", "--port", str(port)],
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", key, log)
    try:
        _wait_until_up(server)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + START_GUARD_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"serve exited: {server.log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.base_url}/health", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"serve did not start: {server.log.read_text()}")
