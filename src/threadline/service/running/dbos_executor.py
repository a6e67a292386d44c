"""The optional DBOS Transact executor of turns (``THREADLINE_EXECUTOR=dbos``).

The default executor is our own step journal (``service.running.turn_journal``). With
this one, each command's turn is a DBOS workflow whose id is the command id (starting it
twice starts it once) and each node execution is a DBOS step whose result (the JSON
of ``engine.steps.result_to_json``) DBOS checkpoints in its system database. A turn
resumed after a crash replays its finished steps from those checkpoints (no second
LLM call, HTTP request or SMS) and executes only the rest. Ownership of the command
row still fences every later side effect (``turn_journal.flush``).

DBOS is a process singleton: ``install`` configures it for the process's runtime,
``start`` (called by ``service.processes.start`` on the app's event loop, so DBOS
runs recovered workflows on that loop) launches it, and ``shutdown`` destroys it.
The store and runtime its workflows use are kept in a module-level registry.

DBOS's executor id is the runtime's ``worker_id``. A dead worker's turns are resumed
by ``dbos_recovery``.
"""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dbos import DBOS, DBOSConfig, SetWorkflowID
from sqlalchemy.engine import make_url

from threadline import __version__
from threadline.engine.steps import (
    NodeResult,
    NodeTask,
    result_from_json,
    result_to_json,
)
from threadline.nodes.base import Ports
from threadline.nodes.registry import PURE_TYPES
from threadline.service.definitions import workflows as wf
from threadline.service.running import node_execution, runs, turn_driver
from threadline.service.runtime import Runtime
from threadline.settings import Settings
from threadline.store import Command, Store

JsonDict = dict[str, Any]
log = logging.getLogger("threadline.dbos")
WORKFLOW_NAME = "threadline.turn"
STEP_NAME = "threadline.node"


@dataclass
class _Process:
    """What this process's DBOS workflows run with."""

    store: Store | None = None
    runtime: Runtime | None = None
    launched: bool = False
    prepared: dict[str, turn_driver.Prepared] = field(default_factory=dict)
    """What accepting a command already read, until its workflow starts."""


_process = _Process()


# --- configuration --------------------------------------------------------------------


def system_database_url(settings: Settings) -> str:
    """DBOS's system database: the setting, else a SQLite file next to a SQLite
    main database, else the main PostgreSQL database (DBOS uses its own schema)."""
    if settings.dbos_system_database_url:
        return settings.dbos_system_database_url
    url = make_url(settings.database_url)
    if not url.drivername.startswith("sqlite"):
        return settings.database_url
    database = url.database
    if not database or database == ":memory:":
        return "sqlite:///threadline-dbos.sqlite"
    path = Path(database)
    name = f"{path.stem}-dbos{path.suffix or '.db'}"
    return f"sqlite:///{path.with_name(name)}"


def configure(url: str, executor_id: str, *, log_level: str = "WARNING") -> None:
    """Create the process's DBOS instance (not launched yet)."""
    config: DBOSConfig = {
        "name": "threadline",
        "system_database_url": url,
        "executor_id": executor_id,
        # Recovery matches workflows by application version: pin it to ours, so a
        # process recovers the turns of any process of the same release.
        "application_version": __version__,
        "log_level": log_level.upper(),
    }
    DBOS(config=config)


def bind(store: Store | None, runtime: Runtime) -> None:
    """Make ``runtime`` (and ``store``) the ones this process's workflows use, and
    route its turns through DBOS."""
    if store is not None:
        _process.store = store
    _process.runtime = runtime
    runtime.step_runner = run_step
    runtime.launcher = launch_turn


def install(runtime: Runtime, settings: Settings) -> None:
    """Configure DBOS for this process (executor id: the runtime's ``worker_id``)
    and route the runtime's turns through it; ``start`` launches it."""
    configure(system_database_url(settings), runtime.worker_id, log_level="WARNING")
    bind(None, runtime)


def start(store: Store, runtime: Runtime) -> None:
    """Launch DBOS on the running event loop (its recovered workflows run there).

    DBOS resumes at once the pending workflows of its own executor id (a restarted
    process with a fixed ``THREADLINE_WORKER_ID``)."""
    bind(store, runtime)
    if not _process.launched:
        DBOS.launch()
        _process.launched = True
        log.info("DBOS launched: executor %s", DBOS.executor_id)


async def shutdown(runtime: Runtime) -> None:
    """Destroy the process's DBOS instance if it serves ``runtime`` (unfinished
    turns stay pending in DBOS and are recovered by another process)."""
    if _process.runtime is runtime:
        await stop()


async def stop() -> None:
    """Destroy the process's DBOS instance and forget its store and runtime.

    DBOS makes its thread pool the event loop's default executor and shuts it down
    when destroyed: the loop gets a fresh one back."""
    _process.launched = False
    _process.store = None
    _process.runtime = None
    _process.prepared.clear()
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1) as own:
        await loop.run_in_executor(own, DBOS.destroy)
    loop.set_default_executor(ThreadPoolExecutor())


def bound() -> Runtime | None:
    """The runtime this process's DBOS workflows run with (None: not started)."""
    return _process.runtime if _process.launched else None


def _bound() -> tuple[Store, Runtime]:
    if _process.store is None or _process.runtime is None:
        raise RuntimeError("the DBOS executor is not started in this process")
    return _process.store, _process.runtime


# --- steps and turns ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Node:
    """A step's input. DBOS logs a cancelled step with its arguments: this repr
    keeps prompts, history and the team's secrets out of the logs."""

    task: NodeTask
    ports: Ports
    runtime: Runtime

    def __repr__(self) -> str:
        return f"<node {self.task.node.get('logical_id')!r}>"


@DBOS.step(name=STEP_NAME)
async def node_step(node: _Node) -> JsonDict:
    """One node execution, checkpointed by DBOS as JSON."""
    result = await node_execution.execute_node(node.task, node.ports, node.runtime)
    return result_to_json(result)


async def run_step(task: NodeTask, ports: Ports, runtime: Runtime) -> NodeResult:
    """``Runtime.step_runner``: a node as a DBOS step of the current turn.

    Pure nodes (no I/O) are not checkpointed: a resumed turn runs them again and
    they give the same result (the engine is deterministic)."""
    if task.purpose == "node" and task.node.get("type") in PURE_TYPES:
        return await node_execution.execute_node(task, ports, runtime)
    return result_from_json(await node_step(_Node(task, ports, runtime)))


async def _own(store: Store, runtime: Runtime, command_id: str) -> Command | None:
    """The command, running and owned by this worker, or None if its turn is over.

    DBOS admits one runner per workflow, so a recovered turn dequeued here takes
    the command over from whichever worker holds it (again if a recovery pass
    took it meanwhile)."""
    for _ in range(10):
        async with store.begin() as tx:
            command = await tx.commands().get(command_id)
            if command is None or command.status != "running":
                return None
            if command.worker_id == runtime.worker_id:
                return command
            taken = await tx.commands().update(
                command.id,
                at=wf.now(),
                expected_worker=command.worker_id,
                worker_id=runtime.worker_id,
            )
        if taken:
            log.info(
                "command %s (run %s) taken over from worker %s by its workflow",
                command.id,
                command.run_id,
                command.worker_id,
            )
            return replace(command, worker_id=runtime.worker_id)
    raise RuntimeError(f"command {command_id} kept changing hands")


async def _drive_one(
    store: Store,
    runtime: Runtime,
    command: Command,
    first: turn_driver.Prepared | None,
) -> Command | None:
    """``turn_driver.drive`` for one command: the run's next command, if any, gets
    a workflow of its own instead of running inside this one."""
    run_id = command.run_id
    task = asyncio.current_task()
    if task is not None:
        runtime.drivers[run_id] = task
        runtime.background.add(task)  # drained on shutdown like our own turns
        task.add_done_callback(runtime.background.discard)
    try:
        # ``resume`` when nothing was prepared: a turn begun by the journal
        # executor (a mixed deployment) replays its journal first.
        return await turn_driver.drive_one(
            store,
            runtime,
            command,
            runs.run_one_turn,
            resume=first is None,
            first=first,
        )
    finally:
        if runtime.drivers.get(run_id) is task:
            runtime.drivers.pop(run_id, None)


@DBOS.workflow(name=WORKFLOW_NAME)
async def turn_workflow(command_id: str) -> str:
    """The turn of one command (workflow id: the command id)."""
    store, runtime = _bound()
    first = _process.prepared.pop(command_id, None)
    command = await _own(store, runtime, command_id)
    if command is None:
        return "finished"
    following = await _drive_one(store, runtime, command, first)
    if following is not None:
        await start_turn(following.id)  # a child workflow, started once
    return "done"


async def start_turn(command_id: str) -> None:
    """Start the turn's workflow (a no-op if it exists)."""
    with SetWorkflowID(command_id):
        await DBOS.start_workflow_async(turn_workflow, command_id)


async def launch_turn(
    store: Store,
    runtime: Runtime,
    command: Command,
    first: turn_driver.Prepared | None,
) -> None:
    """``Runtime.launcher``: start an accepted command's turn as a workflow
    (launching DBOS first in a process that did not, e.g. ``threadline chat``)."""
    if not _process.launched:
        start(store, runtime)
    if first is not None:
        _process.prepared[command.id] = first
    try:
        await start_turn(command.id)
    except BaseException:
        _process.prepared.pop(command.id, None)
        raise
