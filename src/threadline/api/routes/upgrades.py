"""Upgrading waiting runs to another version of their workflow (our extension)."""

from typing import Annotated, Any

from fastapi import APIRouter, Body

from threadline.api.deps import CallerDep, SettingsDep, StoreDep
from threadline.api.params import VersionNumber
from threadline.api.routes.common import JsonBody, ObjectIdPath
from threadline.service.running import upgrades

router = APIRouter(tags=["upgrades"])
OptionalBody = Annotated[Any, Body()]


@router.post("/workflow-runs/{run_id}/upgrade")
async def upgrade_run(
    store: StoreDep, caller: CallerDep, run_id: ObjectIdPath, body: OptionalBody = None
) -> JsonBody:
    """Pre-flight report for moving a waiting run to ``target_version_number``;
    applied (before its next turn) unless ``dry_run``. Threadline extension."""
    return await upgrades.upgrade_run(store, caller, run_id, body)


@router.post("/workflows/{workflow_id}/versions/{version_number}/upgrade-waiting-runs")
async def upgrade_waiting_runs(
    store: StoreDep,
    caller: CallerDep,
    settings: SettingsDep,
    workflow_id: ObjectIdPath,
    version_number: VersionNumber,
    body: OptionalBody = None,
) -> JsonBody:
    """Report on every waiting run of the workflow and upgrade the safe ones to
    this version (all forceable ones with ``force``), unless ``dry_run``.
    Idempotent. Threadline extension."""
    return await upgrades.upgrade_waiting_runs(
        store,
        caller,
        workflow_id,
        version_number,
        body,
        max_runs=settings.upgrade_max_runs,
    )
