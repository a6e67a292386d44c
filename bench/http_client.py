"""Load generator for the HTTP scenario: a separate process hitting ``execute``.

    python -m bench.http_client --base http://127.0.0.1:PORT --key KEY \
        --workflow WID --connections 16 --seconds 5

``--connections`` clients, each an ``httpx.AsyncClient`` limited to one
keep-alive connection, each driving one conversation at a time over
``POST /v1/workflows/{id}/execute`` (``{run_input}`` to start, then
``{run_id, run_input}`` per user turn, a new conversation every
``--turns`` user turns) until ``--seconds`` have passed. Every request is timed;
the first conversation start of each client is a warm-up and is not counted.
Prints JSON: requests per second, latency summary (µs), errors.

``--get-run RUN_ID`` instead reads that run (``GET /v1/workflow-runs/{id}``) over
and over on each connection: the request path's floor (authentication, routing,
one read, one encoding) without a turn.
"""

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import httpx

from bench.common import Stats
from bench.compare_threadline import user_turn
from bench.workloads import START

JsonDict = dict[str, Any]


def one_connection(base: str, key: str) -> httpx.AsyncClient:
    """A client of one keep-alive connection, authenticated with ``key``."""
    return httpx.AsyncClient(
        base_url=base,
        headers={"Authorization": f"Bearer {key}"},
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        timeout=60.0,
    )


async def client_loop(
    base: str,
    key: str,
    wid: str,
    turns: int,
    deadline: float,
    latencies: list[float],
    errors: list[str],
    answered: list[int],
) -> None:
    url = f"/v1/workflows/{wid}/execute"
    async with one_connection(base, key) as client:

        async def post(body: JsonDict, counted: bool) -> JsonDict | None:
            began = time.perf_counter_ns()
            response = await client.post(url, json=body)
            elapsed = (time.perf_counter_ns() - began) / 1000
            answered[0] += 1
            if response.status_code != 200:
                errors.append(f"{response.status_code} {response.text[:200]}")
                return None
            if counted:
                latencies.append(elapsed)
            result: JsonDict = response.json()
            return result

        counted = False
        while time.perf_counter() < deadline:
            first = await post({"run_input": START}, counted)
            counted = True
            if first is None:
                continue
            run_id = first["run_id"]
            for i in range(turns):
                if time.perf_counter() >= deadline:
                    break
                said = await post({"run_id": run_id, "run_input": user_turn(i)}, True)
                if said is None or not said["is_waiting_for_input"]:
                    errors.append(f"turn {i}: {said and said.get('status')}")
                    break


async def get_loop(
    base: str,
    key: str,
    run_id: str,
    deadline: float,
    latencies: list[float],
    errors: list[str],
    answered: list[int],
) -> None:
    url = f"/v1/workflow-runs/{run_id}"
    async with one_connection(base, key) as client:
        counted = False
        while time.perf_counter() < deadline:
            began = time.perf_counter_ns()
            response = await client.get(url)
            elapsed = (time.perf_counter_ns() - began) / 1000
            answered[0] += 1
            if response.status_code != 200:
                errors.append(f"{response.status_code} {response.text[:200]}")
            elif counted:
                latencies.append(elapsed)
            counted = True


async def load(args: argparse.Namespace) -> JsonDict:
    latencies: list[float] = []
    errors: list[str] = []
    answered = [0]
    began = time.perf_counter()
    deadline = began + args.seconds
    if args.get_run:
        loops = [
            get_loop(
                args.base, args.key, args.get_run, deadline, latencies, errors, answered
            )
            for _ in range(args.connections)
        ]
        await asyncio.gather(*loops)
    else:
        await asyncio.gather(
            *(
                client_loop(
                    args.base,
                    args.key,
                    args.workflow,
                    args.turns,
                    deadline,
                    latencies,
                    errors,
                    answered,
                )
                for _ in range(args.connections)
            )
        )
    wall = time.perf_counter() - began
    return {
        "connections": args.connections,
        "seconds": round(wall, 2),
        "requests": len(latencies),
        "requests_all": answered[0],
        "requests_per_s": round(len(latencies) / wall, 1),
        "latency_us": Stats.of(latencies).to_json() if latencies else None,
        "errors": len(errors),
        "first_errors": errors[:3],
        "turns_per_conversation": args.turns,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.http_client")
    parser.add_argument("--base", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--workflow", required=True)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--get-run", default="", help="read this run instead")
    args = parser.parse_args(argv)
    sys.stdout.write(json.dumps(asyncio.run(load(args))) + "\n")


if __name__ == "__main__":
    main()
