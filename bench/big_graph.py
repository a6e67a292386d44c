"""Big graphs: create, clone and snapshot a long workflow while ``/health`` is polled.

    python -m bench.big_graph                 # 2,000 and 10,000 nodes
    python -m bench.big_graph --nodes 10000

A real ``threadline serve`` (SQLite in a temporary folder, a free port); a second
client polls ``/health`` every 20 ms during each request, so its slowest answer is
how long the server's event loop was blocked for everyone. The limits are raised to
fit the graph; the default ``THREADLINE_MAX_GRAPH_NODES`` is 2,000. See
docs/benchmarks.md, "Big graphs".
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

KEY = "tl_bench_big_graph_key"


def chain(nodes: int) -> dict[str, Any]:
    """``nodes`` static nodes in a line, each with a placeholder to check."""
    return {
        "name": "big",
        "workflow_config": {},
        "node_configs": [
            {
                "type": "say_static",
                "logical_id": f"node_{i}",
                "name": f"n{i}",
                "is_start": i == 0,
                "static_messages_config": {"static_messages": [f"Hi {i} {{{{who}}}}"]},
            }
            for i in range(nodes)
        ],
        "edge_configs": [
            {
                "logical_id": f"edge_{i}",
                "source_node_logical_id": f"node_{i}",
                "destination_node_logical_id": f"node_{i + 1}",
            }
            for i in range(nodes - 1)
        ],
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve(folder: str, port: int, nodes: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "THREADLINE_DATABASE_URL": f"sqlite+aiosqlite:///{folder}/big.db",
        "THREADLINE_BOOTSTRAP_API_KEY": KEY,
        "THREADLINE_MAX_BODY_BYTES": "100000000",
        "THREADLINE_MAX_GRAPH_NODES": str(max(nodes, 2_000)),
        "THREADLINE_MAX_GRAPH_EDGES": str(max(nodes, 10_000)),
        "THREADLINE_LOG_LEVEL": "warning",
    }
    command = [str(Path(sys.executable).parent / "threadline"), "serve"]
    return subprocess.Popen(
        [*command, "--port", str(port)], env=env, stderr=subprocess.DEVNULL
    )


def _wait(base: str) -> None:
    for _ in range(300):
        try:
            httpx.get(f"{base}/health", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("threadline serve did not start")


def _timed(base: str, method: str, path: str, body: Any) -> tuple[float, float]:
    """(seconds for the request, slowest /health answer meanwhile)."""
    payload = json.dumps(body).encode()
    worst = 0.0
    done = threading.Event()

    def poll() -> None:
        nonlocal worst
        with httpx.Client(base_url=base, timeout=60) as client:
            while not done.is_set():
                start = time.perf_counter()
                client.get("/health").raise_for_status()
                worst = max(worst, time.perf_counter() - start)
                time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    start = time.perf_counter()
    with httpx.Client(base_url=base, timeout=600, headers=headers) as client:
        response = client.request(method, path, content=payload)
    took = time.perf_counter() - start
    done.set()
    poller.join()
    response.raise_for_status()
    return took, worst


def run(nodes: int) -> dict[str, tuple[float, float]]:
    """Time create, clone and a new version of a ``nodes``-node chain."""
    folder = tempfile.mkdtemp(prefix="threadline-big-")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(folder, port, nodes)
    try:
        _wait(base)
        _timed(base, "POST", "/v1/workflows", chain(3))  # warm up
        results = {"create": _timed(base, "POST", "/v1/workflows", chain(nodes))}
        headers = {"Authorization": f"Bearer {KEY}"}
        listed = httpx.get(f"{base}/v1/workflows", headers=headers).json()
        wid = listed["workflows"][0]["_id"]
        results["clone"] = _timed(base, "POST", f"/v1/workflows/{wid}/clone", {})
        results["new version"] = _timed(
            base, "POST", f"/v1/workflows/{wid}/versions", {}
        )
        return results
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, action="append")
    args = parser.parse_args()
    for nodes in args.nodes or [2_000, 10_000]:
        for what, (took, worst) in run(nodes).items():
            print(  # noqa: T201  # a command-line report
                f"{nodes:>6} nodes  {what:<12} {took:6.2f} s   "
                f"slowest /health meanwhile {worst * 1000:7.0f} ms"
            )


if __name__ == "__main__":
    main()
