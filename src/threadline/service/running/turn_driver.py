"""Executing a run's commands one turn at a time, durably.

A turn runs in a task of the runtime, never in the request's own task: a client
that goes away does not cancel it. Each node result is journaled (``run_steps``,
``turn_journal``) before the next side effect starts, so a turn resumed after a
crash (``service.running.recovery``) replays its finished steps from the journal (no
second LLM call, HTTP request or SMS) and executes only the rest (``turn_steps``);
the pure engine makes the replay exact. When the turn ends, one transaction records
it, forgets its journal and takes the run's next queued command, which the same
task then executes: the commands of a run run one at a time, in arrival order.

Requests wait for their command through ``turn_answers``: a future when the turn
runs in this process, the command's stored answer otherwise.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from threadline.engine.inputs import InvalidInput
from threadline.engine.state import RunState
from threadline.errors import Conflict, InvalidField
from threadline.service.automation import evaluations
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.running import (
    run_history,
    upgrade_marks,
)
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
)
from threadline.service.running.turn_journal import Stop
from threadline.service.running.turn_steps import execute_turn
from threadline.service.runtime import Runtime
from threadline.service.team.global_variables import TeamGlobals
from threadline.service.turns import StartRun
from threadline.store import Command, Document, Store
from threadline.telemetry import context, metrics, tracing

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
        outcome, journaled = await execute_turn(
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
    except Stop:
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
