"""The cases of a run's diagnosis: what each says, from what the store read.

``diagnosis.diagnose_run`` picks the one case that applies; each function here
builds its ``{state, sentence, ...}`` answer.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from threadline.engine.graph import compile_graph
from threadline.engine.inputs import TurnEnv
from threadline.engine.state import PAUSED, SCHEDULED, WAITING, RunState
from threadline.engine.steps import result_from_json
from threadline.engine.turn import run_turn
from threadline.service.running import budget_gate, costs
from threadline.store import Command, Document

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Timing:
    """The operator's timings a diagnosis reasons with (from ``Settings``)."""

    max_turn_seconds: float = 900.0
    worker_dead_seconds: float = 30.0
    heartbeat_seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class RunningTurn:
    """What the store says about a run's running turn."""

    command: Command
    journal: list[JsonDict]
    heartbeat: datetime | None
    queued: int


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def clock_iso(reading: Any) -> str | None:
    if not isinstance(reading, int | float) or isinstance(reading, bool):
        return None
    return datetime.fromtimestamp(float(reading), UTC).isoformat()


def run_state(doc: Document) -> RunState:
    raw = doc.body.get("state")
    return RunState.from_json(raw) if isinstance(raw, dict) else RunState(run_id=doc.id)


def ended(doc: Document, state: RunState) -> JsonDict:
    run = doc.body.get("workflow_run") or {}
    status = doc.status or str(run.get("status"))
    source = run.get("termination_source") or state.termination_source
    reason = state.error or run.get("error")
    out: JsonDict = {
        "state": "ended",
        "status": status,
        "termination_source": source,
        "reason": reason,
        "ended_at": iso(doc.updated_at),
        "loop": None,
    }
    sentence = f"The run has ended: it is {status}"
    if source:
        sentence += f" ({source})"
    loop = state.loop_detected or run.get("loop_detected")
    if status == "aborted_looping_risk" and isinstance(loop, dict):
        cycle = [str(n) for n in loop.get("node_logical_ids") or []]
        out["loop"] = {**loop, "cycle": cycle}
        sentence += (
            f"; thread {loop.get('thread_id')!r} kept repeating "
            f"{' -> '.join(cycle) or 'the same step'} ({loop.get('kind')})"
        )
    elif reason:
        sentence += f": {reason}"
    elif status == "completed":
        sentence += ": every thread reached its end"
    out["sentence"] = sentence + "."
    return out


def waiting(doc: Document, state: RunState) -> JsonDict:
    threads = [
        {"thread_id": tid, "node_logical_id": t.node}
        for tid, t in state.threads.items()
        if t.status == WAITING
    ]
    scheduled = [
        {"thread_id": tid, "node_logical_id": t.node, "due_at": clock_iso(t.due_at)}
        for tid, t in state.threads.items()
        if t.status == SCHEDULED
    ]
    since = clock_iso(state.last_active_at) or iso(doc.updated_at)
    where = ", ".join(
        f"thread {t['thread_id']} at node {t['node_logical_id']!r}" for t in threads
    )
    sentence = f"The run is waiting for the user's message on {where or 'no thread'}"
    sentence += f" since {since}."
    if scheduled:
        sentence += f" {len(scheduled)} thread(s) will run again in the background."
    return {
        "state": "waiting_for_user",
        "sentence": sentence,
        "threads": threads,
        "scheduled_threads": scheduled,
        "since": since,
    }


def paused(doc: Document, state: RunState) -> JsonDict:
    threads = [
        {"thread_id": tid, "node_logical_id": t.node}
        for tid, t in state.threads.items()
        if t.status == PAUSED
    ]
    since = iso(doc.updated_at)
    return {
        "state": "paused",
        "sentence": f"The run is paused since {since}; a resume command continues it.",
        "threads": threads,
        "since": since,
    }


def _current_node(
    doc: Document, command: Command, journal: list[JsonDict], globals_: JsonDict
) -> tuple[str | None, str | None, Any]:
    """``(thread, node, started clock)`` of the node the turn is executing: the turn
    replayed through the pure engine with its journaled results."""
    snapshot = (doc.body.get("workflow_run") or {}).get(
        "workflow_config_fully_hydrated"
    )
    raw_env = command.body.get("env") or {}
    run_input = command.body.get("run_input")
    if not isinstance(snapshot, dict) or not isinstance(run_input, dict):
        return None, None, raw_env.get("now")
    env = TurnEnv(
        now=float(raw_env.get("now") or 0.0),
        builtins=dict(raw_env.get("builtins") or {}),
        globals_=globals_,
        budget=budget_gate.limits_of(doc.body),
        price=costs.price,
    )
    gen = run_turn(run_state(doc), compile_graph(snapshot), run_input, env)
    started = raw_env.get("now")
    try:
        task = next(gen)
        for entry in journal:
            result = result_from_json(entry["result"])
            started = result.finished_at or started
            task = gen.send(result)
    except StopIteration:  # every step is journaled: the turn is being recorded
        return None, None, started
    except Exception:  # a diagnosis never fails because a replay could not finish
        return None, None, started
    finally:
        gen.close()
    return task.thread_id, str(task.node.get("logical_id")), started


def running(
    doc: Document, turn: RunningTurn, now: datetime, timing: Timing, globals_: JsonDict
) -> JsonDict:
    thread, node, started = _current_node(doc, turn.command, turn.journal, globals_)
    since = doc.updated_at
    seconds = max(0.0, (now - since).total_seconds())
    past = seconds > timing.max_turn_seconds
    fails_at = since + timedelta(seconds=timing.max_turn_seconds)
    where = f"node {node!r} on thread {thread}" if node else "the end of its turn"
    sentence = (
        f"The run is running {where} (turn running since {iso(since)}, {seconds:.0f} s"
    )
    if past:
        sentence += (
            f", past THREADLINE_MAX_TURN_SECONDS={timing.max_turn_seconds:g}: the "
            "stale-run reaper fails it on its next pass)."
        )
    else:
        sentence += f"; the reaper would fail it at {iso(fails_at)})."
    return {
        "state": "running",
        "sentence": sentence,
        "command_id": turn.command.id,
        "worker_id": turn.command.worker_id,
        "thread_id": thread,
        "node_logical_id": node,
        "node_since": clock_iso(started),
        "since": iso(since),
        "seconds_running": seconds,
        "max_turn_seconds": timing.max_turn_seconds,
        "past_max_turn_seconds": past,
        "reaper_fails_at": iso(fails_at),
    }


def presumed_dead(turn: RunningTurn, now: datetime, timing: Timing) -> JsonDict | None:
    """The dead-worker case, or None when the worker is alive."""
    dead_after = timedelta(seconds=timing.worker_dead_seconds)
    last = turn.heartbeat
    if last is not None and now - last < dead_after:
        return None
    silent_since = max(last or turn.command.updated_at, turn.command.updated_at)
    takeover_after = silent_since + dead_after
    takeover_by = max(takeover_after, now) + timedelta(seconds=timing.heartbeat_seconds)
    worker = turn.command.worker_id
    heard = f"last heartbeat {iso(last)}" if last else "no heartbeat on record"
    return {
        "state": "worker_presumed_dead",
        "sentence": (
            f"The worker {worker!r} running this turn is presumed dead ({heard}); "
            f"recovery resumes the turn from its journal after "
            f"{iso(takeover_after)}, by {iso(takeover_by)} at the latest."
        ),
        "command_id": turn.command.id,
        "worker_id": worker,
        "last_heartbeat_at": iso(last),
        "worker_dead_seconds": timing.worker_dead_seconds,
        "takeover_after": iso(takeover_after),
        "takeover_by": iso(takeover_by),
        "queued_commands": turn.queued,
    }
