"""Evaluation results written onto the source run: the run's
``evaluation_run_info``, a turn's ``evaluation``, and the evaluation run's own mark
(``is_evaluation_run``, ``source_workflow_run_id``)."""

from dataclasses import replace
from typing import Any

from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.store import Document, Store

JsonDict = dict[str, Any]


async def mark_source(
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


async def mark_evaluation(
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
            replace(doc, body={**doc.body, "workflow_run": run}, updated_at=wf.now())
        )


async def show_waiting(store: Store, doc: Document, waiting: JsonDict) -> None:
    """Show on the source run (or its turn) why its evaluation waits."""
    caller = Caller(team_id=doc.team_id, user_id=doc.created_by or "evaluations")
    source_id = str(doc.body["source_run_id"])
    index = doc.body.get("turn_index")
    if index is None:
        info = {"evaluation_workflow_run_id": None, "waiting": waiting}
        await mark_source(store, caller, source_id, info)
        return
    await record_turn(
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


def _last_state(pairs: list[JsonDict]) -> JsonDict | None:
    result = None
    for pair in pairs:
        for event in (pair.get("run_output") or {}).get("events", []):
            if event.get("type") == "workflow_show_state":
                result = event.get("runtime_variables")
    return result


async def record_turn_result(
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
    await record_turn(
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


async def record_turn(
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
