"""Replay checks of a version (our extension): ask for one, poll it, list them."""

from typing import Annotated, Any

from fastapi import APIRouter, Body

from threadline.api.deps import CallerDep, PagingDep, SettingsDep, StoreDep
from threadline.api.openapi import ERROR_REF, EXTENSION
from threadline.api.params import VersionNumber
from threadline.api.routes.common import JsonBody, ObjectIdPath
from threadline.service.definitions.envelopes import page
from threadline.service.replay_checks import requests
from threadline.settings import Settings

router = APIRouter(tags=["replay checks"])
OptionalBody = Annotated[Any, Body()]
_BASE = "/workflows/{workflow_id}/versions/{version_number}"
_BODY = {
    "type": "object",
    "properties": {
        "runs": {"type": "integer", "minimum": 1},
        "source_version_number": {"type": ["integer", "null"], "minimum": 0},
    },
    "required": ["runs"],
    "additionalProperties": False,
}


def limits(settings: Settings) -> requests.CheckLimits:
    """The ``THREADLINE_REPLAY_CHECK_*`` ceilings."""
    return requests.CheckLimits(
        max_runs=settings.replay_check_max_runs,
        max_llm_calls=settings.replay_check_max_llm_calls,
    )


@router.post(
    f"{_BASE}/replay-check",
    status_code=202,
    openapi_extra={
        EXTENSION: True,
        "requestBody": {"content": {"application/json": {"schema": _BODY}}},
        "responses": {
            "409": {
                "description": "No finished run to replay (no_runs_to_replay);"
                " nothing was stored",
                "content": {"application/json": {"schema": ERROR_REF}},
            }
        },
    },
)
async def create_replay_check(
    store: StoreDep,
    caller: CallerDep,
    settings: SettingsDep,
    workflow_id: ObjectIdPath,
    version_number: VersionNumber,
    body: OptionalBody = None,
) -> JsonBody:
    """Queue a replay of the ``runs`` most recent finished runs (of
    ``source_version_number``, else of any version) against this version; poll
    the answer's ``replay_check_id``. Threadline extension."""
    return await requests.create(
        store, caller, workflow_id, version_number, body, limits(settings)
    )


@router.get(f"{_BASE}/replay-checks", openapi_extra={EXTENSION: True})
async def list_replay_checks(
    store: StoreDep,
    caller: CallerDep,
    paging: PagingDep,
    workflow_id: ObjectIdPath,
    version_number: VersionNumber,
) -> JsonBody:
    """The version's replay checks, newest first. Threadline extension."""
    size = paging.size or 100
    items, total = await requests.list_(
        store, caller, workflow_id, version_number, paging.page, size
    )
    return page("replay_checks", items, total, page=paging.page, size=size)


@router.get(f"{_BASE}/replay-checks/{{check_id}}", openapi_extra={EXTENSION: True})
async def get_replay_check(
    store: StoreDep,
    caller: CallerDep,
    workflow_id: ObjectIdPath,
    version_number: VersionNumber,
    check_id: ObjectIdPath,
) -> JsonBody:
    """One replay check: its status, and when done the per-run reports and the
    summary. Threadline extension."""
    return await requests.get(store, caller, workflow_id, version_number, check_id)
