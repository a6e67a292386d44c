"""Execute a workflow turn by turn, and read and annotate its runs."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import TypeAdapter

from threadline import config
from threadline.api.deps import CallerDep, PagingDep, SettingsDep, StoreDep
from threadline.api.lean_routes import EXECUTE, RUN, LeanRoute, lean
from threadline.api.openapi import EXTENSION
from threadline.api.params import TurnQuery, VersionQuery
from threadline.api.responses import JsonBytes
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
from threadline.service.running import diagnosis, reruns, run_records, runs
from threadline.service.runtime import Runtime
from threadline.service.turns import TurnRequest
from threadline.store import Document
from threadline.store import Query as StoreQuery

# LeanRoute: execute and get run skip FastAPI's parameter solver when a request
# is plainly valid (api/lean_routes.py); the other routes are unchanged.
router = APIRouter(tags=["runs"], route_class=LeanRoute)


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


# The hot routes answer JsonBytes (encoded once, not validated again) and declare
# their response model, so the OpenAPI document still describes them.


@router.post("/workflows/{workflow_id}/execute", response_model=JsonBody)
@lean(EXECUTE)
async def execute(
    request: Request,
    store: StoreDep,
    caller: CallerDep,
    workflow_id: WorkflowId,
    body: Annotated[JsonBody, Body()],
    version: VersionQuery = None,
) -> Response:
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
        return JsonBytes(turn_summary(doc, outcome))
    return JsonBytes(await run_records.run_record(store, doc))


@router.post(
    "/workflows/{workflow_id}/runs/{run_id}/pump-companions", response_model=JsonBody
)
async def pump_companions(
    request: Request,
    store: StoreDep,
    caller: CallerDep,
    workflow_id: WorkflowId,
    run_id: ObjectIdPath,
) -> Response:
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
    return JsonBytes(turn_summary(doc, outcome))


@router.post("/workflow-runs", response_model=JsonBody)
async def start_or_resume(
    request: Request,
    store: StoreDep,
    caller: CallerDep,
    body: Annotated[JsonBody, Body()],
) -> Response:
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
    return JsonBytes({"workflow_run": await run_records.load(store, caller, doc.id)})


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


@router.get("/workflow-runs", response_model=JsonBody)
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
) -> Response:
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
    return JsonBytes(
        page("workflow_runs", items, total, page=query.page, size=query.size)
    )


@router.get("/workflow-runs/{run_id}", response_model=JsonBody)
@lean(RUN)
async def get_run(
    request: Request, store: StoreDep, caller: CallerDep, run_id: ObjectIdPath
) -> Response:
    """One run, with every turn (and, with a run budget, ``run_budget_usage``)."""
    runtime: Runtime = request.app.state.runtime
    found = await run_records.get(store, caller, run_id, runtime.clock())
    return JsonBytes({"workflow_run": found})


@router.get(
    "/workflow-runs/{run_id}/diagnosis",
    openapi_extra={EXTENSION: True},
)
async def diagnose_run(
    request: Request,
    store: StoreDep,
    caller: CallerDep,
    settings: SettingsDep,
    run_id: ObjectIdPath,
) -> JsonBody:
    """Why the run is not moving: one ``sentence`` and the fields of its case
    (``docs/diagnosis.md``; a Threadline extension)."""
    runtime: Runtime = request.app.state.runtime
    return await diagnosis.diagnose_run(
        store,
        caller,
        run_id,
        timing=diagnosis.Timing(
            max_turn_seconds=settings.max_turn_seconds,
            worker_dead_seconds=settings.worker_dead_seconds,
            heartbeat_seconds=settings.heartbeat_seconds,
        ),
        this_worker=runtime.worker_id if run_id in runtime.drivers else None,
    )


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
