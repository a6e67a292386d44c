"""Scenario: the execute endpoint under load from a second process.

Starts ``threadline fake-llm`` (no latency) and ``threadline serve`` as
subprocesses on free loopback ports (a temporary SQLite file,
``THREADLINE_BOOTSTRAP_API_KEY``, ``THREADLINE_LLM_OVERRIDE_URL`` pointing at the
fake model, log level ``warning`` so access logs are not measured), creates the
support chat (``bench.compare_threadline.support_chat``: 2 model calls a turn)
over HTTP, then runs ``bench.http_client`` in another process for each number of
connections (1, 16, 64), one conversation at a time per connection. Then the
issue-15 row: the one-call chat (``bench.workloads.conversation``: greeting, then a
``say_llm`` answering each user turn, one model call a turn) over 100 keep-alive
connections, conversations of 10 user turns. Reports requests (turns) per second
and p50/p99 per request, client-side, and the ``serve`` process's CPU time per
request (``utime + stime`` of ``/proc/<pid>/stat``, every thread of the process,
over the load phase, divided by every request it answered in that phase, the
clients' uncounted first starts included).

Everything runs on this machine: the server, the fake model and the load generator
share its cores, so the figures are a floor of what the service does alone.
"""

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import Case, Options, Stats
from bench.compare_threadline import support_chat, user_turn
from bench.sqlite_probe import remove_db
from bench.workloads import START, conversation

JsonDict = dict[str, Any]
NAME = "http"
TITLE = "HTTP execute endpoint under load (separate load process, SQLite)"
CONNECTIONS = (1, 16, 64)
CHAT_CONNECTIONS = 100
"""The issue-15 row: one-call chat, 100 keep-alive connections, 10-turn chats."""
CHAT_SECONDS = 20.0
"""Long enough for 100 conversations to get past their (uncounted) first start."""
THREADLINE = Path(sys.executable).parent / "threadline"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited ({process.returncode})")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cpu_split(pid: int) -> tuple[float, float]:
    """``utime`` and ``stime`` of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3): utime and stime are fields 14 and 15.
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_seconds(pid: int) -> float:
    """``utime + stime`` of a process (all its threads), in seconds."""
    return sum(cpu_split(pid))


def load_row(
    base: str, key: str, wid: str, connections: int, seconds: float, pid: int
) -> JsonDict:
    """One run of the load client; adds the server's CPU per request."""
    argv = [
        sys.executable,
        "-m",
        "bench.http_client",
        "--base",
        base,
        "--key",
        key,
        "--workflow",
        wid,
        "--connections",
        str(connections),
        "--seconds",
        str(seconds),
    ]
    user, system = cpu_split(pid)
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    user_after, system_after = cpu_split(pid)
    spent = user_after - user + system_after - system
    row: JsonDict = json.loads(done.stdout)
    answered = row.get("requests_all") or row["requests"]
    row["server_cpu_s"] = round(spent, 3)
    row["server_system_cpu_s"] = round(system_after - system, 3)
    # Each request is one turn (a start or a user turn): this is the row's
    # "serve CPU a turn".
    row["server_cpu_ms_per_request"] = (
        round(1000 * spent / answered, 3) if answered else None
    )
    return row


def create(base: str, key: str, body: JsonDict) -> str:
    created = httpx.post(
        f"{base}/v1/workflows",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    created.raise_for_status()
    return str(created.json()["workflow"]["_id"])


def warm_up(base: str, key: str, wid: str) -> None:
    """One short conversation first: the server's first model call imports the
    provider client and opens its connection pool (seconds), not measured."""
    headers = {"Authorization": f"Bearer {key}"}
    url = f"{base}/v1/workflows/{wid}/execute"
    with httpx.Client(headers=headers, timeout=60) as client:
        for _ in range(2):
            first = client.post(url, json={"run_input": START})
            first.raise_for_status()
            for i in range(3):
                body = {"run_id": first.json()["run_id"], "run_input": user_turn(i)}
                client.post(url, json=body).raise_for_status()


def start_pair(
    db: Path, env: dict[str, str], server_stderr: int
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes], int, str, str]:
    """Start ``threadline fake-llm`` and ``threadline serve`` on the SQLite file ``db``,
    with ``env`` as the base environment: (fake, server, fake's port, base URL, key)."""
    fake_port, port = free_port(), free_port()
    key = "tl_bench_" + secrets.token_hex(16)
    quiet = subprocess.DEVNULL
    fake = subprocess.Popen(
        [str(THREADLINE), "fake-llm", "--port", str(fake_port)],
        stdout=quiet,
        stderr=quiet,
    )
    server_env = {
        **env,
        "THREADLINE_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "THREADLINE_BOOTSTRAP_API_KEY": key,
        "THREADLINE_LLM_OVERRIDE_URL": f"http://127.0.0.1:{fake_port}/v1",
        "THREADLINE_LLM_OVERRIDE_MODEL": "fake-model",
        "THREADLINE_LOG_LEVEL": "warning",
    }
    server = subprocess.Popen(
        [str(THREADLINE), "serve", "--port", str(port)],
        env=server_env,
        stdout=quiet,
        stderr=server_stderr,
    )
    return fake, server, fake_port, f"http://127.0.0.1:{port}", key


def measure(opts: Options) -> list[Case]:
    work = opts.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    db = work / f"http-{os.getpid()}.db"
    remove_db(db)
    fake, server, fake_port, base, key = start_pair(
        db, dict(os.environ), subprocess.PIPE
    )
    cases: list[Case] = []
    try:
        wait_until_up(f"http://127.0.0.1:{fake_port}/v1/models", fake, 20)
        wait_until_up(f"{base}/health", server, 30)
        wid = create(base, key, support_chat())
        warm_up(base, key, wid)
        seconds = 1.5 if opts.quick else 6.0
        runs: list[tuple[str, str, int, float]] = [
            ("support chat", wid, n, seconds)
            for n in ((1, 4) if opts.quick else CONNECTIONS)
        ]
        chat = create(base, key, conversation())
        warm_up(base, key, chat)
        chat_seconds = 6.0 if opts.quick else CHAT_SECONDS
        runs.append(("one-call chat", chat, CHAT_CONNECTIONS, chat_seconds))
        for workflow, wid_, connections, budget in runs:
            row = load_row(base, key, wid_, connections, budget, server.pid)
            if row["errors"]:
                sys.stderr.write(f"http x{connections}: {row['first_errors']}\n")
            lat = row["latency_us"]
            if lat is None:
                raise RuntimeError(f"http x{connections}: no answer: {row}")
            stats = Stats(
                lat["n"], lat["mean"], lat["p50"], lat["p99"], lat["min"], lat["max"]
            )
            row["store"] = "sqlite"
            row["workflow"] = workflow
            row["model_calls_per_turn"] = 2 if workflow == "support chat" else 1
            row["model"] = "threadline fake-llm subprocess, 0 ms"
            name = f"{workflow}, {connections} connections"
            cases.append(Case(NAME, name, 1, stats, [], row))
    finally:
        stop(server)
        stop(fake)
        remove_db(db)
    return cases


async def run(opts: Options) -> list[Case]:
    import asyncio

    return await asyncio.to_thread(measure, opts)


def table(title: str, cases: list[Case]) -> None:
    from bench.report import say

    say(f"\n== {title}")
    head = (
        f"{'workflow':<14} {'connections':>11} {'requests':>9} {'req/s':>8} "
        f"{'p50':>9} {'p99':>9} {'errors':>7} {'serve cpu/turn':>15}"
    )
    say(head)
    say("-" * len(head))
    for c in cases:
        r = c.extra
        cpu = r.get("server_cpu_ms_per_request")
        say(
            f"{r.get('workflow', ''):<14} {r['connections']:>11} {r['requests']:>9} "
            f"{r['requests_per_s']:>8.1f} "
            f"{c.per_turn.p50 / 1000:>6.1f} ms {c.per_turn.p99 / 1000:>6.1f} ms "
            f"{r['errors']:>7} {'-' if cpu is None else f'{cpu:.2f} ms':>15}"
        )
