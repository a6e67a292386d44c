"""Workflow schedules: create per workflow, list, get, modify while pending, cancel.

Shapes follow the Interactly SDK's ``SchedulesResource``: single objects are
``{"schedule": {...}}``, lists a bare JSON array (``status``, ``skip``, ``limit``),
cancel answers 204. A due schedule waiting for a concurrency slot shows ``waiting:
{"level", "limit", "position"}`` (an extension; else null). See
``service.automation.schedules`` and, for firing, ``service.automation.scheduler`` and
``service.automation.start_queue``.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from threadline.api.deps import CallerDep, StoreDep
from threadline.api.openapi import EXTENSION
from threadline.api.params import Skip
from threadline.api.routes.common import JsonBody, ObjectIdPath, WorkflowId
from threadline.service.automation import schedules
from threadline.service.automation.schedules import Status
from threadline.service.running import diagnosis

router = APIRouter(tags=["schedules"])
BASE = "/workflow-schedules"
AnyBody = Annotated[Any, Body()]
StatusQuery = Annotated[Status | None, Query()]
Limit = Annotated[int, Query(ge=1, le=100)]


@router.post("/workflows/{workflow_id}/schedules", name="create_workflow_schedule")
async def create(
    store: StoreDep, caller: CallerDep, workflow_id: WorkflowId, body: AnyBody
) -> JsonBody:
    """Schedule a run at a future UTC time (or, with ``cron``, a recurring one)."""
    return {"schedule": await schedules.create(store, caller, workflow_id, body)}


@router.get("/workflows/{workflow_id}/schedules", name="list_workflow_schedules")
async def list_for_workflow(
    store: StoreDep,
    caller: CallerDep,
    workflow_id: WorkflowId,
    status: StatusQuery = None,
    skip: Skip = 0,
    limit: Limit = 50,
) -> list[JsonBody]:
    """The workflow's schedules, newest first (a bare array)."""
    return await schedules.list_(
        store, caller, workflow_id=workflow_id, status=status, skip=skip, limit=limit
    )


@router.get(BASE, name="list_team_workflow_schedules")
async def list_all(
    store: StoreDep,
    caller: CallerDep,
    status: StatusQuery = None,
    skip: Skip = 0,
    limit: Limit = 50,
) -> list[JsonBody]:
    """Every schedule of the team, newest first (a bare array)."""
    return await schedules.list_(
        store, caller, workflow_id=None, status=status, skip=skip, limit=limit
    )


@router.get(f"{BASE}/{{schedule_id}}", name="get_workflow_schedule")
async def get(
    store: StoreDep, caller: CallerDep, schedule_id: ObjectIdPath
) -> JsonBody:
    """One schedule."""
    return {"schedule": await schedules.get(store, caller, schedule_id)}


@router.get(
    f"{BASE}/{{schedule_id}}/diagnosis",
    name="diagnose_workflow_schedule",
    openapi_extra={EXTENSION: True},
)
async def diagnose(
    store: StoreDep, caller: CallerDep, schedule_id: ObjectIdPath
) -> JsonBody:
    """Why the schedule's start has not begun: scheduled, waiting for a
    concurrency slot (level, limit, position), due, starting or ended (a
    Threadline extension; ``docs/diagnosis.md``)."""
    return await diagnosis.diagnose_start(store, caller, schedule_id)


@router.patch(f"{BASE}/{{schedule_id}}", name="update_workflow_schedule")
async def update(
    store: StoreDep, caller: CallerDep, schedule_id: ObjectIdPath, body: AnyBody
) -> JsonBody:
    """Change time, run input or version of a pending schedule (else 409)."""
    return {"schedule": await schedules.update(store, caller, schedule_id, body)}


@router.delete(
    f"{BASE}/{{schedule_id}}", status_code=204, name="cancel_workflow_schedule"
)
async def cancel(
    store: StoreDep, caller: CallerDep, schedule_id: ObjectIdPath
) -> Response:
    """Cancel a pending schedule (409 once it has fired)."""
    await schedules.cancel(store, caller, schedule_id)
    return Response(status_code=204)
