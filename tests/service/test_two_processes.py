"""Both concurrency levels hold when two processes start runs at the same moment."""

import asyncio
import json
import sys
from pathlib import Path

from tests.factories import hydrated_workflow
from threadline.errors import TooManyRequests
from threadline.ids import new_object_id
from threadline.providers.fake import ScriptedLLM
from threadline.service.caller import Caller
from threadline.service.definitions import workflows
from threadline.service.running.runs import run_one_turn
from threadline.service.runtime import Runtime
from threadline.service.turns import TurnRequest
from threadline.store import Store

START = {"command": "start", "thread_to_node_inputs": {"0": {"node_run_inputs": []}}}
STARTS = 8

# The other process: wait for the go file, start STARTS runs at once, print the
# number of starts that were admitted.
CHILD = """
import asyncio, json, os, sys, time
from threadline.errors import TooManyRequests
from threadline.providers.fake import ScriptedLLM
from threadline.service.caller import Caller
from threadline.service.running.runs import run_one_turn
from threadline.service.runtime import Runtime
from threadline.service.turns import TurnRequest
from threadline.store import open_store

url, team, wids, go, team_limit = sys.argv[1:6]

async def main():
    store = open_store(url)
    runtime = Runtime(llm=ScriptedLLM(), team_max_concurrent_runs=int(team_limit) or None)
    caller = Caller(team, "child")
    ids = json.loads(wids)
    async def one(i):
        try:
            request = TurnRequest(ids[i % len(ids)], START, field="run_input")
            await run_one_turn(store, caller, runtime, request)
            return 1
        except TooManyRequests:
            return 0
    while not os.path.exists(go):
        time.sleep(0.005)
    done = await asyncio.gather(*(one(i) for i in range(STARTS)))
    await runtime.drain()
    await store.close()
    print(sum(done))

START = {"command": "start", "thread_to_node_inputs": {"0": {"node_run_inputs": []}}}
STARTS = STARTS_N
asyncio.run(main())
""".replace("STARTS_N", str(STARTS))


async def _race(
    store: Store,
    database_url: str,
    tmp_path: Path,
    caller: Caller,
    wids: list[str],
    team_limit: int | None,
) -> int:
    """Start ``STARTS`` runs here and ``STARTS`` in another process at once."""
    go = tmp_path / f"go-{new_object_id()}"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        database_url,
        caller.team_id,
        json.dumps(wids),
        str(go),
        str(team_limit or 0),
        stdout=asyncio.subprocess.PIPE,
    )
    runtime = Runtime(llm=ScriptedLLM(), team_max_concurrent_runs=team_limit)

    async def one(i: int) -> int:
        try:
            request = TurnRequest(wids[i % len(wids)], START, field="run_input")
            await run_one_turn(store, caller, runtime, request)
            return 1
        except TooManyRequests:
            return 0

    await asyncio.sleep(1.0)  # let the child import and wait for the go file
    go.write_text("go")
    mine = sum(await asyncio.gather(*(one(i) for i in range(STARTS))))
    out, _ = await child.communicate()
    await runtime.drain()
    assert child.returncode == 0
    return mine + int(out.decode().strip().splitlines()[-1])


async def _active(store: Store, team_id: str) -> int:
    async with store.begin() as tx:
        return await tx.documents("workflow_runs").count(
            team_id, {}, statuses=("started", "running", "waiting_for_user_input")
        )


async def test_the_workflow_limit_holds_across_two_processes(
    store: Store, database_url: str, tmp_path: Path
):
    caller = Caller(new_object_id(), "parent")
    wid = str((await workflows.create(store, caller, hydrated_workflow()))["_id"])
    await workflows.set_concurrency(store, caller, wid, 3)
    admitted = await _race(store, database_url, tmp_path, caller, [wid], None)
    assert admitted == 3
    assert await _active(store, caller.team_id) == 3


async def test_the_team_limit_holds_across_two_processes(
    store: Store, database_url: str, tmp_path: Path
):
    caller = Caller(new_object_id(), "parent")
    wids = [
        str((await workflows.create(store, caller, hydrated_workflow()))["_id"])
        for _ in range(2)
    ]
    admitted = await _race(store, database_url, tmp_path, caller, wids, 5)
    assert admitted == 5
    assert await _active(store, caller.team_id) == 5
