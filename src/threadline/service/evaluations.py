"""Automatic evaluation runs: when a run completes, its evaluator workflow runs.

A workflow whose config carries ``evaluation_config.evaluator_workflow_id`` gets an
evaluation run after each of its runs completes: a run of the evaluator workflow
(its pinned ``evaluator_workflow_version_number``, else its active version) started
in the background with the dynamic variable ``{{workflow_run_id}}`` naming the
source run, marked ``is_evaluation_run`` with ``source_workflow_run_id``. Once it has
run, the source run's ``evaluation_run_info.evaluation_workflow_run_id`` names it and
``GET /v1/workflow-runs/{id}/evaluation-result`` answers. Evaluation runs are never
evaluated themselves. A failure to evaluate is logged and recorded on the source run
(``evaluation_run_info.error``); it never changes the source run's status.
"""

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

from threadline.errors import ThreadlineError
from threadline.service import workflows as wf
from threadline.service.caller import Caller
from threadline.service.runtime import Runtime
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


def _background(runtime: Runtime, work: Coroutine[Any, Any, Any]) -> None:
    task = asyncio.create_task(work)
    runtime.background.add(task)
    task.add_done_callback(runtime.background.discard)


def schedule(store: Store, caller: Caller, runtime: Runtime, doc: Document) -> None:
    """Start the evaluations ``doc`` asks for, in the background.

    With ``enable_turn_by_turn_evaluation`` the turn just recorded is evaluated
    (its result lands in that turn's ``evaluation``); a completed run is evaluated
    as a whole.
    """
    config = evaluation_config(doc)
    if config is None:
        return
    turns = int(doc.body.get("turn_count") or 0)
    if config.get("enable_turn_by_turn_evaluation") and turns:
        _background(
            runtime, evaluate_turn(store, caller, runtime, doc, config, turns - 1)
        )
    if doc.status == "completed":
        _background(runtime, evaluate(store, caller, runtime, doc, config))


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


async def _run_evaluator(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    source: Document,
    config: JsonDict,
    dynamic: JsonDict,
) -> tuple[Document | None, str | None]:
    """Start the evaluator workflow; return its run or the reason it could not."""
    from threadline.service.runs import run_one_turn

    raw = {
        "command": "start",
        "run_by": "evaluation",
        "dynamic_variables": {"workflow_run_id": source.id, **dynamic},
        "thread_to_node_inputs": {"0": {"node_run_inputs": []}},
    }
    try:
        done, _ = await run_one_turn(
            store,
            caller,
            runtime,
            workflow_id=str(config["evaluator_workflow_id"]),
            run_id=None,
            raw_input=raw,
            query_version=config.get("evaluator_workflow_version_number"),
            field="",
        )
    except ThreadlineError as exc:
        log.warning("evaluation of run %s could not start: %s", source.id, exc.message)
        return None, exc.message
    await _mark_evaluation(store, caller, done.id, source.id)
    return done, None


async def evaluate(
    store: Store, caller: Caller, runtime: Runtime, doc: Document, config: JsonDict
) -> str | None:
    """Run the evaluator on the completed run ``doc``; return the evaluation's id."""
    done, error = await _run_evaluator(store, caller, runtime, doc, config, {})
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
    doc: Document,
    config: JsonDict,
    index: int,
) -> None:
    """Evaluate one turn into ``input_output_pairs[index].evaluation``."""
    done, error = await _run_evaluator(
        store, caller, runtime, doc, config, {"turn_index": index}
    )
    async with store.begin() as tx:
        turns = tx.turns()
        result = (
            _last_state(await turns.list(caller.team_id, done.id)) if done else None
        )
        pairs = await turns.list(caller.team_id, doc.id)
        if index >= len(pairs) or pairs[index].get("evaluation") is not None:
            return
        pairs[index]["evaluation"] = {
            "evaluation_workflow_run_id": done.id if done else None,
            "status": done.status if done else "failed",
            "evaluation_result": result,
            "error": error,
        }
        await turns.replace(caller.team_id, doc.id, index, pairs[index], wf.now())
