"""Rebuilding a run's engine state at an earlier turn by replaying its record.

A run stores only its latest ``RunState`` plus one segment per turn (input, events,
node outputs). The state after turn *k* is rebuilt by feeding each recorded input
back through the pure engine (``engine.turn.run_turn``) and answering every
``NodeTask`` with a ``NodeResult`` reconstructed from that node run's recorded
events, so no node executes again: no LLM call, no tool, no HTTP request.

The replay checks itself: every replayed turn must emit the recorded events (same
types and ids, which are derived from the run id and a counter), and replaying every
turn must reproduce the stored final state. A turn the replay cannot reproduce, and
every turn after it, is reported as not re-runnable with the reason.
"""

import copy
import dataclasses
import functools
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from threadline.engine.emit import event_id
from threadline.engine.graph import Graph, compile_graph
from threadline.engine.inputs import InvalidInput, TurnEnv
from threadline.engine.render_limits import RenderLimits
from threadline.engine.state import RunState
from threadline.engine.steps import NodeResult, NodeTask
from threadline.engine.turn import run_turn
from threadline.service.runtime import builtin_variables
from threadline.service.team.secrets import redact_turn

JsonDict = dict[str, Any]

_ENVELOPE = frozenset(
    {
        "type",
        "logical_id",
        "timestamp",
        "origin_thread_id",
        "thread_reference_id",
        "comments",
        "interrupted",
        "origin_node_logical_id",
        "origin_node_name",
        "origin_node_run_id",
    }
)
_BUILTIN_KEYS = tuple(builtin_variables(0.0, random.Random(0)))
_MISSING = object()
_MAX_SKIPPED_EVENTS = 10_000

OnTask = Callable[[int, NodeTask, NodeResult], None]
"""Sees each task of segment ``index`` and the result rebuilt from its record."""


class ReplayMismatch(Exception):
    """The recorded turns cannot be replayed faithfully."""


@dataclass(slots=True)
class Replayed:
    """The outcome of replaying a run's segments."""

    states: list[JsonDict]
    """The state after each reproduced segment (``RunState.to_json()``)."""
    failed_at: int | None = None
    """The first segment that could not be reproduced (None: all were)."""
    reason: str | None = None


def _key(thread_id: Any, node_id: Any, run_id: Any) -> tuple[str, str, str]:
    return (str(thread_id), str(node_id), str(run_id))


def _node_runs(events: list[JsonDict]) -> dict[tuple[str, str, str], tuple[int, int]]:
    """``(thread, node, run id)`` → indexes of its start and end events."""
    starts: dict[tuple[str, str, str], int] = {}
    spans: dict[tuple[str, str, str], tuple[int, int]] = {}
    for i, event in enumerate(events):
        kind = event.get("type")
        if kind not in ("start_node_run", "end_node_run"):
            continue
        key = _key(
            event.get("origin_thread_id"),
            event.get("origin_node_logical_id"),
            event.get("origin_node_run_id"),
        )
        if kind == "start_node_run":
            starts[key] = i
        elif key in starts:
            spans[key] = (starts.pop(key), i)
    return spans


def _is_boundary(message: Any) -> bool:
    """A message no node adds: a user message or an engine navigation memo."""
    if not isinstance(message, dict):
        return True
    metadata = message.get("response_metadata") or {}
    return (
        message.get("type") == "human" or metadata.get("navigation_message") == "true"
    )


def _history(before: int, final: list[JsonDict] | None) -> list[JsonDict]:
    """The chat messages a node added, read from the run's final history.

    History only grows, so the node's messages start where the thread's history
    stands and run up to the next message the engine adds itself (a user message
    or a navigation memo).
    """
    out: list[JsonDict] = []
    for message in (final or [])[before:]:
        if _is_boundary(message):
            break
        out.append(dict(message))
    return out


def _llm_calls(node_events: list[JsonDict]) -> list[JsonDict]:
    """One accounting record per call (``assistant_response`` repeats its call)."""
    calls: list[JsonDict] = []
    for event in node_events:
        info = event.get("llm_usage_info")
        if event.get("type") == "assistant_response" or not isinstance(info, dict):
            continue
        calls.append(
            {
                "response_model": info.get("response_model") or info.get("model"),
                "provider": info.get("provider"),
                "input_tokens": info.get("input_tokens"),
                "output_tokens": info.get("output_tokens"),
                "total_tokens": info.get("total_tokens"),
                "user_key": bool(info.get("used_user_api_key")),
                "latency_ms": info.get("latency_ms"),
            }
        )
    return calls


def _writes(after: JsonDict, before: JsonDict, prefixes: tuple[str, ...]) -> JsonDict:
    """Variable writes that turn ``before`` into ``after``.

    With ``prefixes`` (``<node id>.``, ``<node name>.``) a thread write is stored
    under every alias (``moves.write_variables``), so a name counts as written only
    when its node-id alias holds the same value, and the aliases are not writes.
    """
    out: JsonDict = {}
    for name, value in after.items():
        if prefixes and name.startswith(prefixes):
            continue
        if prefixes and after.get(f"{prefixes[0]}{name}", _MISSING) != value:
            continue
        names = [name, *(f"{p}{name}" for p in prefixes)]
        if any(before.get(n, _MISSING) != value for n in names):
            out[name] = value
    return out


def _rebuild(
    task: NodeTask,
    state: RunState,
    events: list[JsonDict],
    spans: Any,
    final: dict[str, list[JsonDict]],
) -> NodeResult:
    """The ``NodeResult`` that produced the recorded events of this node run."""
    node_id = str(task.node.get("logical_id"))
    if task.purpose != "node":
        raise ReplayMismatch(
            f"a {task.purpose} message of node {node_id!r} is not replayable"
        )
    span = spans.get(_key(task.thread_id, node_id, task.node_run_id))
    if span is None:
        raise ReplayMismatch(
            f"no recorded run {task.node_run_id} of node {node_id!r}"
            f" on thread {task.thread_id!r}"
        )
    start, end = span
    node_events = [
        {k: v for k, v in e.items() if k not in _ENVELOPE or k == "type"}
        for e in events[start + 1 : end]
    ]
    result = NodeResult(
        events=node_events,
        output=dict(events[end].get("run_output") or {}),
        history=_history(
            len(state.threads[task.thread_id].history), final.get(task.thread_id)
        ),
        llm_calls=_llm_calls(node_events),
        finished_at=events[end].get("timestamp"),
    )
    thread = state.threads[task.thread_id]
    after = events[end + 1] if end + 1 < len(events) else {}
    if after.get("type") == "workflow_show_state":
        prefixes = (f"{node_id}.",) + (
            (f"{task.node['name']}.",) if task.node.get("name") else ()
        )
        result.variables = _writes(
            after.get("runtime_variables") or {}, thread.variables, prefixes
        )
        result.workflow_variables = _writes(
            after.get("workflow_runtime_variables") or {}, state.workflow_variables, ()
        )
    for event in events[end + 1 :]:
        kind = str(event.get("type"))
        if kind == "start_node_run":
            break
        if kind == "workflow_error":
            result.error = event.get("error_message") or "node failed"
            result.stack_trace = event.get("stack_trace")
            break
        if (
            kind.endswith("_edge")
            and event.get("source_node_logical_id") == node_id
            and "due to tool call" in str(event.get("reason") or "")
        ):
            result.destination = event.get("destination_node_logical_id")
            result.destination_args = dict(event.get("args_filled") or {})
            break
    return result


def _align(state: RunState, events: list[JsonDict]) -> None:
    """Catch the counters up with background passes that changed nothing.

    Such passes are not recorded (no segment), yet they may have counted events and
    busy-wait node runs; the next recorded segment shows where the counters stood.
    Counters only move forward, so a recorded start behind ours is left for the
    event check to report.
    """
    if events:
        first = str(events[0].get("logical_id") or "")
        for n in range(state.events + 1, state.events + 1 + _MAX_SKIPPED_EVENTS):
            if first == f"event_{event_id(f'{state.run_id}:{n}')}":
                state.events = n - 1
                break
    lowest: dict[str, int] = {}
    for event in events:
        node_id, run = (
            event.get("origin_node_logical_id"),
            event.get("origin_node_run_id"),
        )
        if isinstance(node_id, str) and str(run or "").isdigit():
            number = int(str(run))
            lowest[node_id] = min(lowest.get(node_id, number), number)
    for node_id, run in lowest.items():
        state.node_runs[node_id] = max(state.node_runs.get(node_id, 0), run - 1)


def _segment(
    state: RunState,
    graph: Graph,
    pair: JsonDict,
    builtins: JsonDict,
    globals_: JsonDict,
    secrets: tuple[str, ...],
    limits: TurnEnv,
    final: dict[str, list[JsonDict]],
    on_task: Callable[[NodeTask, NodeResult], None] | None = None,
) -> None:
    run_input = pair.get("run_input") or {}
    events: list[JsonDict] = list((pair.get("run_output") or {}).get("events") or [])
    now = float(events[0].get("timestamp") or 0.0) if events else 0.0
    env = dataclasses.replace(
        limits,
        now=now,
        builtins=builtins if state.turn == 0 else {},
        globals_=globals_,
    )
    _align(state, events)
    spans = _node_runs(events)
    gen = run_turn(state, graph, run_input, env)
    try:
        task = next(gen)
        while True:
            result = _rebuild(task, state, events, spans, final)
            if on_task is not None:
                on_task(task, copy.deepcopy(result))
            task = gen.send(result)
    except StopIteration as stop:
        outcome = stop.value
    except InvalidInput as exc:
        raise ReplayMismatch(f"the recorded input no longer applies: {exc}") from exc
    outcome = redact_turn(state, outcome, secrets)
    replayed = [(e.get("type"), e.get("logical_id")) for e in outcome.events]
    recorded = [(e.get("type"), e.get("logical_id")) for e in events]
    if replayed != recorded:
        raise ReplayMismatch(
            "replaying the turn does not reproduce its recorded events"
        )


def replay(
    run_id: str,
    snapshot: JsonDict,
    pairs: list[JsonDict],
    final_state: JsonDict | None,
    *,
    globals_: JsonDict | None = None,
    secrets: tuple[str, ...] = (),
    max_node_runs: int = 100,
    render_limits: RenderLimits | None = None,
    on_task: OnTask | None = None,
) -> Replayed:
    """Replay every segment; each must emit its recorded events, and the last state
    must match ``final_state`` in what a continuation reads (threads, variables,
    usage). On a final mismatch no earlier state is trusted either. ``on_task``
    sees every task answered (replay checks compare them with another version)."""
    graph = compile_graph(snapshot)
    dynamic = (final_state or {}).get("dynamic") or {}
    builtins = {k: dynamic[k] for k in _BUILTIN_KEYS if k in dynamic}
    final = {
        str(t): list(v.get("history") or [])
        for t, v in ((final_state or {}).get("threads") or {}).items()
    }
    state = RunState(run_id=run_id)
    out = Replayed(states=[])
    limits = TurnEnv(
        now=0.0,
        max_node_runs=max_node_runs,
        render_limits=render_limits or RenderLimits(),
    )
    for index, pair in enumerate(pairs):
        try:
            _segment(
                state,
                graph,
                pair,
                builtins,
                globals_ or {},
                secrets,
                limits,
                final,
                None if on_task is None else functools.partial(on_task, index),
            )
        except ReplayMismatch as exc:
            out.failed_at, out.reason = index, str(exc)
            return out
        except Exception as exc:  # a record the engine cannot digest
            out.failed_at = index
            out.reason = f"replaying the turn failed: {type(exc).__name__}: {exc}"
            return out
        out.states.append(copy.deepcopy(state.to_json()))
    if (
        final_state is not None
        and out.states
        and _comparable(out.states[-1]) != _comparable(final_state)
    ):
        out.states = []
        out.failed_at = 0
        out.reason = (
            "replaying the recorded turns does not reproduce the run's stored state"
        )
    return out


# Not ``status``: the reaper or the safety net may fail a run after its last segment.
_COMPARED = ("threads", "dynamic", "workflow_variables", "usage")


def _comparable(state: JsonDict) -> JsonDict:
    """What a continuation reads, as stored (JSON turns tuples into lists)."""
    picked = {k: state.get(k) for k in _COMPARED}
    loaded: JsonDict = json.loads(json.dumps(picked, sort_keys=True, default=str))
    return loaded
