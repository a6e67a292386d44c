"""Sandbox battery against a real server: attacks through ``POST /v1/tools/execute``
leave it responsive, and a graceful shutdown ends with tools in flight."""

import asyncio
import signal
import textwrap
from pathlib import Path
from typing import Any

import httpx

from tests.security.probes import RAW_OS
from tests.security.server import Server, serve

# Guards against hanging forever, not speed goals.
ANSWER_GUARD_S = 90
EXIT_GUARD_S = 90

FLOOD_FD_1 = """
def probe():
    raw_os()["write"](1, b"x" * 3_000_000)
    return "done"
"""
CPU_LOOP = """
def probe():
    while True:
        pass
"""
MEMORY_BOMB = """
def probe():
    blocks = []
    while True:
        blocks.append(bytearray(10**7))
"""
FORK_BOMB = """
def probe():
    os = raw_os()
    while True:
        os["fork"]()
"""
SLEEPER = """
import time

def probe():
    time.sleep(600)
"""


def tool(body: str, timeout_seconds: int = 2) -> dict[str, Any]:
    return {
        "type": "inline_python",
        "name": "probe",
        "code": RAW_OS + textwrap.dedent(body),
        "timeout_seconds": timeout_seconds,
    }


async def execute(client: httpx.AsyncClient, config: dict[str, Any]) -> Any:
    response = await client.post(
        "/v1/tools/execute", json={"tool_config": config, "confirm": True}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _healthy(server: Server, until: asyncio.Event) -> int:
    """Count /health answers until ``until`` is set."""
    answered = 0
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        while not until.is_set():
            response = await client.get("/health")
            assert response.status_code == 200
            answered += 1
            await asyncio.sleep(0.05)
    return answered


async def test_the_server_stays_responsive_while_tools_attack_it(tmp_path: Path):
    with serve(tmp_path) as server:
        attacks = {
            "flood": FLOOD_FD_1,
            "cpu": CPU_LOOP,
            "memory": MEMORY_BOMB,
            "fork": FORK_BOMB,
        }
        done = asyncio.Event()
        async with server.client() as client:
            health = asyncio.create_task(_healthy(server, done))
            results = await asyncio.wait_for(
                asyncio.gather(*(execute(client, tool(b)) for b in attacks.values())),
                ANSWER_GUARD_S,
            )
            done.set()
            answered = await health
        outcome = dict(zip(attacks, (r["error_type"] for r in results), strict=True))
        assert outcome == {
            "flood": "output_limit",
            "cpu": "timeout",
            "memory": "memory_limit",
            "fork": "forbidden",
        }
        assert answered > 0


async def test_sigterm_with_tools_in_flight_ends_the_server(tmp_path: Path):
    with serve(tmp_path, shutdown_grace_seconds="1", tool_max_seconds="600") as server:
        async with server.client() as client:
            calls = [
                asyncio.create_task(execute(client, tool(FLOOD_FD_1, 600))),
                asyncio.create_task(execute(client, tool(SLEEPER, 600))),
            ]
            await asyncio.sleep(1.5)  # both children are running
            server.terminate()
            code = await asyncio.to_thread(server.process.wait, EXIT_GUARD_S)
            await asyncio.gather(*calls, return_exceptions=True)
        # uvicorn ends a graceful shutdown by re-raising the signal it caught.
        assert code in (0, -signal.SIGTERM), server.log.read_text()
