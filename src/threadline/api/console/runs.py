"""Run pages: the filtered runs list (live statuses) and one run, turn by turn."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from threadline.api.console import graph_svg, run_page
from threadline.api.console.web import FormDep, VisitorDep, page, redirect
from threadline.api.console.workflows import checked_id
from threadline.api.deps import SettingsDep, StoreDep, get_runtime
from threadline.config.workflow_run import TERMINAL_STATUSES, WorkflowStatus
from threadline.errors import InvalidField, ThreadlineError
from threadline.service.running import diagnosis, run_records, run_views
from threadline.service.running.run_views import RunFilter

router = APIRouter(include_in_schema=False)
STATUSES = tuple(s.value for s in WorkflowStatus)
TERMINAL = tuple(s.value for s in TERMINAL_STATUSES)


def _time(field: str, value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidField(
            f"{field}: an ISO date or date-time, not {value!r}"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def run_filter(
    workflow_id: str = "",
    version: str = "",
    status: str = "",
    termination_source: str = "",
    evaluation: str = "",
    rerun_of: str = "",
    start: str = "",
    end: str = "",
    page_number: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> RunFilter:
    """The list's filters from the query string (blank fields: no filter)."""
    if workflow_id:
        checked_id("workflow", workflow_id)
    if rerun_of:
        checked_id("run", rerun_of)
    if version and not version.isdigit():
        raise InvalidField(f"version: a version number, not {version!r}")
    if evaluation and evaluation not in run_views.EVALUATION_FILTERS:
        raise InvalidField(f"evaluation: one of {run_views.EVALUATION_FILTERS}")
    return RunFilter(
        workflow_id=workflow_id or None,
        version_number=int(version) if version else None,
        status=status or None,
        termination_source=termination_source or None,
        evaluation=evaluation or None,
        rerun_of=rerun_of or None,
        start=_time("start", start),
        end=_time("end", end),
        page=page_number,
    )


FilterDep = Annotated[RunFilter, Depends(run_filter)]


@router.get("/ui/runs")
async def list_page(
    request: Request, visitor: VisitorDep, store: StoreDep, f: FilterDep
) -> Response:
    """The team's runs, newest first, filtered; the table refreshes itself."""
    rows, total, more = await run_views.list_rows(store, visitor.caller, f)
    return page(
        request,
        "runs.html",
        visitor=visitor,
        rows=rows,
        total=total,
        more=more,
        scan_limit=run_views.SCAN_LIMIT,
        f=f,
        query=request.url.query,
        statuses=STATUSES,
        evaluations=run_views.EVALUATION_FILTERS,
        pages=max((total + f.size - 1) // f.size, f.page + 1 if more else 1),
    )


@dataclass(frozen=True, slots=True)
class Shown:
    """A run for its page, and why it is not moving (None once it has ended)."""

    doc: Any
    run: dict[str, Any]
    why: str | None


async def _view(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    visitor: VisitorDep,
    run_id: str,
) -> Shown:
    checked_id("run", run_id)
    found = await run_views.view(store, visitor.caller, run_id)
    runtime = get_runtime(request)
    diagnosed = await diagnosis.diagnose_run(
        store,
        visitor.caller,
        run_id,
        timing=diagnosis.Timing(
            max_turn_seconds=settings.max_turn_seconds,
            worker_dead_seconds=settings.worker_dead_seconds,
            heartbeat_seconds=settings.heartbeat_seconds,
        ),
        this_worker=runtime.worker_id if run_id in runtime.drivers else None,
    )
    why = None if diagnosed.get("state") == "ended" else diagnosed.get("sentence")
    return Shown(found.doc, found.run, why)


@router.get("/ui/runs/{run_id}")
async def run_detail(
    request: Request,
    visitor: VisitorDep,
    store: StoreDep,
    settings: SettingsDep,
    run_id: str,
) -> Response:
    """One run: transcript, timelines, paths, variables, totals, feedback."""
    found = await _view(request, store, settings, visitor, run_id)
    run = found.run
    config = run.get("workflow_config_fully_hydrated") or {}
    turns = run_page.turns(run)
    cycle = run_page.cycle(run)
    waiting = (
        set(run_views.waiting_nodes(run))
        if run.get("status") == ("waiting_for_user_input")
        else set()
    )
    for turn in turns:
        last = turn.index == len(turns) - 1
        marks = graph_svg.Marks(
            path_nodes=set(turn.path_nodes),
            path_edges=set(turn.path_edges),
            waiting=waiting if last else set(),
            cycle_nodes=set(cycle) if last else set(),
        )
        turn.svg = graph_svg.draw(config, marks)
    reruns, _, _ = await run_views.list_rows(
        store, visitor.caller, RunFilter(rerun_of=found.doc.id, size=20)
    )
    evaluation = await _evaluation(store, visitor, run)
    config_name = (config.get("workflow_config") or {}).get("name")
    return page(
        request,
        "run.html",
        visitor=visitor,
        doc=found.doc,
        run=run,
        why=found.why,
        turns=turns,
        cycle=cycle,
        cycle_svg=graph_svg.draw(config, graph_svg.Marks(cycle_nodes=set(cycle))),
        totals=run_page.totals(run),
        finished=run.get("status") in TERMINAL,
        reruns=reruns,
        evaluation=evaluation,
        workflow_name=config_name,
    )


async def _evaluation(
    store: StoreDep, visitor: VisitorDep, run: dict[str, Any]
) -> dict[str, Any] | None:
    info = run.get("evaluation_run_info") or {}
    if not info.get("evaluation_workflow_run_id"):
        return None
    result: dict[str, Any] = {"run_id": info["evaluation_workflow_run_id"]}
    try:
        doc = await run_records.load(store, visitor.caller, result["run_id"])
    except ThreadlineError:
        return result
    pairs = doc["workflow_run"].get("input_output_pairs") or []
    for pair in pairs:
        for e in (pair.get("run_output") or {}).get("events") or []:
            if e.get("type") == "workflow_show_state":
                result["result"] = e.get("runtime_variables")
    result["status"] = doc["workflow_run"].get("status")
    return result


@router.get("/ui/runs/{run_id}/status")
async def run_status(
    request: Request,
    visitor: VisitorDep,
    store: StoreDep,
    settings: SettingsDep,
    run_id: str,
    shown: str = "",
    turns: int = 0,
) -> Response:
    """The live status line; asks htmx to reload the page when the run moved."""
    found = await _view(request, store, settings, visitor, run_id)
    status = found.run.get("status")
    count = len(found.run.get("input_output_pairs") or [])
    response = page(
        request,
        "run_status.html",
        visitor=visitor,
        run=found.run,
        doc=found.doc,
        why=found.why,
    )
    if status != shown or count != turns:
        response.headers["HX-Refresh"] = "true"
    return response


def _where(fields: dict[str, str]) -> tuple[str, Any] | None:
    if fields.get("event_id"):
        return ("event", fields["event_id"])
    turn = fields.get("turn_index", "")
    if turn:
        if not turn.isdigit():
            raise InvalidField(f"turn_index: a turn number, not {turn!r}")
        return ("turn", int(turn))
    return None


@router.post("/ui/runs/{run_id}/comments")
async def add_comment(
    request: Request, visitor: VisitorDep, store: StoreDep, run_id: str, fields: FormDep
) -> Response:
    """Comment on the run, one of its turns or one of its events."""
    checked_id("run", run_id)
    body = {"content": fields.get("content", "")}
    where = _where(fields)
    if where is None:
        await run_records.add_comment(store, visitor.caller, run_id, body)
    else:
        await run_records.comment_on(store, visitor.caller, run_id, where, body)
    return redirect(f"/ui/runs/{run_id}#feedback", request)


@router.post("/ui/runs/{run_id}/comments/{comment_id}/delete")
async def delete_comment(
    request: Request,
    visitor: VisitorDep,
    store: StoreDep,
    run_id: str,
    comment_id: str,
    fields: FormDep,
) -> Response:
    """Remove a comment from the run, a turn or an event."""
    checked_id("run", run_id)
    where = _where(fields)
    if where is None:
        await run_records.delete_comment(store, visitor.caller, run_id, comment_id)
    else:
        await run_records.comment_on(
            store, visitor.caller, run_id, where, None, comment_id
        )
    return redirect(f"/ui/runs/{run_id}#feedback", request)


@router.post("/ui/runs/{run_id}/rating")
async def rate(
    request: Request, visitor: VisitorDep, store: StoreDep, run_id: str, fields: FormDep
) -> Response:
    """Set (``value``) or remove (blank) the visitor's rating on a turn or event."""
    checked_id("run", run_id)
    where = _where(fields)
    if where is None:
        raise InvalidField("turn_index or event_id: what the rating is about")
    value = fields.get("value") or None
    await run_records.rate(store, visitor.caller, run_id, where, value)
    return redirect(f"/ui/runs/{run_id}#feedback", request)
