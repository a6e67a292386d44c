"""Self-diagnosis: why a run (or a queued start) is not moving, in one sentence.

``diagnose_run`` reads the run, its commands, the heartbeat of the worker running
its turn and that turn's step journal, and answers ``{state, sentence, ...}`` with
the structured fields of the one case that applies, checked in this order (each
built in ``diagnosis_cases.py``):

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

``diagnose_start`` (``start_diagnosis.py``) says the same about a schedule (a
scheduled or background start in the start queue): ``scheduled`` (not due yet),
``waiting_for_slot`` (a concurrency limit: ``level``, ``limit``, ``position``),
``due`` (starts on the next scheduler pass), ``starting``, or ``ended`` (and the
run it started).

Both are plain functions over the store (``diagnose_run(store, caller, run_id,
timing=...)``) so the console and the CLI can call them too; nothing is changed.
"""

from datetime import UTC, datetime
from typing import Any

from threadline.errors import InvalidField, NotFound
from threadline.ids import is_object_id
from threadline.service.caller import Caller
from threadline.service.commands import TERMINAL
from threadline.service.running import diagnosis_cases as cases
from threadline.service.running.diagnosis_cases import Timing
from threadline.service.running.start_diagnosis import diagnose_start
from threadline.service.team.global_variables import for_run as team_globals
from threadline.store import Document, Store

__all__ = ["Timing", "diagnose_run", "diagnose_start"]

JsonDict = dict[str, Any]


async def _read(
    store: Store, caller: Caller, run_id: str
) -> tuple[Document, cases.RunningTurn | None, int]:
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
    return doc, cases.RunningTurn(running, journal, seen, pending), pending


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
    state = cases.run_state(doc)
    status = doc.status or str((doc.body.get("workflow_run") or {}).get("status"))
    found: JsonDict
    if status in TERMINAL:
        found = cases.ended(doc, state)
    elif turn is not None:
        dead = (
            None
            if this_worker and turn.command.worker_id == this_worker
            else cases.presumed_dead(turn, at, timing)
        )
        if dead is not None:
            found = dead
        else:
            team = await team_globals(store, caller.team_id)
            running = cases.running(doc, turn, at, timing, team.values)
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
        found = cases.paused(doc, state)
    elif status == "waiting_for_user_input":
        found = cases.waiting(doc, state)
    else:
        found = {
            "state": "not_started",
            "sentence": f"The run is {status}: no turn is running or queued.",
            "since": cases.iso(doc.updated_at),
        }
    return {
        "run_id": doc.id,
        "status": status,
        "checked_at": cases.iso(at),
        **found,
        "queued_commands": pending,
    }
