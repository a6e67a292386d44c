"""Applying a turn's ``WorkflowRunInput`` to the run state: start, messages, vars."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from threadline.engine.emit import Emitter
from threadline.engine.graph import Graph
from threadline.engine.render_limits import RenderLimits
from threadline.engine.state import (
    MAIN_THREAD,
    READY,
    SCHEDULED,
    WAITING,
    RunState,
    ThreadState,
)
from threadline.engine.supernode import runtime_seed
from threadline.engine.supernode_refs import resolve_refs

JsonDict = dict[str, Any]


class InvalidInput(ValueError):
    """The run input cannot start or continue this run (a client error)."""


@dataclass(frozen=True, slots=True)
class TurnEnv:
    """What the shell provides to a turn: the clock reading and evaluated built-ins."""

    now: float
    builtins: JsonDict = field(default_factory=dict)
    """Built-in dynamic variables (now, date, rand_uuid, ...) evaluated by the shell."""
    globals_: JsonDict = field(default_factory=dict)
    """Team global variables (``{{global.name}}``)."""
    max_node_runs: int = 100
    """Node executions allowed in one turn before ``aborted_looping_risk``."""
    max_node_runs_per_run: int = 5000
    """Node executions allowed over a whole run before ``aborted_looping_risk``."""
    loop_repeat_limit: int = 3
    """The same step fingerprint this many times in a row on a thread, with no user
    message in between, is a loop (``engine.loopguard``; below 2 turns it off)."""
    loop_cycle_limit: int = 5
    """A cycle of 2 or more step fingerprints repeated this many times in a row is a
    loop (below 2 turns it off)."""
    loop_max_cycle_length: int = 4
    """The longest cycle (in steps) looked for; 2 is a ping-pong."""
    render_limits: RenderLimits = field(default_factory=RenderLimits)
    """What one template render may build (``engine.render_limits``)."""
    budget: JsonDict = field(default_factory=dict)
    """The run's budget limits (``engine.budgets``); empty: none."""
    price: Callable[[str, str, int, int], float | None] | None = None
    """USD cost of ``(model, provider, input, output)`` tokens (``max_cost_usd``)."""


def _as_message(raw: Any) -> JsonDict:
    if isinstance(raw, str):
        return {"type": "human", "content": raw}
    if isinstance(raw, dict):
        return dict(raw)
    return {"type": "human", "content": str(raw)}


def messages_by_thread(run_input: JsonDict) -> dict[str, list[JsonDict]]:
    """User messages of the input, per thread id."""
    out: dict[str, list[JsonDict]] = {}
    for thread_id, inputs in (run_input.get("thread_to_node_inputs") or {}).items():
        for item in (inputs or {}).get("node_run_inputs") or []:
            for message in (item or {}).get("messages") or []:
                out.setdefault(str(thread_id), []).append(_as_message(message))
    return out


def start(
    state: RunState, graph: Graph, run_input: JsonDict, env: TurnEnv, em: Emitter
) -> None:
    """Initialise a new run: dynamic variables, the main thread at its start node."""
    start_node = run_input.get("start_node_logical_id") or graph.start
    if start_node is None:
        raise InvalidInput("the workflow has no start node (mark one node is_start)")
    if start_node not in graph.nodes:
        raise InvalidInput(
            f"start_node_logical_id {start_node!r} is not a node of the workflow"
        )
    defaults = graph.misc.get("default_dynamic_variables") or {}
    state.dynamic = {
        **env.builtins,
        **defaults,
        **(run_input.get("dynamic_variables") or {}),
    }
    thread = ThreadState(thread_id=MAIN_THREAD, node=start_node)
    thread.variables.update(runtime_seed(graph.node(start_node)))
    thread.variables.update(run_input.get("runtime_variables") or {})
    welcome = run_input.get("welcome_message")
    if welcome:
        thread.history.append({"type": "ai", "content": welcome})
    state.threads = {MAIN_THREAD: thread}
    state.status = "started"
    em.emit("start_workflow", MAIN_THREAD)
    em.emit("start_thread", MAIN_THREAD)
    scope = {
        "dynamic": state.dynamic,
        "runtime": thread.variables,
        "threads": {MAIN_THREAD: thread.variables},
        "globals_": env.globals_,
        "limits": env.render_limits,
    }
    resolve_refs(graph.node(start_node), state.dynamic, thread, scope, em)


def deliver(state: RunState, run_input: JsonDict, em: Emitter) -> None:
    """Deliver user messages and variable updates; wake the threads receiving them."""
    if state.turn > 1:
        state.dynamic.update(run_input.get("dynamic_variables") or {})
        main = state.threads.get(MAIN_THREAD)
        if main is not None:
            main.variables.update(run_input.get("runtime_variables") or {})
    for thread_id, messages in messages_by_thread(run_input).items():
        thread = state.threads.get(thread_id)
        if thread is None or thread.status not in (READY, WAITING, SCHEDULED):
            raise InvalidInput(f"thread {thread_id!r} is not waiting for input")
        thread.pending.extend(messages)
        thread.conditional_hops = 0
        thread.wait_transitions = 0
        if thread.status == WAITING:
            thread.status = READY
        em.emit("user_messages", thread_id, messages=messages)
