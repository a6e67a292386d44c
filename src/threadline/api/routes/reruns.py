"""Re-runs: start a new run from a turn of an existing run (``client.reruns``)."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response

from threadline.api.deps import CallerDep, StoreDep
from threadline.api.params import TurnIndex
from threadline.api.routes.common import JsonBody, ObjectIdPath
from threadline.errors import Gone, InvalidField
from threadline.service.running import reruns
from threadline.service.running.reruns import tokens as rerun_tokens
from threadline.service.runtime import Runtime

router = APIRouter(tags=["reruns"])

TokenPath = Annotated[str, Path(max_length=200)]
OptionalBody = Annotated[Any, Body()]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _object(body: Any) -> JsonBody:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise InvalidField("body: a JSON object")
    return body


@router.get("/workflow-runs/{run_id}/rerunnable-turns")
async def rerunnable_turns(
    request: Request, store: StoreDep, caller: CallerDep, run_id: ObjectIdPath
) -> JsonBody:
    """Which turns can be re-run, why not, and how often each already was."""
    return await reruns.rerunnable_turns(store, caller, _runtime(request), run_id)


@router.post("/workflow-runs/{run_id}/turns/{turn_index}/rerun-preflight")
async def preflight(
    request: Request,
    store: StoreDep,
    caller: CallerDep,
    run_id: ObjectIdPath,
    turn_index: TurnIndex,
    body: OptionalBody = None,
) -> JsonBody:
    """What a re-run would carry over and drop; no side effects."""
    return await reruns.preflight(
        store, caller, _runtime(request), run_id, turn_index, _object(body)
    )


@router.post("/workflow-runs/{run_id}/turns/{turn_index}/rerun-token")
async def create_token(
    request: Request,
    store: StoreDep,
    caller: CallerDep,
    run_id: ObjectIdPath,
    turn_index: TurnIndex,
    body: OptionalBody = None,
) -> JsonBody:
    """Mint a token carrying the projected state (redeemed on the WebSocket)."""
    return await rerun_tokens.create_token(
        store, caller, _runtime(request), run_id, turn_index, _object(body)
    )


@router.get("/workflow-runs/{run_id}/turns/{turn_index}/rerun-token/{token}")
async def preview_token(
    request: Request,
    store: StoreDep,
    caller: CallerDep,
    run_id: ObjectIdPath,
    turn_index: TurnIndex,
    token: TokenPath,
) -> JsonBody:
    """What a token restores (the token itself is never echoed)."""
    return await rerun_tokens.preview_token(
        store, _runtime(request), caller, run_id, turn_index, token
    )


@router.patch("/workflow-runs/{run_id}/turns/{turn_index}/rerun-token/{token}")
async def amend_token(
    request: Request,
    store: StoreDep,
    caller: CallerDep,
    run_id: ObjectIdPath,
    turn_index: TurnIndex,
    token: TokenPath,
    body: OptionalBody = None,
) -> JsonBody:
    """Edit the projection (variables, message edits/appends/deletes)."""
    return await rerun_tokens.amend_token(
        store, _runtime(request), caller, run_id, turn_index, token, _object(body)
    )


@router.post("/workflow-runs/{run_id}/turns/{turn_index}/rerun")
async def execute(
    request: Request,
    response: Response,
    store: StoreDep,
    caller: CallerDep,
    run_id: ObjectIdPath,
    turn_index: TurnIndex,
    body: OptionalBody = None,
    run_async: Annotated[bool, Query(alias="async")] = True,
) -> JsonBody:
    """Start the re-run (202 with ``async``, the default; 200 once done without)."""
    started = await reruns.execute(
        store,
        caller,
        _runtime(request),
        run_id,
        turn_index,
        _object(body),
        run_async=run_async,
    )
    response.status_code = 202 if run_async else 200
    return started


@router.post(
    "/workflows/{workflow_id}/runs/{run_id}/checkpoint-run",
    responses={
        410: {
            "description": "Removed: re-run the run from a turn instead",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
            },
        }
    },
)
async def checkpoint_run(
    _: CallerDep, workflow_id: ObjectIdPath, run_id: ObjectIdPath
) -> JsonBody:
    """Removed upstream: answers 410 ``endpoint_removed`` naming the re-runs."""
    raise Gone(
        "checkpoint-run was removed; re-run the run from a turn instead: "
        "POST /v1/workflow-runs/{run_id}/turns/{turn_index}/rerun "
        "(the SDK's client.reruns.execute; rerun-preflight shows what carries over)",
        details={
            "replacement": "POST /v1/workflow-runs/{run_id}/turns/{turn_index}/rerun",
            "sdk_method": "reruns.execute",
        },
    )
