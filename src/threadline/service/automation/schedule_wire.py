"""Schedules on the wire: the create and update bodies, and the ``Schedule``
object every answer carries (the Interactly SDK's ``SchedulesResource``)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from threadline.service.definitions import wire
from threadline.store import Document

JsonDict = dict[str, Any]


class Create(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scheduled_time: datetime | None = None
    run_input: JsonDict | None = None
    version: int | None = Field(default=None, ge=0)
    scheduled_by_name: str | None = None
    cron: str | None = None
    timezone: str | None = None


class Update(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scheduled_time: datetime | None = None
    run_input: JsonDict | None = None
    version: int | None = Field(default=None, ge=0)
    cron: str | None = None
    timezone: str | None = None


def checked_input(raw: JsonDict | None) -> JsonDict | None:
    if raw is not None:
        wire.parse_input(raw, "run_input")  # 422 naming the bad field
    return raw


# -------------------------------------------------------------------- rendering


def render(doc: Document) -> JsonDict:
    """The wire ``Schedule`` object (flat, ``_id``)."""
    body = doc.body
    return {
        "_id": doc.id,
        "team_id": doc.team_id,
        "created_by": doc.created_by,
        "updated_by": doc.updated_by,
        "created_at": doc.created_at.isoformat(),
        "updated_at": body.get("modified_at") or doc.updated_at.isoformat(),
        "workflow_id": doc.workflow_id,
        "scheduled_time": body.get("scheduled_time"),
        "status": doc.status,
        "run_input": body.get("run_input"),
        "version": body.get("version"),
        "schedule_name": doc.name,
        "scheduler_arn": None,
        "actual_run_id": body.get("actual_run_id"),
        "scheduled_by_name": body.get("scheduled_by_name"),
        "error_message": body.get("error_message"),
        "cron": body.get("cron"),
        "timezone": body.get("timezone"),
        "run_ids": list(body.get("run_ids") or []),
        "waiting": body.get("waiting") if doc.status == "pending" else None,
    }


def validate(model: type[BaseModel], body: Any, what: str) -> Any:
    try:
        return model.model_validate(body if body is not None else {})
    except ValidationError as exc:
        raise wire.invalid(exc, what) from exc
