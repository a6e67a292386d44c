"""Executing a run's commands one turn at a time, durably.

A turn runs in a task of the runtime, never in the request's own task: a client
that goes away does not cancel it. Each node result is journaled (``run_steps``)
before the next side effect starts, so a turn resumed after a crash
(``service.recovery``) replays its finished steps from the journal (no second LLM
call, HTTP request or SMS) and executes only the rest; the pure engine makes the
replay exact. When the turn ends, one transaction records it, forgets its journal
and takes the run's next queued command, which the same task then executes: the
commands of a run run one at a time, in arrival order.

Requests wait for their command through ``wait_for``: a future when the turn runs
in this process, the command's stored answer otherwise.
"""

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from threadline.engine.graph import compile_graph
from threadline.engine.inputs import InvalidInput, TurnEnv
from threadline.engine.state import RunState
from threadline.engine.steps import (
    NodeResult,
    NodeTask,
    result_from_json,
    result_to_json,
)
from threadline.engine.turn import TurnOutcome, run_turn
from threadline.engine.usage import latency_stats, token_usage
from threadline.errors import Conflict, InvalidField, ThreadlineError
from threadline.nodes.base import Ports
from threadline.nodes.registry import PURE_TYPES, executor_for
from threadline.service import commands as machine
from threadline.service import costs, evaluations, webhooks
from threadline.service import workflows as wf
from threadline.service.caller import Caller
from threadline.service.global_variables import TeamGlobals
from threadline.service.global_variables import for_run as team_globals
from threadline.service.runtime import Runtime, builtin_variables
from threadline.service.secrets import redact_turn
from threadline.store import Command, Document, Store, Transaction

JsonDict = dict[str, Any]
Sink = Callable[[JsonDict], Awaitable[None]]
PortsFactory = Callable[[Store, Caller, Runtime, Sink | None, tuple[str, ...]], Ports]
# The longest wait before a node runs (``time_between_retries`` is at most 300 s).
_MAX_INLINE_DELAY_S = 300.0
FINISHED = frozenset({"done", "interrupted", "failed"})
log = logging.getLogger("threadline.turns")


class Interrupted(Conflict):
    """A newer command interrupted this turn (multitask policy ``interrupt``)."""

    code = "turn_interrupted"


class Unavailable(Conflict):
    """The answer is not ready yet: retry later (409 with ``Retry-After``)."""

    code = "command_in_progress"
    retry_after = 2


@dataclass(frozen=True, slots=True)
class Prepared:
    """What the accepting transaction already read for a command's turn."""

    doc: Document
    team: TeamGlobals


class _Lost(Exception):
    """Another worker took the command over (this one was presumed dead)."""


class _Stop(Exception):
    """A pending command asked the running turn to stop."""


def turn_env(runtime: Runtime, turn: int) -> JsonDict:
    """The clock reading and built-ins a turn runs with, fixed when it starts so a
    resumed turn replays with the same values."""
    now = runtime.clock()
    builtins = builtin_variables(now, runtime.rng) if turn == 0 else {}
    return {"now": now, "builtins": builtins}


def state_turn(doc: Document) -> int:
    state = doc.body.get("state")
    return int(state.get("turn") or 0) if isinstance(state, dict) else 0


def keeps_answer(command: Command) -> bool:
    """A command whose answer someone may ask for later (a retry with its key, or
    a request waiting in another process)."""
    return bool(command.idempotency_key) or bool(command.body.get("queued"))


# --- executing one node -----------------------------------------------------------


async def execute_node(task: NodeTask, ports: Ports, runtime: Runtime) -> NodeResult:
    """Run one node; an executor bug fails the run, not the process."""
    if task.delay_s > 0:
        await asyncio.sleep(min(task.delay_s, _MAX_INLINE_DELAY_S))
    try:
        result = await executor_for(task.node.get("type", ""))(task, ports)
    except Exception as exc:
        result = NodeResult(
            error=f"node {task.node.get('logical_id')!r} failed: {exc}",
            stack_trace=traceback.format_exc(),
        )
    result.finished_at = runtime.clock()
    return result


def _has_effects(task: NodeTask) -> bool:
    return task.purpose != "node" or task.node.get("type") not in PURE_TYPES


async def _flush(
    store: Store, runtime: Runtime, command: Command, first: int, bodies: list[JsonDict]
) -> None:
    """Write journal entries, as long as this worker still owns the command; stop
    the turn when a newer command asks for it."""
    at = wf.now()
    async with store.begin() as tx:
        commands = tx.commands()
        if not await commands.update(
            command.id, at=at, expected_worker=runtime.worker_id
        ):
            raise _Lost(command.id)
        await commands.add_steps(command, first, bodies, at)
        pending = await commands.of_run(command.run_id, ["pending"])
    if any(p.interrupt for p in pending):
        raise _Stop


async def _turn(
    store: Store,
    runtime: Runtime,
    command: Command,
    doc: Document,
    state: RunState,
    journal: list[JsonDict],
    ports_for: PortsFactory,
    team: TeamGlobals | None,
) -> tuple[TurnOutcome, bool]:
    body = command.body
    caller = Caller(team_id=command.team_id, user_id=str(body.get("user_id") or ""))
    if team is None:
        team = await team_globals(store, command.team_id)
    ports = ports_for(
        store, caller, runtime, runtime.sinks.get(command.id), team.secret_values
    )
    raw_env = body.get("env") or turn_env(runtime, state.turn)
    env = TurnEnv(
        now=float(raw_env["now"]),
        builtins=dict(raw_env.get("builtins") or {}),
        globals_=team.values,
        max_node_runs=runtime.max_node_runs_per_turn,
    )
    snapshot = doc.body["workflow_run"]["workflow_config_fully_hydrated"]
    gen = run_turn(state, compile_graph(snapshot), body["run_input"], env)
    replayed = 0
    written = len(journal)
    unwritten: list[JsonDict] = []
    stepped = 0
    outcome: TurnOutcome
    try:
        task = next(gen)
        while True:
            if replayed < len(journal):
                entry = journal[replayed]
                replayed += 1
                if entry.get("node") != task.node.get("logical_id"):
                    raise RuntimeError(
                        "the step journal does not match the turn being resumed "
                        f"(step {replayed}: {entry.get('node')!r} recorded, "
                        f"{task.node.get('logical_id')!r} now)"
                    )
                result = result_from_json(entry["result"])
            else:
                if command.run_id in runtime.interrupts:
                    raise _Stop
                if runtime.step_runner is not None:
                    # Another durable executor checkpoints the steps; only fence
                    # and look for interrupts before each later side effect.
                    if stepped and _has_effects(task):
                        await _flush(store, runtime, command, written, [])
                    result = await runtime.step_runner(task, ports, runtime)
                    stepped += 1
                    task = gen.send(result)
                    continue
                if unwritten and _has_effects(task):
                    await _flush(store, runtime, command, written, unwritten)
                    written += len(unwritten)
                    unwritten = []
                result = await execute_node(task, ports, runtime)
                unwritten.append(
                    {
                        "node": task.node.get("logical_id"),
                        "result": result_to_json(result),
                    }
                )
            task = gen.send(result)
    except StopIteration as stop:
        outcome = stop.value
    finally:
        gen.close()
    # No secret global reaches a response, an event or the stored run.
    return redact_turn(state, outcome, ports.secret_values), written > 0


# --- answers ------------------------------------------------------------------------


def _view(doc: Document, outcome: TurnOutcome) -> JsonDict:
    """What an answer needs of the run as the turn left it."""
    state = doc.body.get("state") or {}
    threads = state.get("threads") or {}
    return {
        "status": doc.status,
        "turn": state.get("turn", 0),
        "threads": {t: {"status": s.get("status")} for t, s in threads.items()},
        "outcome": {
            "status": outcome.status,
            "events": outcome.events,
            "outputs": outcome.outputs,
            "error": outcome.error,
            "next_input_hint": outcome.next_input_hint,
            "background": outcome.background,
        },
    }


def _error_answer(error: ThreadlineError) -> JsonDict:
    return {
        "error": {"status": error.status, "code": error.code, "message": error.message}
    }


class StoredError(ThreadlineError):
    """An error answered earlier to the same command, answered again."""

    def __init__(self, raw: JsonDict) -> None:
        super().__init__(str(raw.get("message") or "error"), code=str(raw["code"]))
        self.status = int(raw.get("status") or 409)


def from_answer(doc: Document, answer: JsonDict) -> tuple[Document, TurnOutcome]:
    """The (run, turn) pair a stored answer describes; raises a stored error."""
    if "error" in answer:
        raise StoredError(answer["error"])
    raw = answer["outcome"]
    outcome = TurnOutcome(
        status=raw["status"],
        events=raw["events"],
        outputs=raw.get("outputs") or {},
        error=raw.get("error"),
        next_input_hint=raw.get("next_input_hint"),
        background=bool(raw.get("background")),
    )
    state = doc.body.get("state") or {}
    seen = {**state, "turn": answer["turn"], "threads": answer["threads"]}
    return replace(doc, status=answer["status"], body={**doc.body, "state": seen}), (
        outcome
    )


def _resolve(runtime: Runtime, command_id: str, value: Any) -> None:
    future = runtime.waiters.pop(command_id, None)
    runtime.sinks.pop(command_id, None)
    if future is None or future.done():
        return
    if isinstance(value, BaseException):
        future.set_exception(value)
    else:
        future.set_result(value)


async def wait_for(
    store: Store, runtime: Runtime, command: Command, *, local: bool = False
) -> tuple[Document, TurnOutcome]:
    """Wait for ``command``'s turn and return its answer (or raise its error).

    A turn this process drives resolves the request's future; otherwise (queued
    behind a turn of another process, or a retried key) the stored answer is
    polled for, up to ``runtime.command_wait_seconds``.
    """
    loop = asyncio.get_running_loop()
    future = runtime.waiters.get(command.id)
    if future is not None and local:
        try:
            result: tuple[Document, TurnOutcome] = await asyncio.shield(future)
            return result
        finally:
            if runtime.waiters.get(command.id) is future:
                runtime.waiters.pop(command.id, None)
    deadline = loop.time() + runtime.command_wait_seconds
    pause = 0.02
    try:
        while True:
            if future is not None:
                done, _ = await asyncio.wait({future}, timeout=pause)
                if done:
                    result = future.result()
                    return result
            else:
                await asyncio.sleep(pause)
            async with store.begin() as tx:
                row = await tx.commands().get(command.id)
                doc = await tx.documents("workflow_runs").get(
                    command.team_id, command.run_id
                )
            if future is not None and future.done():
                result = future.result()
                return result
            if row is None or doc is None:
                raise Unavailable(
                    f"command {command.id} finished without a stored answer; read "
                    f"the run {command.run_id}"
                )
            if row.status in FINISHED and row.response is not None:
                return from_answer(doc, row.response)
            if loop.time() >= deadline:
                raise Unavailable(
                    f"command {command.id} is still {row.status}; retry with the "
                    "same Idempotency-Key, or read the run",
                    details={"retry_after": 2, "command_status": row.status},
                )
            pause = min(pause * 2, 0.25)
    finally:
        if future is not None and runtime.waiters.get(command.id) is future:
            runtime.waiters.pop(command.id, None)


# --- finishing a turn ---------------------------------------------------------------


async def _promote_next(
    tx: Transaction, runtime: Runtime, run_id: str, status: str | None, turn: int
) -> tuple[Command | None, list[tuple[Command, Conflict]]]:
    """The run's next queued command that fits ``status``, now running here; the
    queued commands that no longer fit are refused."""
    refused: list[tuple[Command, Conflict]] = []
    at = wf.now()
    # The turn that asked to be interrupted is over: only a command queued behind
    # the one promoted here may interrupt again.
    runtime.interrupts.discard(run_id)
    pending = await tx.commands().of_run(run_id, ["pending"])
    for index, queued in enumerate(pending):
        name = queued.body["run_input"].get("command") or "start"
        try:
            machine.check(status, name)
        except Conflict as exc:
            refused.append((queued, exc))
            await tx.commands().update(
                queued.id, at=at, status="failed", response=_error_answer(exc)
            )
            continue
        if any(later.interrupt for later in pending[index + 1 :]):
            runtime.interrupts.add(run_id)
        body = {**queued.body, "env": turn_env(runtime, turn), "previous": status}
        await tx.commands().update(
            queued.id, at=at, status="running", worker_id=runtime.worker_id, body=body
        )
        return replace(
            queued, status="running", worker_id=runtime.worker_id, body=body
        ), refused
    return None, refused


def _pair(state: RunState, run_input: JsonDict, outcome: TurnOutcome) -> JsonDict:
    """The execution segment of one turn (``WorkflowRunInputOutputPair``)."""
    return {
        "run_input": run_input,
        "run_output": {
            "events": outcome.events,
            "thread_to_node_outputs": outcome.outputs,
        },
        "evaluation": None,
        "iteration_end_state_miscellaneous": {
            "thread_id_to_nodes_history": {
                t: s.visited for t, s in state.threads.items()
            },
            "active_thread_ids": state.active_thread_ids(),
        },
        "comments": [],
        "ratings": [],
    }


def _quiet_pump(run_input: JsonDict, outcome: TurnOutcome) -> bool:
    """A background pass that changed nothing is not worth a segment."""
    return (
        run_input.get("command") == "pump"
        and not outcome.outputs
        and not any(e["type"].endswith("_edge") for e in outcome.events)
    )


def _with_usage(doc: Document, state: RunState, status: str | None) -> Document:
    run = dict(doc.body["workflow_run"])
    run.update(
        status=state.status,
        termination_source=state.termination_source,
        llm_token_usage=costs.with_costs(token_usage(state.usage)),
        llm_latency_stats=latency_stats(state.usage),
        loop_detected=state.loop_detected,
    )
    body = {**doc.body, "workflow_run": run, "state": state.to_json()}
    return replace(doc, body=body, status=status, updated_at=wf.now())


async def _own(tx: Transaction, runtime: Runtime, command: Command) -> None:
    """Fence: go on only while this worker still owns the command."""
    if not await tx.commands().update(
        command.id, at=wf.now(), expected_worker=runtime.worker_id
    ):
        raise _Lost(command.id)


async def _close(
    tx: Transaction,
    runtime: Runtime,
    command: Command,
    answer: JsonDict | None,
    *,
    journaled: bool = True,
) -> None:
    """Mark the command finished (kept with its answer when someone may ask), if
    this worker still owns it; forget its journal."""
    commands = tx.commands()
    if answer is not None and keeps_answer(command):
        status = "failed" if "error" in answer else "done"
        owned = await commands.update(
            command.id,
            at=wf.now(),
            expected_worker=runtime.worker_id,
            status=status,
            response=answer,
        )
    else:
        owned = await commands.delete_owned(command.id, runtime.worker_id)
    if not owned:
        raise _Lost(command.id)
    if journaled:
        await commands.delete_steps(command.id)


async def _record(
    store: Store,
    runtime: Runtime,
    command: Command,
    doc: Document,
    state: RunState,
    outcome: TurnOutcome,
    journaled: bool,
) -> tuple[Document, Command | None, list[tuple[Command, Conflict]]]:
    """Save the turn, close its command and take the next one (one transaction)."""
    costs.price_events(outcome.events)
    run_input = command.body["run_input"]
    count = int(doc.body.get("turn_count") or 0)
    quiet = _quiet_pump(run_input, outcome)
    at = wf.now()
    done = _with_usage(doc, state, state.status)
    body = {**done.body, "turn_count": count if quiet else count + 1}
    done = replace(done, body=body, updated_at=at)
    async with store.begin() as tx:
        await tx.lock(f"run:{doc.id}")
        # Closing first is the fence: a worker that lost the command stops here.
        await _close(tx, runtime, command, _view(done, outcome), journaled=journaled)
        following, refused = await _promote_next(
            tx, runtime, doc.id, state.status, state.turn
        )
        if not quiet:
            pair = _pair(state, run_input, outcome)
            await tx.turns().append(doc.team_id, doc.id, count, pair, at)
        saved = replace(done, status="running") if following else done
        if not await tx.documents("workflow_runs").replace(
            saved, expected_status="running"
        ):
            raise _Lost(command.id)
    return done, following, refused


async def _refuse(runtime: Runtime, refused: list[tuple[Command, Conflict]]) -> None:
    for queued, error in refused:
        _resolve(runtime, queued.id, error)


async def _reject(
    store: Store,
    runtime: Runtime,
    command: Command,
    doc: Document,
    error: ThreadlineError,
) -> Command | None:
    """A refused input: a new run disappears, an existing one is left as it was."""
    previous = command.body.get("previous")
    async with store.begin() as tx:
        await tx.lock(f"run:{doc.id}")
        await _own(tx, runtime, command)
        if command.body.get("created"):
            await tx.commands().delete(command.id)
            await tx.turns().delete_run(doc.team_id, doc.id)
            await tx.documents("workflow_runs").delete(doc.team_id, doc.id)
            following, refused = None, list[tuple[Command, Conflict]]()
        else:
            following, refused = await _promote_next(
                tx, runtime, doc.id, previous, state_turn(doc)
            )
            # A key stays free for a corrected retry; a remote waiter needs the error.
            if command.body.get("queued"):
                await _close(tx, runtime, command, _error_answer(error))
            else:
                await tx.commands().delete(command.id)
            await tx.documents("workflow_runs").set_status(
                doc.team_id,
                doc.id,
                "running" if following else previous,
                expected_status="running",
                at=wf.now(),
                by=doc.updated_by,
            )
    _resolve(runtime, command.id, error)
    await _refuse(runtime, refused)
    return following


async def _interrupted(
    store: Store,
    runtime: Runtime,
    command: Command,
    doc: Document,
    partial: RunState,
) -> Command | None:
    """Stop the turn: the run goes back to where it waited, its LLM usage kept."""
    runtime.interrupts.discard(doc.id)
    previous = command.body.get("previous")
    raw = doc.body.get("state")
    start = RunState.from_json(raw) if raw else RunState(run_id=doc.id)
    start.usage = partial.usage
    error = Interrupted(
        f"the turn of command {command.id} was interrupted by a newer command"
    )
    async with store.begin() as tx:
        await tx.lock(f"run:{doc.id}")
        await _own(tx, runtime, command)
        following, refused = await _promote_next(
            tx, runtime, doc.id, previous, start.turn
        )
        saved = _with_usage(doc, start, "running" if following else previous)
        await _close(tx, runtime, command, _error_answer(error))
        await tx.documents("workflow_runs").replace(saved)
    _resolve(runtime, command.id, error)
    await _refuse(runtime, refused)
    return following


async def _safety_net(
    store: Store, runtime: Runtime, command: Command, doc: Document, exc: BaseException
) -> None:
    """An unexpected failure mid-turn must not leave the run active: fail it, and
    refuse the commands queued behind it."""
    reason = f"turn aborted by an unexpected {type(exc).__name__}"
    run = {
        **doc.body["workflow_run"],
        "status": "failed",
        "termination_source": "finally_safety_net",
    }
    state = doc.body.get("state")
    if isinstance(state, dict):
        state = {
            **state,
            "status": "failed",
            "error": reason,
            "termination_source": "finally_safety_net",
        }
    failed = replace(
        doc,
        body={**doc.body, "workflow_run": run, "state": state},
        status="failed",
        updated_at=wf.now(),
    )
    gone = Conflict("the run failed; it accepts no more commands")
    async with store.begin() as tx:
        await tx.lock(f"run:{doc.id}")
        current = await tx.commands().get(command.id)
        if current is None or current.worker_id != runtime.worker_id:
            return  # another worker took the turn over: it is not ours to fail
        queued = await tx.commands().of_run(doc.id, ["pending"])
        for other in queued:
            await tx.commands().update(
                other.id, at=wf.now(), status="failed", response=_error_answer(gone)
            )
        await tx.commands().update(
            command.id,
            at=wf.now(),
            status="failed",
            response=_error_answer(ThreadlineError(reason, code="turn_failed")),
        )
        await tx.commands().delete_steps(command.id)
        await tx.documents("workflow_runs").replace(failed, expected_status="running")
    for other in queued:
        _resolve(runtime, other.id, gone)


# --- the driver ---------------------------------------------------------------------


async def _failed(
    store: Store, runtime: Runtime, command: Command, doc: Document, exc: BaseException
) -> None:
    """The safety net, then the request gets the exception."""
    await _safety_net(store, runtime, command, doc, exc)
    _resolve(runtime, command.id, exc)
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        raise exc


async def _run_command(
    store: Store,
    runtime: Runtime,
    command: Command,
    ports_for: PortsFactory,
    resume: bool,
    first: Prepared | None = None,
) -> Command | None:
    """Execute one command's turn; return the run's next command, if any."""
    journal: list[JsonDict] = []
    doc: Document | None
    if first is not None and not resume:
        doc = first.doc
    else:
        async with store.begin() as tx:
            doc = await tx.documents("workflow_runs").get(
                command.team_id, command.run_id
            )
            journal = await tx.commands().steps(command.id) if resume else []
    if doc is None or doc.status != "running":
        # Deleted, or failed by the reaper while this turn was away.
        gone = Conflict(f"run {command.run_id} is no longer running")
        async with store.begin() as tx:
            await tx.commands().update(
                command.id, at=wf.now(), status="failed", response=_error_answer(gone)
            )
            await tx.commands().delete_steps(command.id)
        _resolve(runtime, command.id, gone)
        return None
    raw = doc.body.get("state")
    state = RunState.from_json(raw) if raw else RunState(run_id=doc.id)
    field = str(command.body.get("field") or "run_input")
    try:
        outcome, journaled = await _turn(
            store,
            runtime,
            command,
            doc,
            state,
            journal,
            ports_for,
            first.team if first is not None else None,
        )
    except InvalidInput as exc:
        return await _reject(
            store, runtime, command, doc, InvalidField(f"{field}: {exc}")
        )
    except _Stop:
        return await _interrupted(store, runtime, command, doc, state)
    except _Lost:
        _resolve(runtime, command.id, Unavailable("the turn moved to another worker"))
        return None
    except asyncio.CancelledError:
        # Shutting down: the command stays ``running``; another process resumes it.
        raise
    except BaseException as exc:
        await _failed(store, runtime, command, doc, exc)
        return None
    try:
        done, following, refused = await _record(
            store, runtime, command, doc, state, outcome, journaled or resume
        )
    except _Lost:
        _resolve(runtime, command.id, Unavailable("the turn moved to another worker"))
        return None
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        await _failed(store, runtime, command, doc, exc)
        return None
    caller = Caller(
        team_id=command.team_id, user_id=str(command.body.get("user_id") or "")
    )
    await webhooks.on_turn(
        store,
        caller,
        done,
        created=bool(command.body.get("created")),
        previous=command.body.get("previous"),
    )
    evaluations.schedule(store, caller, runtime, done)
    _resolve(runtime, command.id, (done, outcome))
    await _refuse(runtime, refused)
    return following


async def drive(
    store: Store,
    runtime: Runtime,
    command: Command,
    ports_for: PortsFactory,
    *,
    resume: bool = False,
    first: Prepared | None = None,
) -> None:
    """Execute ``command`` and then every command queued behind it on its run
    (``first``: what accepting it already read)."""
    run_id = command.run_id
    task = asyncio.current_task()
    if task is not None:
        runtime.drivers[run_id] = task
    try:
        current: Command | None = command
        while current is not None:
            running = current
            try:
                current = await _run_command(
                    store, runtime, running, ports_for, resume, first
                )
            except _Lost:
                moved = Unavailable("the turn moved to another worker")
                _resolve(runtime, running.id, moved)
                current = None
            except Exception as exc:  # a bug after the turn: never strand a request
                log.exception("driving command %s failed", running.id)
                _resolve(runtime, running.id, exc)
                current = None
            resume, first = False, None
    finally:
        if runtime.drivers.get(run_id) is task:
            runtime.drivers.pop(run_id, None)
