"""Execute a workflow turn by turn, and read and annotate its runs."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import TypeAdapter

from threadline import config
from threadline.api.deps import CallerDep, PagingDep, StoreDep
from threadline.api.params import TurnIndex, TurnQuery, VersionQuery
from threadline.api.routes.common import (
    JsonBody,
    ObjectIdPath,
    WorkflowId,
    idempotency_key,
    read_execute_body,
)
from threadline.engine.turn import TurnOutcome
from threadline.errors import InvalidField
from threadline.ids import OBJECT_ID_PATTERN
from threadline.service.commands import TERMINAL
from threadline.service.definitions.envelopes import page
from threadline.service.running import reruns, run_records, runs
from threadline.service.runtime import Runtime
from threadline.service.turns import TurnRequest
from threadline.store import Document
from threadline.store import Query as StoreQuery

router = APIRouter(tags=["runs"])


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def turn_summary(doc: Document, outcome: TurnOutcome) -> JsonBody:
    """The interactive execute response for one turn."""
    state = doc.body.get("state") or {}
    threads = state.get("threads") or {}
    companions = [
        t for t, s in threads.items() if t != "0" and s.get("status") != "ended"
    ]
    return {
        "run_id": doc.id,
        "status": doc.status,
        "turn_number": state.get("turn", 0),
        "events": outcome.events,
        "is_waiting_for_input": doc.status == "waiting_for_user_input",
        "is_completed": doc.status in TERMINAL,
        "error": outcome.error,
        "next_input_hint": outcome.next_input_hint,
        "has_active_companions": bool(companions),
        "has_background_work": outcome.background,
    }


@router.post("/workflows/{workflow_id}/execute")
async def execute(
    request: Request,
    store: StoreDep,
    caller: CallerDep,
    workflow_id: WorkflowId,
    body: Annotated[JsonBody, Body()],
    version: VersionQuery = None,
) -> JsonBody:
    """Run one turn: ``{run_input, run_id}`` or a flat run input (legacy shape)."""
    parsed = read_execute_body(body)
    doc, outcome = await runs.run_one_turn(
        store,
        caller,
        _runtime(request),
        TurnRequest(
            workflow_id=workflow_id,
            run_id=parsed.run_id,
            raw_input=parsed.raw_input,
            query_version=version,
            field=parsed.field,
            idempotency_key=idempotency_key(request),
        ),
    )
    if parsed.interactive:
        return turn_summary(doc, outcome)
    return await run_records.run_record(store, doc)


@router.post("/workflows/{workflow_id}/runs/{run_id}/pump-companions")
async def pump_companions(
    request: Request,
    store: StoreDep,
    caller: CallerDep,
    workflow_id: WorkflowId,
    run_id: ObjectIdPath,
) -> JsonBody:
    """Advance background work (scheduled threads, waiting edges) of a run."""
    doc, outcome = await runs.run_one_turn(
        store,
        caller,
        _runtime(request),
        TurnRequest(
            workflow_id=workflow_id,
            run_id=run_id,
            raw_input={"command": "data"},
            pump=True,
        ),
    )
    return turn_summary(doc, outcome)


@router.post("/workflow-runs")
async def start_or_resume(
    request: Request,
    store: StoreDep,
    caller: CallerDep,
    body: Annotated[JsonBody, Body()],
) -> JsonBody:
    """Legacy "start or resume": a flat run input naming ``workflow_id``."""
    workflow_id = body.get("workflow_id")
    if not isinstance(workflow_id, str) or not workflow_id:
        raise InvalidField("workflow_id: required to start or resume a run")
    doc, _ = await runs.run_one_turn(
        store,
        caller,
        _runtime(request),
        TurnRequest(
            workflow_id=workflow_id,
            run_id=body.get("workflow_run_id"),
            raw_input=body,
            idempotency_key=idempotency_key(request),
        ),
    )
    return {"workflow_run": await run_records.load(store, caller, doc.id)}


def _public(schema: JsonBody) -> JsonBody:
    """A schema without the server-only ``secret_variables``."""
    properties = {
        k: v for k, v in schema.get("properties", {}).items() if k != "secret_variables"
    }
    return {**schema, "properties": properties}


@router.get("/workflow-runs/schema")
async def run_schemas(_: CallerDep) -> JsonBody:
    """JSON schemas of a run, its input, its output and an input/output pair."""
    return {
        "run_schema": config.WorkflowRun.model_json_schema(),
        "run_input_schema": _public(config.WorkflowRunInput.model_json_schema()),
        "run_output_schema": TypeAdapter(config.WorkflowRunOutput).json_schema(),
        "run_input_output_pair_schema": (
            config.WorkflowRunInputOutputPair.model_json_schema()
        ),
    }


@router.get("/workflow-runs")
async def list_runs(
    store: StoreDep,
    caller: CallerDep,
    paging: PagingDep,
    workflow_id: Annotated[str | None, Query(pattern=OBJECT_ID_PATTERN)] = None,
    status: str | None = None,
    run_by: str | None = None,
    source_workflow_run_id: Annotated[
        str | None, Query(pattern=OBJECT_ID_PATTERN)
    ] = None,
    source_turn_index: TurnQuery = None,
) -> JsonBody:
    """The team's runs, newest first (filters: workflow_id, status, run_by, and
    the re-runs of ``source_workflow_run_id``, optionally of ``source_turn_index``)."""
    equals: dict[str, Any] = {}
    for key, value in (
        ("workflow_id", workflow_id),
        ("status", status),
        ("name", run_by),
    ):
        if value is not None:
            equals[key] = value
    if source_workflow_run_id is not None:
        equals["type"] = reruns.lineage_type(source_workflow_run_id)
    ids = None
    if source_workflow_run_id is not None and source_turn_index is not None:
        ids = await reruns.rerun_ids(
            store, caller, source_workflow_run_id, source_turn_index
        )
    query = StoreQuery(
        equals=equals,
        ids=ids,
        search=paging.search,
        start=paging.start,
        end=paging.end,
        page=paging.page,
        size=paging.size,
    )
    items, total = await run_records.list_(store, caller, query)
    return page("workflow_runs", items, total)


@router.get("/workflow-runs/{run_id}")
async def get_run(store: StoreDep, caller: CallerDep, run_id: ObjectIdPath) -> JsonBody:
    """One run, with every turn."""
    return {"workflow_run": await run_records.get(store, caller, run_id)}


@router.delete("/workflow-runs/{run_id}", status_code=204)
async def delete_run(
    store: StoreDep, caller: CallerDep, run_id: ObjectIdPath
) -> Response:
    """Delete a run."""
    await run_records.delete(store, caller, run_id)
    return Response(status_code=204)


@router.get("/workflow-runs/{run_id}/evaluation-result")
async def evaluation_result(
    store: StoreDep, caller: CallerDep, run_id: ObjectIdPath
) -> JsonBody:
    """The automatic evaluation's result for this run."""
    return await run_records.evaluation_result(store, caller, run_id)


@router.post("/workflow-runs/{run_id}/comments")
async def add_comment(
    store: StoreDep,
    caller: CallerDep,
    run_id: ObjectIdPath,
    body: Annotated[JsonBody, Body()],
) -> JsonBody:
    """Comment on a finished run; returns the run."""
    return {"workflow_run": await run_records.add_comment(store, caller, run_id, body)}


@router.delete("/workflow-runs/{run_id}/comments/{comment_id}")
async def delete_comment(
    store: StoreDep, caller: CallerDep, run_id: ObjectIdPath, comment_id: str
) -> JsonBody:
    """Delete a run comment; returns the run."""
    return {
        "workflow_run": await run_records.delete_comment(
            store, caller, run_id, comment_id
        )
    }


@router.post("/workflow-runs/{run_id}/events/{event_id}/comments")
async def comment_event(
    store: StoreDep,
    caller: CallerDep,
    run_id: ObjectIdPath,
    event_id: str,
    body: Annotated[JsonBody, Body()],
) -> JsonBody:
    """Comment on one event."""
    return await run_records.comment_on(
        store, caller, run_id, ("event", event_id), body
    )


@router.delete("/workflow-runs/{run_id}/events/{event_id}/comments/{comment_id}")
async def uncomment_event(
    store: StoreDep,
    caller: CallerDep,
    run_id: ObjectIdPath,
    event_id: str,
    comment_id: str,
) -> JsonBody:
    """Delete an event comment."""
    return await run_records.comment_on(
        store, caller, run_id, ("event", event_id), None, comment_id
    )


@router.put("/workflow-runs/{run_id}/events/{event_id}/rating")
async def rate_event(
    store: StoreDep,
    caller: CallerDep,
    run_id: ObjectIdPath,
    event_id: str,
    body: Annotated[JsonBody, Body()],
) -> JsonBody:
    """Set the caller's rating on an event."""
    return await run_records.rate(
        store, caller, run_id, ("event", event_id), body.get("value")
    )


@router.delete("/workflow-runs/{run_id}/events/{event_id}/rating")
async def unrate_event(
    store: StoreDep, caller: CallerDep, run_id: ObjectIdPath, event_id: str
) -> JsonBody:
    """Remove the caller's rating from an event."""
    return await run_records.rate(store, caller, run_id, ("event", event_id), None)


@router.put("/workflow-runs/{run_id}/turns/{turn_index}/rating")
async def rate_turn(
    store: StoreDep,
    caller: CallerDep,
    run_id: ObjectIdPath,
    turn_index: TurnIndex,
    body: Annotated[JsonBody, Body()],
) -> JsonBody:
    """Set the caller's rating on a whole turn."""
    return await run_records.rate(
        store, caller, run_id, ("turn", turn_index), body.get("value")
    )


@router.delete("/workflow-runs/{run_id}/turns/{turn_index}/rating")
async def unrate_turn(
    store: StoreDep, caller: CallerDep, run_id: ObjectIdPath, turn_index: TurnIndex
) -> JsonBody:
    """Remove the caller's rating from a turn."""
    return await run_records.rate(store, caller, run_id, ("turn", turn_index), None)


@router.post("/workflow-runs/{run_id}/turns/{turn_index}/comments")
async def comment_turn(
    store: StoreDep,
    caller: CallerDep,
    run_id: ObjectIdPath,
    turn_index: TurnIndex,
    body: Annotated[JsonBody, Body()],
) -> JsonBody:
    """Comment on a turn."""
    return await run_records.comment_on(
        store, caller, run_id, ("turn", turn_index), body
    )


@router.delete("/workflow-runs/{run_id}/turns/{turn_index}/comments/{comment_id}")
async def uncomment_turn(
    store: StoreDep,
    caller: CallerDep,
    run_id: ObjectIdPath,
    turn_index: TurnIndex,
    comment_id: str,
) -> JsonBody:
    """Delete a turn comment."""
    return await run_records.comment_on(
        store, caller, run_id, ("turn", turn_index), None, comment_id
    )
