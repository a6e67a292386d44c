"""Self-diagnosis: why a run (or a queued start) is not moving, in one sentence.

``diagnose_run`` reads the run, its commands, the heartbeat of the worker running
its turn and that turn's step journal, and answers ``{state, sentence, ...}`` with
the structured fields of the one case that applies, checked in this order:

- ``ended``: status, ``termination_source``, reason, and for
  ``aborted_looping_risk`` the loop (its ``kind`` and the cycle of nodes);
- ``worker_presumed_dead``: the worker running its turn has not sent a heartbeat
  for ``THREADLINE_WORKER_DEAD_SECONDS``; ``takeover_after`` is when recovery may
  take the turn over, ``takeover_by`` when the next recovery pass (every
  ``THREADLINE_HEARTBEAT_SECONDS``) will have done so;
- ``queued``: commands wait behind the running turn (``queued_commands``; the
  running turn's fields under ``running``);
- ``running``: the node the turn is executing (found by replaying the turn's
  journal through the pure engine), since when, and whether the turn has run past
  ``THREADLINE_MAX_TURN_SECONDS`` (then the stale-run reaper fails it);
- ``paused``;
- ``waiting_for_user``: each waiting thread and its node, since the turn ended;
- ``not_started``: created, no turn has run (a start that has not been picked up).

``diagnose_start`` says the same about a schedule (a scheduled or background start
in the start queue): ``scheduled`` (not due yet), ``waiting_for_slot`` (a
concurrency limit: ``level``, ``limit``, ``position``), ``due`` (starts on the next
scheduler pass), ``starting``, or ``ended`` (and the run it started).

Both are plain functions over the store (``diagnose_run(store, caller, run_id,
timing=...)``) so the console and the CLI can call them too; nothing is changed.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from threadline.engine.graph import compile_graph
from threadline.engine.inputs import TurnEnv
from threadline.engine.state import PAUSED, SCHEDULED, WAITING, RunState
from threadline.engine.steps import result_from_json
from threadline.engine.turn import run_turn
from threadline.errors import InvalidField, NotFound
from threadline.ids import is_object_id
from threadline.service.automation import schedules
from threadline.service.caller import Caller
from threadline.service.commands import TERMINAL
from threadline.service.running import budget_gate, costs
from threadline.service.team.global_variables import for_run as team_globals
from threadline.store import Command, Document, Store

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Timing:
    """The operator's timings a diagnosis reasons with (from ``Settings``)."""

    max_turn_seconds: float = 900.0
    worker_dead_seconds: float = 30.0
    heartbeat_seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class _Turn:
    """What the store says about a run's running turn."""

    command: Command
    journal: list[JsonDict]
    heartbeat: datetime | None
    queued: int


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _clock_iso(reading: Any) -> str | None:
    if not isinstance(reading, int | float) or isinstance(reading, bool):
        return None
    return datetime.fromtimestamp(float(reading), UTC).isoformat()


def _state(doc: Document) -> RunState:
    raw = doc.body.get("state")
    return RunState.from_json(raw) if isinstance(raw, dict) else RunState(run_id=doc.id)


# --- the cases ----------------------------------------------------------------------


def _ended(doc: Document, state: RunState) -> JsonDict:
    run = doc.body.get("workflow_run") or {}
    status = doc.status or str(run.get("status"))
    source = run.get("termination_source") or state.termination_source
    reason = state.error or run.get("error")
    out: JsonDict = {
        "state": "ended",
        "status": status,
        "termination_source": source,
        "reason": reason,
        "ended_at": _iso(doc.updated_at),
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


def _waiting(doc: Document, state: RunState) -> JsonDict:
    threads = [
        {"thread_id": tid, "node_logical_id": t.node}
        for tid, t in state.threads.items()
        if t.status == WAITING
    ]
    scheduled = [
        {"thread_id": tid, "node_logical_id": t.node, "due_at": _clock_iso(t.due_at)}
        for tid, t in state.threads.items()
        if t.status == SCHEDULED
    ]
    since = _clock_iso(state.last_active_at) or _iso(doc.updated_at)
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


def _paused(doc: Document, state: RunState) -> JsonDict:
    threads = [
        {"thread_id": tid, "node_logical_id": t.node}
        for tid, t in state.threads.items()
        if t.status == PAUSED
    ]
    since = _iso(doc.updated_at)
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
    gen = run_turn(_state(doc), compile_graph(snapshot), run_input, env)
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


def _running(
    doc: Document, turn: _Turn, now: datetime, timing: Timing, globals_: JsonDict
) -> JsonDict:
    thread, node, started = _current_node(doc, turn.command, turn.journal, globals_)
    since = doc.updated_at
    seconds = max(0.0, (now - since).total_seconds())
    past = seconds > timing.max_turn_seconds
    fails_at = since + timedelta(seconds=timing.max_turn_seconds)
    where = f"node {node!r} on thread {thread}" if node else "the end of its turn"
    sentence = (
        f"The run is running {where} (turn running since {_iso(since)}, {seconds:.0f} s"
    )
    if past:
        sentence += (
            f", past THREADLINE_MAX_TURN_SECONDS={timing.max_turn_seconds:g}: the "
            "stale-run reaper fails it on its next pass)."
        )
    else:
        sentence += f"; the reaper would fail it at {_iso(fails_at)})."
    return {
        "state": "running",
        "sentence": sentence,
        "command_id": turn.command.id,
        "worker_id": turn.command.worker_id,
        "thread_id": thread,
        "node_logical_id": node,
        "node_since": _clock_iso(started),
        "since": _iso(since),
        "seconds_running": seconds,
        "max_turn_seconds": timing.max_turn_seconds,
        "past_max_turn_seconds": past,
        "reaper_fails_at": _iso(fails_at),
    }


def _presumed_dead(turn: _Turn, now: datetime, timing: Timing) -> JsonDict | None:
    """The dead-worker case, or None when the worker is alive."""
    dead_after = timedelta(seconds=timing.worker_dead_seconds)
    last = turn.heartbeat
    if last is not None and now - last < dead_after:
        return None
    silent_since = max(last or turn.command.updated_at, turn.command.updated_at)
    takeover_after = silent_since + dead_after
    takeover_by = max(takeover_after, now) + timedelta(seconds=timing.heartbeat_seconds)
    worker = turn.command.worker_id
    heard = f"last heartbeat {_iso(last)}" if last else "no heartbeat on record"
    return {
        "state": "worker_presumed_dead",
        "sentence": (
            f"The worker {worker!r} running this turn is presumed dead ({heard}); "
            f"recovery resumes the turn from its journal after "
            f"{_iso(takeover_after)}, by {_iso(takeover_by)} at the latest."
        ),
        "command_id": turn.command.id,
        "worker_id": worker,
        "last_heartbeat_at": _iso(last),
        "worker_dead_seconds": timing.worker_dead_seconds,
        "takeover_after": _iso(takeover_after),
        "takeover_by": _iso(takeover_by),
        "queued_commands": turn.queued,
    }


# --- the entry points -----------------------------------------------------------------


async def _read(
    store: Store, caller: Caller, run_id: str
) -> tuple[Document, _Turn | None, int]:
    if not is_object_id(run_id):
        raise InvalidField(f"workflow_run_id: {run_id!r} is not a 24-hex id")
    async with store.begin() as tx:
        doc = await tx.documents("workflow_runs").get(caller.team_id, run_id)
        if doc is None:
            raise NotFound(f"workflow run {run_id!r} not found")
        commands = await tx.commands().of_run(run_id, ["running", "pending"])
        pending = sum(1 for c in commands if c.status == "pending")
        running = next((c for c in commands if c.status == "running"), None)
        if running is None:
            return doc, None, pending
        journal = await tx.commands().steps(running.id)
        seen = await tx.workers().seen(running.worker_id) if running.worker_id else None
    return doc, _Turn(running, journal, seen, pending), pending


async def diagnose_run(
    store: Store,
    caller: Caller,
    run_id: str,
    *,
    timing: Timing | None = None,
    now: datetime | None = None,
    this_worker: str | None = None,
) -> JsonDict:
    """Why the caller's run ``run_id`` is not moving (see the module docstring).

    ``this_worker``: the calling process's worker id; a turn it runs is alive
    whatever its heartbeat says."""
    at = now or datetime.now(UTC)
    timing = timing or Timing()
    doc, turn, pending = await _read(store, caller, run_id)
    state = _state(doc)
    status = doc.status or str((doc.body.get("workflow_run") or {}).get("status"))
    found: JsonDict
    if status in TERMINAL:
        found = _ended(doc, state)
    elif turn is not None:
        dead = (
            None
            if this_worker and turn.command.worker_id == this_worker
            else _presumed_dead(turn, at, timing)
        )
        if dead is not None:
            found = dead
        else:
            team = await team_globals(store, caller.team_id)
            running = _running(doc, turn, at, timing, team.values)
            if pending:
                found = {
                    "state": "queued",
                    "sentence": (
                        f"{pending} command(s) are queued behind the running turn: "
                        + running["sentence"][0].lower()
                        + running["sentence"][1:]
                    ),
                    "queued_commands": pending,
                    "running": running,
                }
            else:
                found = running
    elif status == "paused":
        found = _paused(doc, state)
    elif status == "waiting_for_user_input":
        found = _waiting(doc, state)
    else:
        found = {
            "state": "not_started",
            "sentence": f"The run is {status}: no turn is running or queued.",
            "since": _iso(doc.updated_at),
        }
    return {
        "run_id": doc.id,
        "status": status,
        "checked_at": _iso(at),
        **found,
        "queued_commands": pending,
    }


async def diagnose_start(
    store: Store, caller: Caller, schedule_id: str, *, now: datetime | None = None
) -> JsonDict:
    """Why a schedule (a scheduled or background start) has not started its run."""
    at = now or datetime.now(UTC)
    doc = await schedules.get_doc(store, caller, schedule_id)
    body = doc.body
    status = str(doc.status)
    due = schedules.due_time(doc) if body.get("scheduled_time") else None
    run_id = body.get("actual_run_id")
    base: JsonDict = {
        "schedule_id": doc.id,
        "status": status,
        "checked_at": _iso(at),
        "due_at": _iso(due),
        "run_id": run_id,
    }
    waiting = body.get("waiting")
    if status == "pending" and due is not None and due > at:
        return {
            **base,
            "state": "scheduled",
            "sentence": f"The start is scheduled for {_iso(due)}.",
        }
    if status == "pending" and isinstance(waiting, dict):
        level, limit = waiting.get("level"), waiting.get("limit")
        return {
            **base,
            "state": "waiting_for_slot",
            "sentence": (
                f"The start waits for a concurrency slot: the {level}'s limit of "
                f"{limit} active runs is reached, and it is number "
                f"{waiting.get('position')} in the queue."
            ),
            "level": level,
            "limit": limit,
            "position": waiting.get("position"),
        }
    if status == "pending":
        return {
            **base,
            "state": "due",
            "sentence": "The start is due; the scheduler starts it on its next pass.",
        }
    if status == "in_progress":
        return {
            **base,
            "state": "starting",
            "sentence": "The scheduler is starting the run now.",
        }
    sentence = f"The schedule has ended: it is {status}"
    if body.get("error_message"):
        sentence += f": {body['error_message']}"
    elif run_id:
        sentence += f"; its run {run_id} has its own diagnosis"
    return {
        **base,
        "state": "ended",
        "sentence": sentence + ".",
        "error_message": body.get("error_message"),
    }
