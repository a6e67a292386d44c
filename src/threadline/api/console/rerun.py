"""Re-run from a turn: the preflight, the amendments, then the new run."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from threadline.api.console.web import FormDep, VisitorDep, page, redirect
from threadline.api.console.workflows import checked_id
from threadline.api.deps import StoreDep, get_runtime
from threadline.errors import InvalidField
from threadline.service.running import reruns, run_records
from threadline.service.runtime import Runtime

router = APIRouter(include_in_schema=False)
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
TurnPath = Annotated[int, Path(ge=0, le=1_000_000)]
HISTORY = ("FULL", "USER_AND_ASSISTANT_ONLY", "NONE")


def amendments(fields: dict[str, str]) -> dict[str, Any]:
    """The re-run body from the form: target version, history mode, message."""
    body: dict[str, Any] = {}
    version = fields.get("target_version_number", "").strip()
    if version:
        if not version.isdigit():
            raise InvalidField(f"target_version_number: a version, not {version!r}")
        body["target_version_number"] = int(version)
    if fields.get("history_mode"):
        body["history_mode"] = fields["history_mode"]
    if fields.get("message", "").strip():
        body["message"] = fields["message"].strip()
    return body


@router.get("/ui/runs/{run_id}/turns/{turn_index}/rerun")
async def preflight_page(
    request: Request,
    visitor: VisitorDep,
    store: StoreDep,
    runtime: RuntimeDep,
    run_id: str,
    turn_index: TurnPath,
    target_version_number: str = "",
) -> Response:
    """What a re-run from this turn would carry over and drop, and the form."""
    checked_id("run", run_id)
    body = amendments({"target_version_number": target_version_number})
    flight = await reruns.preflight(
        store, visitor.caller, runtime, run_id, turn_index, body
    )
    run = (await run_records.load(store, visitor.caller, run_id))["workflow_run"]
    pairs = run.get("input_output_pairs") or []
    waiting = False
    if turn_index < len(pairs):
        events = (pairs[turn_index].get("run_output") or {}).get("events") or []
        waiting = any(e.get("type") == "workflow_ready_for_input" for e in events)
    return page(
        request,
        "rerun.html",
        visitor=visitor,
        run=run,
        run_id=run_id,
        turn_index=turn_index,
        flight=flight,
        waiting=waiting,
        target_version_number=target_version_number,
        history_modes=HISTORY,
    )


@router.post("/ui/runs/{run_id}/turns/{turn_index}/rerun")
async def start_rerun(
    request: Request,
    visitor: VisitorDep,
    store: StoreDep,
    runtime: RuntimeDep,
    run_id: str,
    turn_index: TurnPath,
    fields: FormDep,
) -> Response:
    """Start the re-run (with the amendments) and go to the new run."""
    checked_id("run", run_id)
    started = await reruns.execute(
        store,
        visitor.caller,
        runtime,
        run_id,
        turn_index,
        amendments(fields),
        run_async=False,
    )
    return redirect(f"/ui/runs/{started['workflow_run_id']}", request)
