"""Automatic evaluation runs: when a run completes, its evaluator workflow runs.

A workflow whose config carries ``evaluation_config.evaluator_workflow_id`` gets an
evaluation run after each of its runs completes: a run of the evaluator workflow
(its pinned ``evaluator_workflow_version_number``, else its active version) started
in the background with the dynamic variable ``{{workflow_run_id}}`` naming the
source run, marked ``is_evaluation_run`` with ``source_workflow_run_id``. Once it has
run, the source run's ``evaluation_run_info.evaluation_workflow_run_id`` names it and
``GET /v1/workflow-runs/{id}/evaluation-result`` answers. Evaluation runs are never
evaluated themselves, nor are a simulation's runs here: the simulation evaluates
both sides of a conversation, with the selected workflow's evaluator, when it ends.
A failure to evaluate is logged and recorded on the source run
(``evaluation_run_info.error``); it never changes the source run's status.

The evaluator's run is started with the ``StartRun`` the caller gives (the turn
driver passes on ``running.runs.run_one_turn``): this room sits below the
running room and does not import it.

An evaluation start refused by a concurrency limit (the evaluator's workflow limit
or the team's) is not lost: it waits in the start queue
(``service.automation.start_queue``) as an ``evaluation_start`` document of the
``schedules`` collection and is started when a slot frees. Meanwhile the source run's
``evaluation_run_info`` (or the turn's ``evaluation``, turn by turn) carries ``waiting:
{level, limit, position}``.
"""

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

from threadline.errors import ThreadlineError, TooManyRequests
from threadline.ids import new_object_id
from threadline.service.automation import schedules as sch
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.runtime import Runtime
from threadline.service.team import admission
from threadline.service.turns import StartRun, TurnRequest
from threadline.store import Document, Store

JsonDict = dict[str, Any]
log = logging.getLogger("threadline.evaluations")


def evaluation_config(doc: Document) -> JsonDict | None:
    """The evaluation config of a (non-evaluation) run, or None."""
    run = doc.body.get("workflow_run") or {}
    if run.get("is_evaluation_run"):
        return None
    snapshot = run.get("workflow_config_fully_hydrated") or {}
    config = (snapshot.get("workflow_config") or {}).get("evaluation_config") or {}
    return config if config.get("evaluator_workflow_id") else None


def is_simulated(doc: Document) -> bool:
    """A run one side of a simulated conversation: its simulation evaluates it
    when the conversation ends (``service.simulations.conversation``)."""
    run = doc.body.get("workflow_run") or {}
    misc = run.get("miscellaneous") or {}
    return run.get("run_by") == "simulation" and isinstance(
        misc.get("simulation"), dict
    )


def _background(runtime: Runtime, work: Coroutine[Any, Any, Any]) -> None:
    task = asyncio.create_task(work)
    runtime.background.add(task)
    task.add_done_callback(runtime.background.discard)


def schedule(
    store: Store, caller: Caller, runtime: Runtime, start_run: StartRun, doc: Document
) -> None:
    """Start the evaluations ``doc`` asks for, in the background (with
    ``start_run``).

    With ``enable_turn_by_turn_evaluation`` the turn just recorded is evaluated
    (its result lands in that turn's ``evaluation``); a completed run is evaluated
    as a whole.
    """
    config = evaluation_config(doc)
    if config is None or is_simulated(doc):
        return
    turns = int(doc.body.get("turn_count") or 0)
    if config.get("enable_turn_by_turn_evaluation") and turns:
        _background(
            runtime,
            evaluate_turn(store, caller, runtime, start_run, doc, config, turns - 1),
        )
    if doc.status == "completed":
        _background(runtime, evaluate(store, caller, runtime, start_run, doc, config))


async def _mark_source(
    store: Store, caller: Caller, source_id: str, info: JsonDict
) -> None:
    async with store.begin() as tx:
        source = await tx.documents("workflow_runs").get(caller.team_id, source_id)
        if source is None:
            return
        run = {**source.body["workflow_run"], "evaluation_run_info": info}
        await tx.documents("workflow_runs").replace(
            replace(
                source, body={**source.body, "workflow_run": run}, updated_at=wf.now()
            )
        )


async def _mark_evaluation(
    store: Store, caller: Caller, run_id: str, source_id: str
) -> None:
    async with store.begin() as tx:
        doc = await tx.documents("workflow_runs").get(caller.team_id, run_id)
        if doc is None:
            return
        run = {
            **doc.body["workflow_run"],
            "is_evaluation_run": True,
            "source_workflow_run_id": source_id,
        }
        await tx.documents("workflow_runs").replace(
            replace(doc, body={**doc.body, "workflow_run": run})
        )


def _raw_input(source_id: str, dynamic: JsonDict, tag: JsonDict | None) -> JsonDict:
    raw: JsonDict = {
        "command": "start",
        "run_by": "evaluation",
        "dynamic_variables": {"workflow_run_id": source_id, **dynamic},
        "thread_to_node_inputs": {"0": {"node_run_inputs": []}},
    }
    if tag is not None:
        raw["miscellaneous"] = {sch.TAG: tag}
    return raw


async def _start(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    start_run: StartRun,
    source_id: str,
    config: JsonDict,
    dynamic: JsonDict,
    tag: JsonDict | None = None,
) -> Document:
    """Run the evaluator's first turn (raises what the start raises)."""
    request = TurnRequest(
        workflow_id=str(config["evaluator_workflow_id"]),
        raw_input=_raw_input(source_id, dynamic, tag),
        query_version=config.get("evaluator_workflow_version_number"),
    )
    done, _ = await start_run(store, caller, runtime, request)
    await _mark_evaluation(store, caller, done.id, source_id)
    return done


def _refusal(exc: TooManyRequests) -> JsonDict | None:
    if exc.code != admission.CODE:
        return None
    details = exc.details if isinstance(exc.details, dict) else {}
    return {"level": details.get("level") or "team", "limit": details.get("limit")}


async def _run_evaluator(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    start_run: StartRun,
    source: Document,
    config: JsonDict,
    turn_index: int | None,
) -> tuple[Document | None, str | None, JsonDict | None]:
    """Start the evaluator workflow: its run, or why not, or how it waits."""
    dynamic = {} if turn_index is None else {"turn_index": turn_index}
    try:
        done = await _start(
            store, caller, runtime, start_run, source.id, config, dynamic
        )
    except TooManyRequests as exc:
        refused = _refusal(exc)
        if refused is None:
            return None, exc.message, None
        waiting = await enqueue(store, caller, source.id, config, turn_index, refused)
        log.info("evaluation of run %s waits for a slot: %s", source.id, waiting)
        return None, None, waiting
    except ThreadlineError as exc:
        log.warning("evaluation of run %s could not start: %s", source.id, exc.message)
        return None, exc.message, None
    return done, None, None


async def enqueue(
    store: Store,
    caller: Caller,
    source_id: str,
    config: JsonDict,
    turn_index: int | None,
    refused: JsonDict,
) -> JsonDict:
    """Queue a refused evaluation start; return its ``waiting`` info."""
    at = wf.now()
    doc = Document(
        id=new_object_id(),
        team_id=caller.team_id,
        body={
            "source_run_id": source_id,
            "evaluation_config": {
                "evaluator_workflow_id": config["evaluator_workflow_id"],
                "evaluator_workflow_version_number": config.get(
                    "evaluator_workflow_version_number"
                ),
            },
            "turn_index": turn_index,
            "scheduled_time": at.isoformat(),
            "modified_at": at.isoformat(),
        },
        created_at=at,
        updated_at=at,
        created_by=caller.user_id,
        updated_by=caller.user_id,
        workflow_id=str(config["evaluator_workflow_id"]),
        type=sch.EVALUATION_START,
        name=f"evaluation-start-{source_id}",
        status="pending",
    )
    async with store.begin() as tx:
        await tx.documents(sch.COLLECTION).insert(doc)
        queue = await sch.team_queue(tx, caller.team_id, at)
    level = str(refused["level"])
    position = (
        sch.position(queue, doc.id, level) if any(d.id == doc.id for d in queue) else 1
    )
    waiting = {"level": level, "limit": refused["limit"], "position": position}
    doc = replace(doc, body={**doc.body, "waiting": waiting})
    async with store.begin() as tx:
        await tx.documents(sch.COLLECTION).replace(doc, expected_status="pending")
    await show_waiting(store, doc, waiting)
    return waiting


async def show_waiting(store: Store, doc: Document, waiting: JsonDict) -> None:
    """Show on the source run (or its turn) why its evaluation waits."""
    caller = Caller(team_id=doc.team_id, user_id=doc.created_by or "evaluations")
    source_id = str(doc.body["source_run_id"])
    index = doc.body.get("turn_index")
    if index is None:
        info = {"evaluation_workflow_run_id": None, "waiting": waiting}
        await _mark_source(store, caller, source_id, info)
        return
    await _record_turn(
        store,
        caller,
        source_id,
        int(index),
        {
            "evaluation_workflow_run_id": None,
            "status": "waiting",
            "evaluation_result": None,
            "error": None,
            "waiting": waiting,
        },
    )


async def start_queued(
    store: Store, runtime: Runtime, start_run: StartRun, doc: Document
) -> tuple[str | None, str | None, tuple[str, int | None] | None]:
    """Start a claimed ``evaluation_start`` (with ``start_run``): its run id, or
    its error, or the (level, limit) of the limit that refused it again.

    Started (or failed for good), the source run is updated and the document
    deleted. The run input carries the queue tag, so a start whose process died is
    found again and settled with ``finish_queued``.
    """
    caller = Caller(team_id=doc.team_id, user_id=doc.created_by or "evaluations")
    config = dict(doc.body.get("evaluation_config") or {})
    index = doc.body.get("turn_index")
    dynamic = {} if index is None else {"turn_index": index}
    tag = {"schedule_id": doc.id, "scheduled_time": doc.body["scheduled_time"]}
    source_id = str(doc.body["source_run_id"])
    try:
        done = await _start(
            store, caller, runtime, start_run, source_id, config, dynamic, tag
        )
    except TooManyRequests as exc:
        refused = _refusal(exc)
        if refused is not None:
            limit = refused["limit"]
            level = str(refused["level"])
            return None, None, (level, limit if isinstance(limit, int) else None)
        await finish_queued(store, doc, None, exc.message)
        return None, exc.message, None
    except ThreadlineError as exc:
        log.warning("queued evaluation %s could not start: %s", doc.id, exc.message)
        await finish_queued(store, doc, None, exc.message)
        return None, exc.message, None
    await finish_queued(store, doc, done.id, None)
    return done.id, None, None


async def finish_queued(
    store: Store, doc: Document, run_id: str | None, error: str | None
) -> None:
    """Record a queued evaluation's outcome on its source and drop the document."""
    caller = Caller(team_id=doc.team_id, user_id=doc.created_by or "evaluations")
    source_id = str(doc.body["source_run_id"])
    index = doc.body.get("turn_index")
    if run_id is not None:
        await _mark_evaluation(store, caller, run_id, source_id)
    if index is None:
        info: JsonDict = {"evaluation_workflow_run_id": run_id}
        if error:
            info["error"] = error
        await _mark_source(store, caller, source_id, info)
    else:
        done = None
        if run_id is not None:
            async with store.begin() as tx:
                done = await tx.documents("workflow_runs").get(doc.team_id, run_id)
        await _record_turn_result(store, caller, source_id, int(index), done, error)
    async with store.begin() as tx:
        await tx.documents(sch.COLLECTION).delete(doc.team_id, doc.id)


async def evaluate(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    start_run: StartRun,
    doc: Document,
    config: JsonDict,
) -> str | None:
    """Run the evaluator on the completed run ``doc``; return the evaluation's id
    (None when it could not start or waits in the queue)."""
    done, error, waiting = await _run_evaluator(
        store, caller, runtime, start_run, doc, config, None
    )
    if waiting is not None:
        return None
    info: JsonDict = {"evaluation_workflow_run_id": done.id if done else None}
    if error:
        info["error"] = error
    await _mark_source(store, caller, doc.id, info)
    return done.id if done else None


def _last_state(pairs: list[JsonDict]) -> JsonDict | None:
    result = None
    for pair in pairs:
        for event in (pair.get("run_output") or {}).get("events", []):
            if event.get("type") == "workflow_show_state":
                result = event.get("runtime_variables")
    return result


async def evaluate_turn(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    start_run: StartRun,
    doc: Document,
    config: JsonDict,
    index: int,
) -> None:
    """Evaluate one turn into ``input_output_pairs[index].evaluation``."""
    done, error, waiting = await _run_evaluator(
        store, caller, runtime, start_run, doc, config, index
    )
    if waiting is None:
        await _record_turn_result(store, caller, doc.id, index, done, error)


async def _record_turn_result(
    store: Store,
    caller: Caller,
    source_id: str,
    index: int,
    done: Document | None,
    error: str | None,
) -> None:
    async with store.begin() as tx:
        result = (
            _last_state(await tx.turns().list(caller.team_id, done.id))
            if done
            else None
        )
    await _record_turn(
        store,
        caller,
        source_id,
        index,
        {
            "evaluation_workflow_run_id": done.id if done else None,
            "status": done.status if done else "failed",
            "evaluation_result": result,
            "error": error,
        },
    )


async def _record_turn(
    store: Store, caller: Caller, source_id: str, index: int, evaluation: JsonDict
) -> None:
    """Write a turn's evaluation, unless a final one is already there."""
    async with store.begin() as tx:
        turns = tx.turns()
        pairs = await turns.list(caller.team_id, source_id)
        if index >= len(pairs):
            return
        current = pairs[index].get("evaluation")
        if current is not None and current.get("status") != "waiting":
            return
        pairs[index]["evaluation"] = evaluation
        await turns.replace(caller.team_id, source_id, index, pairs[index], wf.now())
