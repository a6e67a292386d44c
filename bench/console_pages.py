"""Scenario: every console page with 1,000 runs stored (target: under 300 ms).

A SQLite file with one workflow and 1,000 runs of it (each a real
``run_one_turn``), the app in process (httpx over ASGI), a signed-in session; each
page is fetched ``SAMPLES`` times per round after a short warm-up. The case's
``extra`` says whether its p99 is under the target.
"""

import statistics
import time
from typing import Any

import httpx

from bench.common import Case, Options, make_case
from bench.service_sqlite import (
    bench_caller,
    bench_runtime,
    create_workflow,
    open_bench_store,
    remove_db,
)
from bench.workloads import START, linear_no_op
from threadline.api.app import create_app
from threadline.service.running.runs import run_one_turn
from threadline.service.team import auth
from threadline.service.turns import TurnRequest
from threadline.settings import Settings

NAME = "console"
TITLE = "Console pages, 1,000 runs stored (SQLite, in process)"
RUNS = 1000
TARGET_MS = 300.0
SAMPLES = 10


async def _fill(store: Any, caller: Any, runtime: Any, wid: str, count: int) -> str:
    last = ""
    for _ in range(count):
        doc, _ = await run_one_turn(
            store,
            caller,
            runtime,
            TurnRequest(workflow_id=wid, raw_input=START, field="run_input"),
        )
        last = doc.id
    return last


async def _time(client: httpx.AsyncClient, path: str, opts: Options) -> Any:
    for _ in range(2 if opts.quick else 5):
        response = await client.get(path)
        if response.status_code != 200:
            raise AssertionError(f"{path}: {response.status_code}")
    samples: list[float] = []
    medians: list[float] = []
    for _ in range(opts.rounds):
        batch = []
        for _ in range(3 if opts.quick else SAMPLES):
            start = time.perf_counter_ns()
            await client.get(path)
            batch.append((time.perf_counter_ns() - start) / 1000)
        samples += batch
        medians.append(statistics.median(batch))
    return samples, medians


async def run(opts: Options) -> list[Case]:
    path = opts.work_dir / "console.db"
    store = await open_bench_store(path)
    caller, runtime = bench_caller(), bench_runtime()
    settings = Settings(database_url=f"sqlite+aiosqlite:///{path}")
    try:
        wid = await create_workflow(store, caller, linear_no_op(10))
        run_id = await _fill(store, caller, runtime, wid, 50 if opts.quick else RUNS)
        key = await auth.create_key(store, caller.team_id, caller.user_id)
        app = create_app(settings, store=store, runtime=runtime)
        transport = httpx.ASGITransport(app=app)
        pages = {
            "workflows": "/ui/workflows",
            "workflow": f"/ui/workflows/{wid}",
            "playground": f"/ui/workflows/{wid}/play",
            "runs": "/ui/runs",
            "runs of a workflow, completed": (
                f"/ui/runs?workflow_id={wid}&status=completed"
            ),
            "runs, not evaluated (scan)": "/ui/runs?evaluation=not_evaluated",
            "run": f"/ui/runs/{run_id}",
            "run status (poll)": f"/ui/runs/{run_id}/status?shown=completed&turns=1",
            "re-run preflight": f"/ui/runs/{run_id}/turns/0/rerun",
            "team": "/ui/team",
        }
        cases = []
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench"
        ) as client:
            signed = await client.post("/ui/login", data={"api_key": key.secret})
            if signed.status_code != 303:
                raise AssertionError(f"sign-in: {signed.status_code}")
            for name, page in pages.items():
                measured = await _time(client, page, opts)
                case = make_case(NAME, name, 1, measured, target_ms=TARGET_MS)
                case.extra["under_target"] = case.per_turn.p99 / 1000 < TARGET_MS
                cases.append(case)
        return cases
    finally:
        await store.close()
        remove_db(path)
