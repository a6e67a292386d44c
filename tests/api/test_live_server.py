"""``threadline serve`` itself, over a real socket: HTTP and the WebSocket stream work
with uvicorn's C parser and uvloop (the default when installed) and with the pure-
Python fallbacks (``--http h11 --loop asyncio``)."""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.factories import static_node

KEY = "tl_live_server_key_0123456789"
BIN = Path(sys.executable).parent
START = {"command": "start", "thread_to_node_inputs": {"0": {"node_run_inputs": []}}}
WORKFLOW = {
    "name": "Hello",
    "node_configs": [static_node("node_say", "Hello over the wire", is_start=True)],
    "edge_configs": [],
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(params=[(), ("--http", "h11", "--loop", "asyncio")], ids=["c", "py"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "THREADLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'live.db'}",
        "THREADLINE_BOOTSTRAP_API_KEY": KEY,
        "THREADLINE_LOG_LEVEL": "warning",
    }
    env.pop("THREADLINE_SECRET_KEY", None)
    command = [str(BIN / "threadline"), "serve", "--port", str(port), *request.param]
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                httpx.get(f"{base}/health", timeout=2).raise_for_status()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_http_and_the_websocket_stream_work_on_a_real_server(server: str):
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=server, headers=headers, timeout=30) as client:
        made = client.post("/v1/workflows", json=WORKFLOW)
        assert made.status_code == 200, made.text
        wid = made.json()["workflow"]["_id"]
        executed = client.post(
            f"/v1/workflows/{wid}/execute", json={"run_input": START}
        )
        assert executed.status_code == 200, executed.text
        assert executed.headers["content-type"] == "application/json"
        said = [e.get("content") for e in executed.json()["events"]]
        assert "Hello over the wire" in said
        assert client.get("/v1/workflows/not-an-id").status_code == 422

    url = server.replace("http://", "ws://") + "/v1/workflow-runs/ws"
    frames: list[dict[str, Any]] = []
    with connect(url, additional_headers=headers, open_timeout=30) as ws:
        ws.send(json.dumps({**START, "workflow_id": wid}))
        while not frames or frames[-1]["type"] not in (
            "end_workflow",
            "workflow_error",
        ):
            frames.append(json.loads(ws.recv(timeout=30)))
    assert frames[-1]["type"] == "end_workflow"
    assert "Hello over the wire" in [f.get("content") for f in frames]
