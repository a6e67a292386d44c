"""Workflow templates: a workflow offered for reuse, with an access level.

Body (``WorkflowTemplateConfig``): ``{logical_id, workflow_id, access_level,
access_list}``; further fields (a name, a description, ...) are kept as given.
``workflow_id``, when set, must name a workflow of the caller's team (422).
Documents answer ``{teamId, createdBy, updatedBy, createdAt, updatedAt, _id,
workflow_template_config}`` (camelCase audit fields, as the API docs show). Access
levels: see ``service.reuse.access``.
"""

from typing import Any
from uuid import uuid4

from pydantic import Field, ValidationError

from threadline.config.base import WireModel
from threadline.errors import InvalidField, NotFound
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.definitions.wire import invalid
from threadline.service.reuse import access as reuse
from threadline.store import Document, Query, Store, Transaction

JsonDict = dict[str, Any]
KIND = "workflow_templates"

__all__ = [
    "WorkflowTemplateConfig",
    "create",
    "delete",
    "get",
    "list_",
    "schema",
    "update",
]


class WorkflowTemplateConfig(WireModel):
    """A workflow template's config."""

    logical_id: str = Field(
        default_factory=lambda: f"workflow_template_{uuid4()}",
        description="Unique identifier for the workflow template",
    )
    workflow_id: reuse.HexId | None = Field(
        default=None, description="The workflow this template is made from"
    )
    access_level: reuse.LevelIn = Field(
        default=reuse.AccessLevel.PERSONAL,
        description="personal (creator and access_list), team, or system (read-only)",
    )
    access_list: list[reuse.HexId] | None = Field(
        default=None, description="User ids that may read a personal template"
    )


_MIRRORED = ("name", "description", "category", "access_level", "parameters")


def render(doc: Document) -> JsonDict:
    """The stored document, plus top-level copies of the config's ``name``,
    ``description``, ``category``, ``access_level``, ``parameters``, ``nodes`` and
    ``edges``: the SDK's reusable-assets guide reads ``template.name`` and
    ``len(template.nodes)`` (its ``Template`` model keeps unknown fields)."""
    body = doc.body
    return {
        **{k: body.get(k) for k in _MIRRORED},
        "nodes": body.get("nodes") or [],
        "edges": body.get("edges") or [],
        "teamId": doc.team_id,
        "createdBy": doc.created_by,
        "updatedBy": doc.updated_by,
        "createdAt": doc.created_at.isoformat(),
        "updatedAt": doc.updated_at.isoformat(),
        "_id": doc.id,
        "workflow_template_config": doc.body,
    }


async def _validate(tx: Transaction, caller: Caller, raw: JsonDict) -> JsonDict:
    try:
        body = WorkflowTemplateConfig.model_validate(raw).model_dump(mode="json")
    except ValidationError as exc:
        raise invalid(exc, "workflow template config") from exc
    reuse.refuse_system(body["access_level"])
    if body["workflow_id"] is not None:
        try:
            await wf.get_doc(tx, caller, body["workflow_id"])
        except NotFound as exc:
            raise InvalidField(
                f"workflow_id: workflow {body['workflow_id']!r} not found"
            ) from exc
    return body


_SHELF = reuse.Shelf(KIND, "template", _validate, render, links_workflow=True)
create = _SHELF.create
get = _SHELF.get
update = _SHELF.update
delete = _SHELF.delete


async def list_(
    store: Store,
    caller: Caller,
    *,
    page: int,
    size: int,
    search: str | None,
    logical_id: str | None,
    workflow_id: str | None,
    access_level: reuse.LevelFilter,
) -> tuple[list[JsonDict], int]:
    equals = {
        k: v
        for k, v in (("logical_id", logical_id), ("workflow_id", workflow_id))
        if v is not None
    }
    query = Query(equals=equals, search=search or None, page=page, size=size)
    return await _SHELF.list_(store, caller, access_level, query)


def schema() -> JsonDict:
    return {"config_schema": WorkflowTemplateConfig.model_json_schema()}
