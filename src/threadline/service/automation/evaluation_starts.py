"""Starting an evaluator workflow's run, and the starts a concurrency limit refused.

A refused start waits in the start queue (``service.automation.start_queue``) as
an ``evaluation_start`` document of the ``schedules`` collection (``enqueue``); the
queue starts it when a slot frees (``start_queued``) and settles it
(``finish_queued``).
"""

import logging
from dataclasses import replace
from typing import Any

from threadline.errors import ThreadlineError, TooManyRequests
from threadline.ids import new_object_id
from threadline.service.automation import schedule_queue as sch
from threadline.service.automation.evaluation_records import (
    mark_evaluation,
    mark_source,
    record_turn_result,
    show_waiting,
)
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.runtime import Runtime
from threadline.service.team import admission
from threadline.service.turns import StartRun, TurnRequest
from threadline.store import Document, Store

JsonDict = dict[str, Any]
log = logging.getLogger("threadline.evaluations")


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


async def start_evaluator(
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
    await mark_evaluation(store, caller, done.id, source_id)
    return done


def refusal(exc: TooManyRequests) -> JsonDict | None:
    if exc.code != admission.CODE:
        return None
    details = exc.details if isinstance(exc.details, dict) else {}
    return {"level": details.get("level") or "team", "limit": details.get("limit")}


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
        done = await start_evaluator(
            store, caller, runtime, start_run, source_id, config, dynamic, tag
        )
    except TooManyRequests as exc:
        refused = refusal(exc)
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
        await mark_evaluation(store, caller, run_id, source_id)
    if index is None:
        info: JsonDict = {"evaluation_workflow_run_id": run_id}
        if error:
            info["error"] = error
        await mark_source(store, caller, source_id, info)
    else:
        done = None
        if run_id is not None:
            async with store.begin() as tx:
                done = await tx.documents("workflow_runs").get(doc.team_id, run_id)
        await record_turn_result(store, caller, source_id, int(index), done, error)
    async with store.begin() as tx:
        await tx.documents(sch.COLLECTION).delete(doc.team_id, doc.id)
