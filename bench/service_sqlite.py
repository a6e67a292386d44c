"""Scenario 3: the full service path on SQLite, one new run per measured turn.

``service.running.runs.run_one_turn`` validates the input, creates the run (loading the
workflow, its version and its nodes and edges, snapshotting the hydrated config),
claims it, drives the engine with the real executors and persists the run record
and state: several transactions on a SQLite file (WAL, synchronous=NORMAL).
"""

import random
from pathlib import Path

from bench.common import Case, Options, make_case, measure_async
from bench.workloads import LINEAR_SIZES, START, InstantLLM, JsonDict, linear_no_op
from threadline.ids import new_object_id
from threadline.service.caller import Caller
from threadline.service.definitions import workflows
from threadline.service.running.runs import run_one_turn
from threadline.service.runtime import Runtime
from threadline.service.turns import TurnRequest
from threadline.store import Store, open_store

NAME = "service"
TITLE = "Full service path, SQLite file (run_one_turn, new run per turn)"


def remove_db(path: Path) -> None:
    """Delete a SQLite file with its WAL and shared-memory files."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def open_bench_store(path: Path) -> Store:
    """A fresh, migrated SQLite store at ``path`` (under the git-ignored tmp dir)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_db(path)
    store = open_store(f"sqlite+aiosqlite:///{path}")
    await store.migrate()
    return store


def bench_caller() -> Caller:
    return Caller(team_id=new_object_id(), user_id="bench")


def bench_runtime() -> Runtime:
    return Runtime(llm=InstantLLM(), rng=random.Random(0))


async def create_workflow(store: Store, caller: Caller, body: JsonDict) -> str:
    created = await workflows.create(store, caller, body)
    return str(created["_id"])


async def waiting_turn(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    *,
    workflow_id: str,
    run_id: str | None,
    raw: JsonDict,
) -> str:
    """One turn through ``run_one_turn`` (a new run when ``run_id`` is None) that
    must end waiting for the user; the run's id."""
    doc, outcome = await run_one_turn(
        store,
        caller,
        runtime,
        TurnRequest(
            workflow_id=workflow_id, run_id=run_id, raw_input=raw, field="run_input"
        ),
    )
    if outcome.status != "waiting_for_user_input":
        raise AssertionError(f"turn ended {outcome.status} {outcome.error}")
    return str(doc.id)


async def run(opts: Options) -> list[Case]:
    path = opts.work_dir / "service.db"
    store = await open_bench_store(path)
    caller, runtime = bench_caller(), bench_runtime()
    cases = []
    try:
        for size in LINEAR_SIZES:
            wid = await create_workflow(store, caller, linear_no_op(size))

            async def body(wid: str = wid) -> None:
                _, outcome = await run_one_turn(
                    store,
                    caller,
                    runtime,
                    TurnRequest(workflow_id=wid, raw_input=START, field="run_input"),
                )
                if outcome.status != "completed":
                    raise AssertionError(f"run ended {outcome.status}")

            measured = await measure_async(body, opts)
            cases.append(make_case(NAME, f"linear no_op x{size}", size, measured))
    finally:
        await store.close()
        remove_db(path)
    return cases
