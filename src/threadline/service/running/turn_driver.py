"""Executing a run's commands one turn at a time, durably.

A turn runs in a task of the runtime, never in the request's own task: a client
that goes away does not cancel it. Each node result is journaled (``run_steps``)
before the next side effect starts, so a turn resumed after a crash
(``service.running.recovery``) replays its finished steps from the journal (no second
LLM call, HTTP request or SMS) and executes only the rest; the pure engine makes the
replay exact. When the turn ends, one transaction records it, forgets its journal
and takes the run's next queued command, which the same task then executes: the
commands of a run run one at a time, in arrival order.

Requests wait for their command through ``wait_for``: a future when the turn runs
in this process, the command's stored answer otherwise.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
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
from threadline.errors import Conflict, InvalidField
from threadline.nodes.base import Ports
from threadline.nodes.mcp_tools import Direct, McpHub
from threadline.nodes.registry import PURE_TYPES
from threadline.providers.managed_prompts import ExpandingLLM
from threadline.service.automation import evaluations
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.reuse import managed_prompts
from threadline.service.running import (
    budget_gate,
    costs,
    run_history,
    upgrade_marks,
)
from threadline.service.running.budget_gate import BudgetedLLM
from threadline.service.running.node_execution import execute_node
from threadline.service.running.ports import ports_for
from threadline.service.running.turn_answers import (
    Lost,
    Unavailable,
    error_answer,
    resolve,
)
from threadline.service.running.turn_endings import (
    failed,
    interrupted,
    record,
    refuse,
    reject,
    turn_env,
)
from threadline.service.runtime import Runtime
from threadline.service.team import secrets
from threadline.service.team.global_variables import TeamGlobals
from threadline.service.team.global_variables import for_run as team_globals
from threadline.service.team.sealing import open_tree
from threadline.service.team.secrets import redact, redact_turn, with_template_forms
from threadline.service.turns import StartRun
from threadline.store import Command, Document, Store
from threadline.telemetry import context, metrics, tracing
from threadline.tools.http_call import HttpPolicy

JsonDict = dict[str, Any]
log = logging.getLogger("threadline.turns")


_OUTCOMES = {
    "waiting_for_user_input": "waiting",
    "completed": "completed",
    "failed": "failed",
    "paused": "paused",
    "cancelled": "cancelled",
    "aborted_looping_risk": "aborted_looping_risk",
}
"""The ``outcome`` label of a recorded turn, by the run's status after it."""
_FAILED = frozenset({"failed", "lost", "error"})
"""Outcomes that mark the turn's span failed."""


@dataclass
class _Observed:
    """How a command's turn ended, for the metrics and its span."""

    outcome: str = "error"


@dataclass(frozen=True, slots=True)
class Prepared:
    """What the accepting transaction already read for a command's turn."""

    doc: Document
    team: TeamGlobals


class _Stop(Exception):
    """A pending command asked the running turn to stop."""


def _has_effects(task: NodeTask) -> bool:
    return task.purpose != "node" or task.node.get("type") not in PURE_TYPES


async def _flush(
    store: Store,
    runtime: Runtime,
    command: Command,
    first: int,
    bodies: list[JsonDict],
    *,
    stop: bool = True,
) -> None:
    """Write journal entries, as long as this worker still owns the command; stop
    the turn when a newer command asks for it (``stop``: between steps only)."""
    at = wf.now()
    async with store.begin() as tx:  # one statement on PostgreSQL (pg_journal)
        owned, interrupt = await tx.commands().journal(
            command, runtime.worker_id, first, bodies, at
        )
    if not owned:
        raise Lost(command.id)
    if stop and interrupt:
        raise _Stop


class _Journal:
    """A turn's step journal: node results to replay and to write, and the side
    effects made inside a node (MCP tool calls, ``nodes.mcp_tools.Effects``).

    An effect is keyed by its node's place in the turn and its order inside the
    node; a resumed turn whose node asks the same call again (same server, tool
    and arguments) gets the journaled result, and the server is not called.
    """

    def __init__(
        self,
        store: Store,
        runtime: Runtime,
        command: Command,
        entries: list[JsonDict],
        hidden: tuple[str, ...],
    ) -> None:
        self.store, self.runtime, self.command = store, runtime, command
        self.hidden = hidden
        self.nodes = [e for e in entries if "effect" not in e]
        self.effects = {e["effect"]: e for e in entries if "effect" in e}
        self.written = len(entries)
        self.unwritten: list[JsonDict] = []
        self.step = 0
        self._ordinal = 0

    def begin(self, step: int) -> None:
        self.step, self._ordinal = step, 0

    async def flush(self, *, stop: bool = True) -> None:
        bodies, self.unwritten = self.unwritten, []
        await _flush(
            self.store, self.runtime, self.command, self.written, bodies, stop=stop
        )
        self.written += len(bodies)

    async def once(
        self, call: JsonDict, run: Callable[[], Awaitable[JsonDict]]
    ) -> JsonDict:
        self._ordinal += 1
        key = f"{self.step}.{self._ordinal}"
        shown = redact(call, self.hidden)
        entry = self.effects.get(key)
        if entry is not None and entry.get("call") == shown:
            result: JsonDict = entry["result"]
            return result
        result = await run()
        self.unwritten.append(
            {"effect": key, "call": shown, "result": redact(result, self.hidden)}
        )
        await self.flush(stop=False)
        return result


async def _turn(
    store: Store,
    runtime: Runtime,
    command: Command,
    doc: Document,
    state: RunState,
    journal: list[JsonDict],
    team: TeamGlobals | None,
) -> tuple[TurnOutcome, bool]:
    body = command.body
    caller = Caller(team_id=command.team_id, user_id=str(body.get("user_id") or ""))
    if team is None:
        team = await team_globals(store, command.team_id)
    # Keys inside the snapshot are sealed at rest: opened for this turn only.
    snapshot = open_tree(
        doc.body["workflow_run"]["workflow_config_fully_hydrated"],
        secrets.key_for(store),
    )
    hidden = with_template_forms(team.secret_values, snapshot, team.values)
    ports = ports_for(store, caller, runtime, runtime.sinks.get(command.id), hidden)
    ports.llm = ExpandingLLM(ports.llm, managed_prompts.texts_of(snapshot))
    limits = budget_gate.limits_of(doc.body)
    if limits:
        gate = budget_gate.BudgetGate(limits, state, runtime.clock)
        ports.llm = BudgetedLLM(ports.llm, gate)
    raw_env = body.get("env") or turn_env(runtime, state.turn)
    env = TurnEnv(
        now=float(raw_env["now"]),
        builtins=dict(raw_env.get("builtins") or {}),
        globals_=team.values,
        max_node_runs=runtime.max_node_runs_per_turn,
        render_limits=runtime.render_limits,
        budget=limits,
        price=costs.price,
    )
    steps = _Journal(store, runtime, command, journal, hidden)
    ports.mcp = McpHub(
        policy=HttpPolicy(allow_private=runtime.http_allow_private),
        limits=runtime.mcp_limits,
        listings=runtime.mcp_cache(command.run_id),
        effects=steps if runtime.step_runner is None else Direct(),
    )
    graph = compile_graph(snapshot)
    upgraded = upgrade_marks.mark(doc, state, graph, env.now)
    gen = run_turn(state, graph, body["run_input"], env)
    with context.bind(turn=state.turn + 1, secrets=hidden):
        outcome = await _steps(store, runtime, command, gen, ports, steps)
    if upgraded is not None:  # an upgrade applied since the last turn leads it
        outcome.events.insert(0, upgraded)
    # No secret global reaches a response, an event or the stored run.
    return redact_turn(state, outcome, ports.secret_values), steps.written > 0


async def _steps(
    store: Store,
    runtime: Runtime,
    command: Command,
    gen: Generator[NodeTask, NodeResult, TurnOutcome],
    ports: Ports,
    steps: _Journal,
) -> TurnOutcome:
    """Answer each node the engine asks for: from the journal, then for real."""
    hidden = steps.hidden
    replayed = 0
    stepped = 0
    index = 0
    outcome: TurnOutcome
    try:
        task = next(gen)
        while True:
            steps.begin(index)
            index += 1
            if replayed < len(steps.nodes):
                entry = steps.nodes[replayed]
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
                        await _flush(store, runtime, command, steps.written, [])
                    result = await runtime.step_runner(task, ports, runtime)
                    stepped += 1
                    task = gen.send(result)
                    continue
                if steps.unwritten and _has_effects(task):
                    await steps.flush()
                result = await execute_node(task, ports, runtime)
                # Journaled redacted: no secret reaches the database, even for a
                # moment (the turn's outcome is redacted the same way at its end).
                steps.unwritten.append(
                    {
                        "node": task.node.get("logical_id"),
                        "result": redact(result_to_json(result), hidden),
                    }
                )
            task = gen.send(result)
    except StopIteration as stop:
        outcome = stop.value
    finally:
        gen.close()
    return outcome


# --- the driver ---------------------------------------------------------------------


async def _run_command(
    store: Store,
    runtime: Runtime,
    command: Command,
    start_run: StartRun,
    resume: bool,
    first: Prepared | None = None,
    observed: _Observed | None = None,
) -> Command | None:
    """Execute one command's turn; return the run's next command, if any.

    ``start_run`` starts the evaluation runs a finished turn may ask for;
    ``observed`` learns how the turn ended."""
    seen = observed if observed is not None else _Observed()
    journal: list[JsonDict] = []
    doc: Document | None
    if first is not None and not resume:
        doc = first.doc
    else:
        async with store.begin() as tx:
            doc = await tx.documents("workflow_runs").get(
                command.team_id, command.run_id
            )
            if doc is not None:
                doc = await run_history.whole(tx, doc, runtime.history_cache)
            journal = await tx.commands().steps(command.id) if resume else []
    if doc is None or doc.status != "running":
        # Deleted, or failed by the reaper while this turn was away.
        gone = Conflict(f"run {command.run_id} is no longer running")
        async with store.begin() as tx:
            await tx.commands().update(
                command.id, at=wf.now(), status="failed", response=error_answer(gone)
            )
            await tx.commands().delete_steps(command.id)
        resolve(runtime, command.id, gone)
        seen.outcome = "gone"
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
            first.team if first is not None else None,
        )
    except InvalidInput as exc:
        seen.outcome = "rejected"
        return await reject(
            store, runtime, command, doc, InvalidField(f"{field}: {exc}")
        )
    except _Stop:
        seen.outcome = "interrupted"
        return await interrupted(store, runtime, command, doc, state)
    except Lost:
        seen.outcome = "lost"
        resolve(runtime, command.id, Unavailable("the turn moved to another worker"))
        return None
    except asyncio.CancelledError:
        # Shutting down: the command stays ``running``; another process resumes it.
        raise
    except BaseException as exc:
        seen.outcome = "failed"
        await failed(store, runtime, command, doc, exc)
        return None
    doc = upgrade_marks.without_mark(doc)
    try:
        done, following, refused = await record(
            store, runtime, command, doc, state, outcome, journaled or resume
        )
    except Lost:
        seen.outcome = "lost"
        resolve(runtime, command.id, Unavailable("the turn moved to another worker"))
        return None
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        seen.outcome = "failed"
        await failed(store, runtime, command, doc, exc)
        return None
    seen.outcome = _OUTCOMES.get(str(done.status), "other")
    caller = Caller(
        team_id=command.team_id, user_id=str(command.body.get("user_id") or "")
    )
    evaluations.schedule(store, caller, runtime, start_run, done)
    resolve(runtime, command.id, (done, outcome))
    await refuse(runtime, refused)
    return following


async def drive_one(
    store: Store,
    runtime: Runtime,
    command: Command,
    start_run: StartRun,
    *,
    resume: bool = False,
    first: Prepared | None = None,
) -> Command | None:
    """Execute ``command``'s turn; return the run's next command, if any. Its
    request always gets an answer, even when something fails after the turn.

    The turn is a span in the trace of the request that sent the command (its
    stored ``trace_context``), wherever and however late it runs; it is counted
    by outcome (``threadline_turns_total``) and timed."""
    seen = _Observed()
    started = time.perf_counter()
    with (
        context.bind(run_id=command.run_id, command_id=command.id),
        tracing.span(
            "turn",
            {
                "threadline.run_id": command.run_id,
                "threadline.command_id": command.id,
                "threadline.resumed": resume,
            },
            parent=tracing.parent_from(command.trace_context),
        ) as span,
    ):
        try:
            return await _run_command(
                store, runtime, command, start_run, resume, first, seen
            )
        except Lost:
            seen.outcome = "lost"
            resolve(
                runtime, command.id, Unavailable("the turn moved to another worker")
            )
        except asyncio.CancelledError:
            seen.outcome = "cancelled"
            raise
        except Exception as exc:  # a bug after the turn: never strand a request
            log.exception("driving command %s failed", command.id)
            resolve(runtime, command.id, exc)
        finally:
            span.set("threadline.turn.outcome", seen.outcome)
            if seen.outcome in _FAILED:
                span.fail(f"the turn ended {seen.outcome}", seen.outcome)
            metrics.count_turn(
                seen.outcome, time.perf_counter() - started, command.team_id
            )
    return None


async def drive(
    store: Store,
    runtime: Runtime,
    command: Command,
    start_run: StartRun,
    *,
    resume: bool = False,
    first: Prepared | None = None,
) -> None:
    """Execute ``command`` and then every command queued behind it on its run
    (``first``: what accepting it already read; ``start_run`` starts the
    evaluation runs its turns may ask for)."""
    run_id = command.run_id
    task = asyncio.current_task()
    if task is not None:
        runtime.drivers[run_id] = task
    try:
        current: Command | None = command
        while current is not None:
            current = await drive_one(
                store, runtime, current, start_run, resume=resume, first=first
            )
            resume, first = False, None
    finally:
        if runtime.drivers.get(run_id) is task:
            runtime.drivers.pop(run_id, None)
