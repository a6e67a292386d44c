"""``make test-fuzz``: schemathesis over every operation of a live ``threadline serve``.

Starts ``threadline serve`` on a free loopback port with a fresh SQLite database and
a bootstrap key, runs the schemathesis CLI against its ``/openapi.json`` with that
key and the SDK's ``teamid``/``uuid`` headers, then stops the server. The exit code
is schemathesis's: 0 when no check failed.

    python -m tests.fuzz.run --seed 1 --max-time 180
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

KEY = "tl_fuzz_key_0123456789"
TEAM = "00000000000000000000f022"
USER = "00000000000000000000f023"
CHECKS = (
    "not_a_server_error,response_schema_conformance,"
    "status_code_conformance,content_type_conformance"
)
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "THREADLINE_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'fuzz.db'}",
        "THREADLINE_BOOTSTRAP_API_KEY": KEY,
        "THREADLINE_BOOTSTRAP_TEAM_ID": TEAM,
        "THREADLINE_BOOTSTRAP_USER_ID": USER,
        "THREADLINE_LOG_LEVEL": "warning",
    }
    for name in ("THREADLINE_LLM_OVERRIDE_URL", "THREADLINE_SECRET_KEY"):
        env.pop(name, None)
    log = (workdir / "server.log").open("wb")
    command = [str(BIN / "threadline"), "serve", "--port", str(port)]
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_healthy(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"threadline serve exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("threadline serve did not become healthy in 60 s")


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def schemathesis_command(port: int, seed: int, max_time: int) -> list[str]:
    return [
        str(BIN / "schemathesis"),
        "run",
        f"http://127.0.0.1:{port}/openapi.json",
        "--header",
        f"Authorization: Bearer {KEY}",
        "--header",
        f"teamid: {TEAM}",
        "--header",
        f"uuid: {USER}",
        "--checks",
        CHECKS,
        "--seed",
        str(seed),
        "--max-time",
        str(max_time),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--generation-database",
        "none",
        "--no-color",
    ]


def server_errors(log: Path) -> list[str]:
    """Lines of the server's log that show an unhandled error."""
    lines = log.read_text(errors="replace").splitlines()
    return [line for line in lines if "Traceback" in line or "unhandled" in line]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--max-time", type=int, required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="threadline-fuzz-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        server = start_server(workdir, port)
        try:
            wait_healthy(port, server)
            command = schemathesis_command(port, args.seed, args.max_time)
            result = subprocess.run(command, cwd=workdir, check=False)
        finally:
            stop(server)
        crashes = server_errors(workdir / "server.log")
        if crashes:
            tail = (workdir / "server.log").read_text(errors="replace")[-20_000:]
            sys.stderr.write(f"{tail}\nthe server logged {len(crashes)} errors\n")
            return 1
        return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
