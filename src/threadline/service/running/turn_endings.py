"""Ending a turn: record it, refuse it, interrupt it or fail it (the safety net).

Each ending is one transaction under the run's lock that first checks this worker
still owns the command (the fence), then promotes the run's next queued command.
"""

from dataclasses import replace
from typing import Any

from threadline.engine.state import RunState
from threadline.engine.turn import TurnOutcome
from threadline.engine.usage import latency_stats, token_usage
from threadline.errors import Conflict, ThreadlineError
from threadline.service import commands as machine
from threadline.service import webhooks
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.running import costs, run_history
from threadline.service.running.turn_answers import (
    Interrupted,
    Lost,
    error_answer,
    keeps_answer,
    resolve,
    view,
)
from threadline.service.runtime import Runtime, builtin_variables
from threadline.store import Command, Document, Store, Transaction

JsonDict = dict[str, Any]


def turn_env(runtime: Runtime, turn: int) -> JsonDict:
    """The clock reading and built-ins a turn runs with, fixed when it starts so a
    resumed turn replays with the same values."""
    now = runtime.clock()
    builtins = builtin_variables(now, runtime.rng) if turn == 0 else {}
    return {"now": now, "builtins": builtins}


def state_turn(doc: Document) -> int:
    state = doc.body.get("state")
    return int(state.get("turn") or 0) if isinstance(state, dict) else 0


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
                queued.id, at=at, status="failed", response=error_answer(exc)
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


def _caller_of(command: Command) -> Caller:
    """Who sent ``command`` (its team, and its user for the audit fields)."""
    return Caller(
        team_id=command.team_id, user_id=str(command.body.get("user_id") or "")
    )


async def _own(tx: Transaction, runtime: Runtime, command: Command) -> None:
    """Fence: go on only while this worker still owns the command."""
    if not await tx.commands().update(
        command.id, at=wf.now(), expected_worker=runtime.worker_id
    ):
        raise Lost(command.id)


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
    values = None
    if answer is not None and keeps_answer(command):
        status = "failed" if "error" in answer else "done"
        values = {"status": status, "response": answer}
    # One statement on PostgreSQL; a journal deleted while not owned is rolled
    # back with the rest when Lost is raised.
    if not await tx.commands().finish(
        command.id,
        runtime.worker_id,
        at=wf.now(),
        values=values,
        forget_steps=journaled,
    ):
        raise Lost(command.id)


async def record(
    store: Store,
    runtime: Runtime,
    command: Command,
    doc: Document,
    state: RunState,
    outcome: TurnOutcome,
    journaled: bool,
) -> tuple[Document, Command | None, list[tuple[Command, Conflict]]]:
    """Save the turn, close its command, take the next one and record the run's
    webhook events (one transaction)."""
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
        await _close(tx, runtime, command, view(done, outcome), journaled=journaled)
        following, refused = await _promote_next(
            tx, runtime, doc.id, state.status, state.turn
        )
        segment = None if quiet else (count, _pair(state, run_input, outcome))
        saved = replace(done, status="running") if following else done
        stored = await run_history.save(
            tx, saved, expected_status="running", segment=segment
        )
        if stored is None:
            raise Lost(command.id)
        done = replace(done, body=stored.body)
        # The run's webhook events commit with the turn (no transaction of their
        # own after it, and none lost to a crash between the two).
        subscriptions = await webhooks.in_turn(
            tx,
            _caller_of(command),
            done,
            created=bool(command.body.get("created")),
            previous=command.body.get("previous"),
            kept=runtime.subscriptions,
        )
    run_history.remember(runtime.history_cache, stored)
    if following is None and stored.status not in machine.TERMINAL:
        runtime.run_cache.keep(stored)  # committed; the next command checks it
    if subscriptions is not None:  # read in a transaction that committed
        runtime.subscriptions.put(command.team_id, *subscriptions)
    return done, following, refused


async def refuse(runtime: Runtime, refused: list[tuple[Command, Conflict]]) -> None:
    for queued, error in refused:
        resolve(runtime, queued.id, error)


async def reject(
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
                await _close(tx, runtime, command, error_answer(error))
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
    resolve(runtime, command.id, error)
    await refuse(runtime, refused)
    return following


async def interrupted(
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
        await _close(tx, runtime, command, error_answer(error))
        stored = await run_history.save(tx, saved)
    if stored is not None:
        run_history.remember(runtime.history_cache, stored)
    resolve(runtime, command.id, error)
    await refuse(runtime, refused)
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
                other.id, at=wf.now(), status="failed", response=error_answer(gone)
            )
        await tx.commands().update(
            command.id,
            at=wf.now(),
            status="failed",
            response=error_answer(ThreadlineError(reason, code="turn_failed")),
        )
        await tx.commands().delete_steps(command.id)
        await run_history.save(tx, failed, expected_status="running")
    runtime.history_cache.forget(doc.id)
    for other in queued:
        resolve(runtime, other.id, gone)


async def failed(
    store: Store, runtime: Runtime, command: Command, doc: Document, exc: BaseException
) -> None:
    """The safety net, then the request gets the exception."""
    await _safety_net(store, runtime, command, doc, exc)
    resolve(runtime, command.id, exc)
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        raise exc
