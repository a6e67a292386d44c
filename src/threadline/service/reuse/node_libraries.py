"""Node libraries: named sets of the team's stored nodes, with an access level.

Body (``NodeLibraryConfig``): ``{logical_id, name, description, nodes [24-hex node
ids], access_level (default personal), access_list [24-hex]}``; further fields are
kept as given. Every id in ``nodes`` must be a node of the caller's team (422
naming ``nodes.<i>``). Documents answer as the stored-document envelope with
``node_library_config``. Access levels: see ``service.reuse.access``.
"""

from typing import Any
from uuid import uuid4

from pydantic import Field, ValidationError

from threadline.config.base import WireModel
from threadline.errors import InvalidField
from threadline.service.caller import Caller
from threadline.service.definitions.envelopes import stored_doc
from threadline.service.definitions.wire import invalid
from threadline.service.reuse import access as reuse
from threadline.store import Document, Query, Store, Transaction

JsonDict = dict[str, Any]
KIND = "node_libraries"

__all__ = ["NodeLibraryConfig", "create", "delete", "get", "list_", "schema", "update"]


class NodeLibraryConfig(WireModel):
    """A node library's config."""

    logical_id: str = Field(
        default_factory=lambda: f"node_library_{uuid4()}",
        description="Unique identifier for the node library",
    )
    name: str | None = Field(default=None, description="Name of the node library")
    description: str | None = Field(default=None, description="What it offers")
    nodes: list[reuse.HexId] = Field(
        default_factory=list, description="Ids of the stored nodes in this library"
    )
    access_level: reuse.LevelIn = Field(
        default=reuse.AccessLevel.PERSONAL,
        description="personal (creator and access_list), team, or system (read-only)",
    )
    access_list: list[reuse.HexId] | None = Field(
        default=None, description="User ids that may read a personal library"
    )


def render(doc: Document) -> JsonDict:
    """The stored document, plus top-level copies of the config's ``name``,
    ``description``, ``access_level`` and ``nodes`` (the SDK's reusable-assets
    guide reads ``library.name`` and ``len(library.nodes)``)."""
    body = doc.body
    mirrored = {k: body.get(k) for k in ("name", "description", "access_level")}
    return stored_doc(
        doc,
        "node_library_config",
        body,
        **mirrored,
        nodes=body.get("nodes") or [],
    )


async def _validate(tx: Transaction, caller: Caller, raw: JsonDict) -> JsonDict:
    try:
        body = NodeLibraryConfig.model_validate(raw).model_dump(mode="json")
    except ValidationError as exc:
        raise invalid(exc, "node library config") from exc
    reuse.refuse_system(body["access_level"])
    for i, node_id in enumerate(body["nodes"]):
        if await tx.documents("nodes").get(caller.team_id, node_id) is None:
            raise InvalidField(f"nodes.{i}: node {node_id!r} not found")
    return body


_SHELF = reuse.Shelf(KIND, "node library", _validate, render)
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
    access_level: reuse.LevelFilter,
) -> tuple[list[JsonDict], int]:
    query = Query(search=search or None, page=page, size=size)
    return await _SHELF.list_(store, caller, access_level, query)


def schema() -> JsonDict:
    return {"config_schema": NodeLibraryConfig.model_json_schema()}
