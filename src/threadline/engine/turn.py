"""One turn of a run, as a generator: it yields ``NodeTask``s and receives results.

    gen = run_turn(state, graph, run_input, env)
    task = next(gen)                 # the first node to execute
    task = gen.send(result)          # ... until StopIteration carries a TurnOutcome

The generator does no I/O and reads no clock: given the same state, input, env and
node results it produces the same events and state (replay).
"""

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from threadline.engine import advance, budgets, inputs, loopguard, usage, waiting
from threadline.engine.emit import Emitter
from threadline.engine.graph import Graph
from threadline.engine.inputs import TurnEnv
from threadline.engine.metrics import TurnMetrics
from threadline.engine.render_limits import RenderLimitExceeded
from threadline.engine.state import (
    ENDED,
    MAIN_THREAD,
    PAUSED,
    READY,
    SCHEDULED,
    WAITING,
    RunState,
)
from threadline.engine.steps import NodeResult, NodeTask

JsonDict = dict[str, Any]


@dataclass(slots=True)
class TurnOutcome:
    """What a turn produced, for the run record and the API response."""

    status: str
    events: list[JsonDict]
    outputs: dict[str, list[JsonDict]] = field(default_factory=dict)
    error: str | None = None
    next_input_hint: JsonDict | None = None
    background: bool = False
    """Work is left for a later pump: scheduled threads or armed waiting edges."""


def _next_ready(state: RunState, now: float) -> str | None:
    """The first ready thread, else the first scheduled one that is due."""
    for thread_id, thread in state.threads.items():
        if thread.status == READY:
            return thread_id
    for thread_id, thread in state.threads.items():
        if thread.status == SCHEDULED and (thread.due_at or 0) <= now:
            return thread_id
    return None


def _usage_fields(state: RunState) -> JsonDict:
    return {
        "llm_token_usage": usage.token_usage(state.usage),
        "llm_latency_stats": usage.latency_stats(state.usage),
    }


def _control(state: RunState, command: str, em: Emitter) -> bool:
    """Apply ``pause``/``stop``; True when the turn ends here."""
    if command == "stop":
        for thread_id in state.active_thread_ids():
            state.threads[thread_id].status = ENDED
            em.emit(
                "end_thread",
                thread_id,
                last_node_logical_id=state.threads[thread_id].node,
            )
        state.status = "cancelled"
        em.emit("end_workflow", MAIN_THREAD, **_usage_fields(state))
        return True
    if command == "pause":
        em.emit("pause_event", MAIN_THREAD)
        for thread_id in state.active_thread_ids():
            thread = state.threads[thread_id]
            thread.status = PAUSED if thread.status == READY else thread.status
            em.emit("pause_thread", thread_id, last_node_logical_id=thread.node)
        state.status = "paused"
        return True
    if command == "resume":
        for thread in state.threads.values():
            if thread.status == PAUSED:
                thread.status = READY
    return False


def _close(state: RunState, em: Emitter, metrics: TurnMetrics) -> None:
    if state.status not in ("failed", "aborted_looping_risk", "cancelled"):
        if not state.active_thread_ids():
            state.status = "completed"
        else:
            state.status = "waiting_for_user_input"
    em.emit(
        "end_workflow_iteration",
        MAIN_THREAD,
        iteration_number=state.turn,
        run_input_output_pair=None,
        iteration_metrics=metrics.to_json(em.now),
    )
    if state.status == "waiting_for_user_input":
        companions = [t for t in state.active_thread_ids() if t != MAIN_THREAD]
        em.emit(
            "workflow_ready_for_input",
            MAIN_THREAD,
            active_companion_thread_ids=companions,
        )
    elif state.status in ("completed", "aborted_looping_risk"):
        em.emit("end_workflow", MAIN_THREAD, **_usage_fields(state))


def _take_input(
    state: RunState, graph: Graph, run_input: JsonDict, env: TurnEnv, em: Emitter
) -> None:
    """Deliver the input's messages, or run a background pass (``pump``)."""
    state.status = "running"
    try:
        if (run_input.get("command") or "start") == "pump":
            waiting.tick(state, graph, env, em)
        else:
            inputs.deliver(state, run_input, em)
    except RenderLimitExceeded as exc:
        advance.fail(state, em, f"template limit reached: {exc}")


def _refused(
    state: RunState, em: Emitter, thread_id: str, step: NodeTask, result: NodeResult
) -> None:
    """A model call of ``step`` was refused by the budget: the node's earlier calls
    are counted, nothing else it did is kept, and the run fails."""
    if result.finished_at is not None:
        em.now = result.finished_at
    usage.add_calls(state.usage, result.llm_calls)
    report = {
        **(result.budget_exceeded or {}),
        "node_logical_id": step.node.get("logical_id"),
    }
    budgets.exceed(state, em, report, thread_id)


def run_turn(
    state: RunState, graph: Graph, run_input: JsonDict, env: TurnEnv
) -> Generator[NodeTask, NodeResult, TurnOutcome]:
    """Run one turn; see the module docstring for the protocol."""
    em = Emitter(state, graph, env.now)
    command = run_input.get("command") or "start"
    if command != "pump":
        state.turn += 1
    if state.turn == 1 and not state.threads:
        inputs.start(state, graph, run_input, env, em)
    if _control(state, command, em):
        state.last_active_at = em.now
        return TurnOutcome(state.status, em.events)
    _take_input(state, graph, run_input, env, em)
    limits = budgets.limits_of(env.budget)
    if state.status != "failed":
        budgets.turn_start(
            state, em, limits, env.price, counts_as_turn=command != "pump"
        )
    outputs: dict[str, list[JsonDict]] = {}
    hint: JsonDict | None = None
    runs = 0
    metrics = TurnMetrics(started_at=env.now)
    guard = loopguard.config(graph, env)
    while (
        state.status != "failed"
        and (thread_id := _next_ready(state, em.now)) is not None
    ):
        thread = state.threads[thread_id]
        step = advance.prepare(state, graph, thread, env, em)
        if step is None:
            if thread.status == WAITING:
                hint = em.events[-1]
            continue
        runs += 1
        if (loop := loopguard.count(state, guard, step, runs)) is not None:
            loopguard.abort(state, em, loop)
            break
        result = yield step
        metrics.add(step, result)
        if result.budget_exceeded is not None:
            _refused(state, em, thread_id, step, result)
            break
        carry_on = advance.finish(state, graph, thread, step, result, env, em)
        outputs.setdefault(thread_id, []).append(result.output)
        budgets.after_step(state, em, limits, env.price)
        if not carry_on:
            break
        loop = loopguard.observe(state, guard, thread_id, step, result)
        if loop is not None:
            loopguard.abort(state, em, loop)
            break
    _close(state, em, metrics)
    state.last_active_at = em.now
    background = state.status == "waiting_for_user_input" and (
        any(t.status == SCHEDULED for t in state.threads.values())
        or waiting.armed(state, graph)
    )
    return TurnOutcome(state.status, em.events, outputs, state.error, hint, background)
