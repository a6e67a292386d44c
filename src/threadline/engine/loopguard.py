"""Loop safety: hard caps on node executions, and loops detected by meaning.

Every node run of a thread leaves a *fingerprint*: a short hash of the thread id,
the node's logical id, the thread's runtime variables and the run-wide (workflow
scope) variables after the node, the tool calls it made (name, arguments, result
text; never the call ids), the routing choice of its LLM (destination and
arguments), the text it spoke and a worker's free-form output. The same
fingerprint again means the step changed nothing: *no progress*.

Each thread keeps its last few fingerprints in ``RunState.loop_trace`` (bounded;
plain JSON). The window restarts whenever a node of the thread consumes a user
message: a conversation that keeps receiving input is progressing. A thread stuck
in a cycle is stopped when its newest fingerprints are periodic:

- ``repeat`` (period 1): the same fingerprint ``repeat_limit`` (3) times in a row;
- ``ping_pong`` (period 2) and ``cycle`` (period 3 up to ``max_cycle_length``, 4):
  the same block of fingerprints ``cycle_limit`` (5) times in a row.

Besides, a run stops after ``max_node_runs`` executions in one turn and after
``max_node_runs_per_run`` executions over its whole life (``turn_cap``/``run_cap``).
Re-runs of a bounded self-loop (``self_loop_config``, attempt > 1) are not
fingerprinted (their own ``max_retries``/``expiry_time`` bounds them); transition
messages are not node runs either. Both still count towards the caps.

Any of these ends the run as ``aborted_looping_risk`` with ``termination_source =
"loop_guard"``, ``state.error``, ``state.loop_detected`` and a ``workflow_error``
event that carries the same ``loop`` object. The module is pure: no clock, no I/O.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from threadline.engine.emit import Emitter
from threadline.engine.graph import Graph
from threadline.engine.inputs import TurnEnv
from threadline.engine.state import ENDED, MAIN_THREAD, RunState
from threadline.engine.steps import NodeResult, NodeTask

JsonDict = dict[str, Any]

STATUS = "aborted_looping_risk"
TERMINATION_SOURCE = "loop_guard"
MAX_WINDOW = 200
"""Fingerprints kept per thread at most, whatever the configuration says."""
MAX_REPORTED_NODES = 5
"""Nodes named in a ``turn_cap``/``run_cap`` report (the most executed in the run)."""
_FINGERPRINT_CHARS = 16


@dataclass(frozen=True, slots=True)
class LoopConfig:
    """The effective limits of one run (``TurnEnv`` over workflow overrides)."""

    repeat_limit: int
    cycle_limit: int
    max_cycle_length: int
    max_node_runs: int
    max_node_runs_per_run: int

    @property
    def window(self) -> int:
        """How many fingerprints a thread must remember to see every rule through."""
        need = max(self.repeat_limit, self.cycle_limit * self.max_cycle_length, 1)
        return min(need, MAX_WINDOW)


def _int(raw: Any, default: int) -> int:
    if raw is None or isinstance(raw, bool):
        return default
    try:
        return int(str(raw).strip())
    except ValueError:
        return default


def _limit(raw: int) -> int:
    """A repetition limit: below 2 (a single occurrence) means the rule is off."""
    return 0 if raw < 2 else min(raw, MAX_WINDOW)


def config(graph: Graph, env: TurnEnv) -> LoopConfig:
    """The limits for this run: ``env`` defaults, overridden by the workflow's
    ``miscellaneous.loop_guard_*`` keys (the per-run cap can only be lowered)."""
    misc = graph.misc
    repeat = _int(misc.get("loop_guard_repeat_limit"), env.loop_repeat_limit)
    cycle = _int(misc.get("loop_guard_cycle_limit"), env.loop_cycle_limit)
    length = _int(misc.get("loop_guard_max_cycle_length"), env.loop_max_cycle_length)
    per_run = _int(
        misc.get("loop_guard_max_node_runs_per_run"), env.max_node_runs_per_run
    )
    cycle = _limit(cycle)
    return LoopConfig(
        repeat_limit=_limit(repeat),
        cycle_limit=cycle,
        max_cycle_length=max(1, min(length, MAX_WINDOW // max(cycle, 1))),
        max_node_runs=env.max_node_runs,
        max_node_runs_per_run=max(1, min(per_run, env.max_node_runs_per_run)),
    )


# --- fingerprints -----------------------------------------------------------------


def _canon(value: Any) -> Any:
    """A JSON-able, order-independent form of ``value`` (dict keys as text, sorted)."""
    if isinstance(value, dict):
        return [[str(k), _canon(v)] for k, v in sorted(value.items(), key=_key)]
    if isinstance(value, list | tuple):
        return [_canon(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def _key(item: tuple[Any, Any]) -> str:
    return str(item[0])


def stable_hash(value: Any) -> str:
    """A short, stable hash of plain data (same data, same hash, across processes)."""
    try:  # the fast path: JSON data with text keys, serialised in C
        text = json.dumps(
            value,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            default=repr,
        )
    except TypeError:  # keys of mixed types: canonicalise them first
        text = json.dumps(_canon(value), separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.blake2b(text.encode(), digest_size=_FINGERPRINT_CHARS // 2)
    return digest.hexdigest()


def _tool_calls(result: NodeResult) -> list[Any]:
    """Tool calls (name, args) and tool results (name, content), ids left out."""
    calls: list[Any] = []
    messages = list(result.history)
    for event in result.events:
        message = event.get("message")
        if isinstance(message, dict):
            messages.append(message)
    for message in messages:
        for call in message.get("tool_calls") or []:
            if isinstance(call, dict):
                calls.append(["call", call.get("name"), call.get("args")])
        if message.get("type") == "tool":
            calls.append(["result", message.get("name"), message.get("content")])
    return calls


def fingerprint(
    state: RunState, thread_id: str, task: NodeTask, result: NodeResult
) -> str:
    """What a node run left behind; equal fingerprints mean no progress."""
    thread = state.threads[thread_id]
    spoken = [
        e.get("content") for e in result.events if e.get("type") == "assistant_response"
    ]
    return stable_hash(
        [
            thread_id,
            task.node.get("logical_id"),
            thread.variables,
            state.workflow_variables,
            _tool_calls(result),
            [result.destination, result.destination_args],
            spoken,
            result.output.get("free_form_output"),
        ]
    )


# --- detection --------------------------------------------------------------------


def _primitive(block: list[str]) -> bool:
    """True when ``block`` is not itself a repetition of a shorter block."""
    size = len(block)
    for d in range(1, size):
        if size % d == 0 and block == block[:d] * (size // d):
            return False
    return True


def _periodic(fps: list[str], cfg: LoopConfig) -> tuple[int, int] | None:
    """``(period, repetitions)`` when the newest fingerprints repeat, else None."""
    for period in range(1, cfg.max_cycle_length + 1):
        times = cfg.repeat_limit if period == 1 else cfg.cycle_limit
        need = period * times
        if times == 0 or len(fps) < need:
            continue
        tail = fps[-need:]
        repeats = all(tail[i] == tail[i + period] for i in range(need - period))
        if repeats and _primitive(tail[:period]):
            return period, times
    return None


def _loop(
    kind: str, thread_id: str, nodes: list[str], limit: int, **extra: Any
) -> JsonDict:
    counts: dict[str, int] = {}
    for node_id in nodes:
        counts[node_id] = counts.get(node_id, 0) + 1
    return {
        "kind": kind,
        "thread_id": thread_id,
        "node_logical_ids": list(counts),
        "counts": counts,
        "limit": limit,
        **extra,
    }


def _cycle_report(thread_id: str, steps: list[list[str]], period: int) -> JsonDict:
    times = len(steps) // period
    nodes = [step[0] for step in steps]
    if period == 1:
        return _loop("repeat", thread_id, nodes, times)
    kind = "ping_pong" if period == 2 else "cycle"
    cycle = [step[0] for step in steps[:period]]
    return _loop(kind, thread_id, nodes, times, period=period, cycle=cycle)


def observe(
    state: RunState,
    cfg: LoopConfig,
    thread_id: str,
    task: NodeTask,
    result: NodeResult,
) -> JsonDict | None:
    """Record a finished step of ``thread_id``; the loop it closes, if any."""
    if task.purpose != "node" or state.status != "running":
        return None
    if task.messages:
        state.loop_trace.pop(thread_id, None)
    if task.attempt > 1 and (task.node.get("self_loop_config") or {}).get("enabled"):
        return None
    thread = state.threads.get(thread_id)
    if thread is None:
        return None
    node_id = str(task.node.get("logical_id"))
    trace = state.loop_trace.setdefault(thread_id, [])
    trace.append([node_id, fingerprint(state, thread_id, task, result)])
    del trace[: max(0, len(trace) - cfg.window)]
    for tid in [t for t in state.loop_trace if _ended(state, t)]:
        del state.loop_trace[tid]
    found = _periodic([step[1] for step in trace], cfg)
    if found is None:
        return None
    period, times = found
    return _cycle_report(thread_id, trace[-period * times :], period)


def _ended(state: RunState, thread_id: str) -> bool:
    thread = state.threads.get(thread_id)
    return thread is None or thread.status == ENDED


def _cap_report(state: RunState, kind: str, thread_id: str, limit: int) -> JsonDict:
    ranked = sorted(state.node_executions.items(), key=lambda kv: (-kv[1], kv[0]))
    top = ranked[:MAX_REPORTED_NODES]
    return {
        "kind": kind,
        "thread_id": thread_id,
        "node_logical_ids": [node_id for node_id, _ in top],
        "counts": dict(top),
        "limit": limit,
    }


def count(
    state: RunState, cfg: LoopConfig, task: NodeTask, turn_runs: int
) -> JsonDict | None:
    """Count ``task`` as an execution (``turn_runs`` in this turn, including it);
    the cap it would break, if any, in which case it is not counted nor run."""
    if turn_runs > cfg.max_node_runs:
        return _cap_report(state, "turn_cap", task.thread_id, cfg.max_node_runs)
    if sum(state.node_executions.values()) >= cfg.max_node_runs_per_run:
        return _cap_report(state, "run_cap", task.thread_id, cfg.max_node_runs_per_run)
    node_id = str(task.node.get("logical_id"))
    state.node_executions[node_id] = state.node_executions.get(node_id, 0) + 1
    return None


# --- ending the run ---------------------------------------------------------------


def _names(ids: list[str]) -> str:
    return " -> ".join(repr(i) for i in ids)


def describe(loop: JsonDict) -> str:
    """The ``workflow_error`` message of a detected loop."""
    kind, limit = loop["kind"], loop["limit"]
    if kind == "turn_cap":
        return f"more than {limit} node executions in one turn without user input"
    if kind == "run_cap":
        return f"more than {limit} node executions in this run"
    where = f"on thread {loop['thread_id']!r}"
    if kind == "repeat":
        node = _names(loop["node_logical_ids"])
        return (
            f"loop detected {where}: node {node} ran {limit} times in a row "
            "without progress (same variables, tool calls and reply) and no user input"
        )
    return (
        f"loop detected {where}: the cycle {_names(loop['cycle'])} repeated {limit} "
        "times without progress (same variables, tool calls and replies) and no "
        "user input"
    )


def abort(state: RunState, em: Emitter, loop: JsonDict) -> None:
    """End the run as ``aborted_looping_risk`` and report ``loop``."""
    state.status = STATUS
    state.error = describe(loop)
    state.termination_source = TERMINATION_SOURCE
    state.loop_detected = loop
    em.emit(
        "workflow_error",
        MAIN_THREAD,
        error_message=state.error,
        stack_trace=None,
        loop=loop,
    )
