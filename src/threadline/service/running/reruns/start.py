"""Re-runs: preflight (what a re-run would keep and drop) and starting one.

The new run gets its target's config snapshot (the source's own for ``EXACT``),
copies of the turns up to the checkpoint, lineage (``source_workflow_run_id``,
``checkpoint_source_turn_index``), the usage spent up to the checkpoint
(``carried_over_llm_*``) and the checkpoint state projected by the history mode and
placed on the target's nodes (``placement``), and then continues like any run.
"""

import asyncio
import copy
from typing import Any

from threadline.engine.graph import compile_graph
from threadline.engine.usage import latency_stats, token_usage
from threadline.errors import Conflict, InvalidField, ThreadlineError
from threadline.ids import new_logical_id, new_object_id
from threadline.service.caller import Caller
from threadline.service.commands import TERMINAL
from threadline.service.definitions import workflows as wf
from threadline.service.running import costs, run_history, runs
from threadline.service.running.reruns.history import (
    apply_history_mode,
    restored_count,
    variable_count,
)
from threadline.service.running.reruns.placement import place
from threadline.service.running.reruns.source import (
    Source,
    check_index,
    checkpoint,
    lineage_type,
    load_source,
)
from threadline.service.running.reruns.targets import (
    Plan,
    Target,
    plan_for,
    require_startable,
)
from threadline.service.runtime import Runtime
from threadline.service.team import admission
from threadline.service.turns import TurnRequest
from threadline.store import Document, Store, Transaction

JsonDict = dict[str, Any]


async def preflight(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    run_id: str,
    turn: int,
    body: JsonDict,
) -> JsonDict:
    """``RerunPreflightResponse``: what a re-run would keep and drop (read only)."""
    src = await load_source(store, caller, run_id)
    check_index(src, turn)
    plan = await plan_for(store, caller, src, body)
    try:
        state: JsonDict | None = await checkpoint(store, caller, runtime, src, turn)
        rerunnable, reason = True, None
    except Conflict as exc:
        state, rerunnable, reason = None, False, exc.message
    warnings = list(plan.warnings)
    resumable, not_resumable = plan.not_resumable is None, plan.not_resumable
    try:
        require_startable(plan, body)
    except ThreadlineError as exc:
        resumable, not_resumable = False, exc.message
    carries = {"message_count": 0, "variable_count": 0}
    dropped_threads: list[str] = []
    if state is not None:
        projected = copy.deepcopy(state)
        apply_history_mode(projected, plan.history_mode)
        dropped_threads = place(projected, plan)
        if resumable and projected.get("status") in TERMINAL:
            warnings.append(
                f"the source run had ended by turn {turn}; the re-run starts ended too"
            )
        carries = {
            "message_count": restored_count(projected),
            "variable_count": variable_count(projected),
        }
    start = compile_graph(plan.snapshot).start
    return {
        "rerunnable": rerunnable,
        "reason": reason,
        "resolved_mode": plan.mode,
        "is_resumable": resumable,
        "not_resumable_reason": not_resumable,
        "entry_node_logical_id": plan.entry_node_logical_id,
        "suggested_entry_nodes": [start] if start else [],
        "node_matches": plan.node_matches,
        "unmapped_node_ids": plan.unmapped_node_ids,
        "unmapped_variable_keys": [],
        "carries_over": carries,
        "dropped": {
            "node_ids": plan.unmapped_node_ids,
            "variable_keys": [],
            "state_keys": [f"threads.{t}" for t in dropped_threads],
        },
        "warnings": warnings,
    }


async def projection(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    src: Source,
    turn: int,
    body: JsonDict,
) -> tuple[Plan, JsonDict]:
    check_index(src, turn)
    plan = await plan_for(store, caller, src, body)
    require_startable(plan, body)
    state = await checkpoint(store, caller, runtime, src, turn)
    apply_history_mode(state, plan.history_mode)
    place(state, plan)
    return plan, state


def lineage(mode: str, history_mode: str, *, edited: bool) -> JsonDict:
    """What the re-run records of how it was made (``miscellaneous.rerun``)."""
    return {"rerun": {"mode": mode, "history_mode": history_mode, "edited": edited}}


def _on_target(record: JsonDict, target: Target) -> None:
    """The run record of a re-run onto another workflow or version."""
    record.update(
        workflow_id=target.workflow_id,
        version_number=target.version_number,
        version_name=target.version_name,
        workflow_config_fully_hydrated=copy.deepcopy(target.snapshot),
    )
    record.pop("version_upgrades", None)  # the source's own history
    record.pop("run_budget", None)
    if target.run_budget:
        record["run_budget"] = target.run_budget


def new_rerun(
    caller: Caller,
    src: Source,
    turn: int,
    state: JsonDict,
    target: Target,
    misc: JsonDict | None = None,
) -> Document:
    """The re-run's document: lineage, carried-over usage, the checkpoint state,
    on the target's snapshot."""
    run_id = new_object_id()
    usage = state.get("usage") or {}
    # Its budget's tokens, cost, calls and clock restart with its own usage.
    state = {
        **state,
        "run_id": run_id,
        "usage": {},
        "started_at": None,
        "budget_warned": [],
    }
    status = str(state.get("status") or "waiting_for_user_input")
    record = copy.deepcopy(src.record)
    record.update(
        logical_id=new_logical_id("workflow_run"),
        workflow_run_id=run_id,
        status=status,
        termination_source=state.get("termination_source"),
        input_output_pairs=[],
        comments=[],
        llm_token_usage=None,
        llm_latency_stats=None,
        source_workflow_run_id=src.doc.id,
        checkpoint_source_turn_index=turn,
        carried_over_llm_token_usage=costs.with_costs(token_usage(usage)),
        carried_over_llm_latency_stats=latency_stats(usage),
        is_evaluation_run=False,
        evaluation_run_info=None,
        loop_detected=state.get("loop_detected"),
    )
    if not target.same:
        _on_target(record, target)
    record["miscellaneous"] = {**(record.get("miscellaneous") or {}), **(misc or {})}
    now = wf.now()
    doc = Document(
        id=run_id,
        team_id=caller.team_id,
        body={"workflow_run": record, "state": state, "turn_count": turn + 1},
        created_at=now,
        updated_at=now,
        created_by=caller.user_id,
        updated_by=caller.user_id,
        workflow_id=target.workflow_id,
        version_number=target.version_number,
        logical_id=record["logical_id"],
        type=lineage_type(src.doc.id),
        name=record.get("run_by"),
        status=status,
        search_text=str(record.get("run_by") or "").lower(),
    )
    return doc


async def insert_rerun(
    tx: Transaction,
    caller: Caller,
    runtime: Runtime,
    src: Source,
    turn: int,
    doc: Document,
) -> None:
    """Store the re-run and copies of the source's turns 0..``turn``.

    A re-run that starts active takes a concurrency slot like any new run: the
    workflow's and the team's limits are checked first (429 ``concurrency_limit``
    when either is full), under the same lock as every other start."""
    if doc.status in admission.ACTIVE_STATUSES:
        workflow = await wf.get_doc(tx, caller, str(doc.workflow_id))
        await admission.admit(tx, caller, workflow, runtime.team_max_concurrent_runs)
    await run_history.insert(tx, doc)
    for index, pair in enumerate(src.pairs[: turn + 1]):
        copied = {**pair, "evaluation": None, "comments": [], "ratings": []}
        await tx.turns().append(doc.team_id, doc.id, index, copied, doc.created_at)


async def _create(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    src: Source,
    turn: int,
    state: JsonDict,
    plan: Plan,
) -> Document:
    """Insert the re-run: lineage, carried-over usage, turns 0..``turn`` copied."""
    misc = lineage(plan.mode, plan.history_mode, edited=False)
    doc = new_rerun(caller, src, turn, state, plan.target, misc)
    async with store.begin() as tx:
        await insert_rerun(tx, caller, runtime, src, turn, doc)
    return doc


def _message_input(message: str) -> JsonDict:
    return {
        "command": "start",
        "thread_to_node_inputs": {
            "0": {
                "node_run_inputs": [
                    {"type": "llm", "messages": [{"type": "human", "content": message}]}
                ]
            }
        },
    }


async def _continue(
    store: Store, caller: Caller, runtime: Runtime, doc: Document, message: str
) -> Document:
    done, _ = await runs.run_one_turn(
        store,
        caller,
        runtime,
        TurnRequest(
            workflow_id=str(doc.workflow_id),
            run_id=doc.id,
            raw_input=_message_input(message),
            field="message",
        ),
    )
    return done


async def execute(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    run_id: str,
    turn: int,
    body: JsonDict,
    *,
    run_async: bool,
) -> JsonDict:
    """Start the re-run; with ``message``, drive its next turn (in the background
    when ``run_async``). Returns ``RerunStartedResponse``."""
    message = body.get("message")
    if message is not None and (not isinstance(message, str) or not message.strip()):
        raise InvalidField("message: non-blank text, or omit it to park the re-run")
    src = await load_source(store, caller, run_id)
    plan, state = await projection(store, caller, runtime, src, turn, body)
    if message is not None and state.get("status") != "waiting_for_user_input":
        raise Conflict(
            f"message: the source run was {state.get('status')!r} after turn {turn};"
            " nothing waits for a message there",
            code="rerun_not_waiting",
        )
    doc = await _create(store, caller, runtime, src, turn, state, plan)
    if message is not None:
        if run_async:
            task = asyncio.create_task(_continue(store, caller, runtime, doc, message))
            runtime.background.add(task)
            task.add_done_callback(runtime.background.discard)
        else:
            doc = await _continue(store, caller, runtime, doc, message)
    return {
        "workflow_run_id": doc.id,
        "status": doc.status,
        "resolved_mode": plan.mode,
        "entry_node_logical_id": plan.entry_node_logical_id,
        "warnings": plan.warnings,
    }
