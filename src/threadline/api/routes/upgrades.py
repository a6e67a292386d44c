"""Upgrading waiting runs to another version of their workflow (our extension)."""

from typing import Annotated, Any

from fastapi import APIRouter, Body

from threadline.api.deps import CallerDep, SettingsDep, StoreDep
from threadline.api.openapi import ERROR_REF
from threadline.api.params import VersionNumber
from threadline.api.routes.common import JsonBody, ObjectIdPath
from threadline.service.running import upgrades

router = APIRouter(tags=["upgrades"])
OptionalBody = Annotated[Any, Body()]
_FLAGS = {
    "dry_run": {"type": "boolean", "default": False},
    "force": {"type": "boolean", "default": False},
}


def _extension(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """The operation's body schema, and the mark of a Threadline extension."""
    schema = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    return {
        "x-threadline-extension": True,
        "responses": {
            "409": {
                "description": "Refused (run_busy, upgrade_unsafe); the report is in"
                " errors and nothing changed",
                "content": {"application/json": {"schema": ERROR_REF}},
            }
        },
        "requestBody": {"content": {"application/json": {"schema": schema}}},
    }


@router.post(
    "/workflow-runs/{run_id}/upgrade",
    openapi_extra=_extension(
        {"target_version_number": {"type": "integer", "minimum": 0}, **_FLAGS},
        ["target_version_number"],
    ),
)
async def upgrade_run(
    store: StoreDep, caller: CallerDep, run_id: ObjectIdPath, body: OptionalBody = None
) -> JsonBody:
    """Pre-flight report for moving a waiting run to ``target_version_number``;
    applied (before its next turn) unless ``dry_run``. Threadline extension."""
    return await upgrades.upgrade_run(store, caller, run_id, body)


@router.post(
    "/workflows/{workflow_id}/versions/{version_number}/upgrade-waiting-runs",
    openapi_extra=_extension(_FLAGS, []),
)
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
