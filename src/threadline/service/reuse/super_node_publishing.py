"""Publishing workflow versions as super nodes, and the stored publication.

A workflow *version* is published by storing, in its version document body under
``super_node_publication``::

    {"interface": SuperNodeInterface, "is_active": bool, "snapshot": <hydrated config>,
     "published_at", "published_by", "unpublished_at", "unpublished_by"}

``snapshot`` is the version's fully hydrated config (workflow name and description
included) at publish time: it is what ``GET /super-nodes/{id}`` returns as
``encapsulated_workflow_config`` and what a parent should embed. Publishing again
refreshes it; ``super-node-snapshot-status`` tells whether it (and the snapshots
parents embed) still match.

Publishing does not create a version: it publishes the given ``version_number``
or, by default, the workflow's active version, in place. Unpublishing sets
``is_active`` to false (the interface is kept for the record); unpublished versions
are invisible to the super-node reads (404).

A workflow *depends* on ``W`` when any of its versions holds a ``super_node`` node
whose ``super_workflow_id`` is ``W``. For unpublishing version ``N`` of ``W`` the
referencing workflows are those whose super nodes pin ``N``, or pin nothing while
``N`` is ``W``'s active version (unpinned super nodes follow the active version).

The helpers reading the stored publication (``active_publication``,
``require_published``, ``named_config``, ``version_doc``, ``active_number``,
``referencing_workflows``) are shared with
:mod:`threadline.service.reuse.super_node_queries`.
"""

from copy import deepcopy
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from threadline.config.super_node import SuperNodeInterface
from threadline.errors import InvalidField, NotFound
from threadline.service.caller import Caller
from threadline.service.definitions import graph as graphs
from threadline.service.definitions import workflows as wf
from threadline.service.definitions.wire import invalid
from threadline.store import Document, Query, Store, Transaction

JsonDict = dict[str, Any]

PUBLICATION = "super_node_publication"
REFERENCING_LIMIT = 100
"""At most this many ids in ``workflows_referencing`` (the total is always given)."""

__all__ = [
    "PUBLICATION",
    "REFERENCING_LIMIT",
    "active_number",
    "active_publication",
    "named_config",
    "publish",
    "referencing_workflows",
    "require_published",
    "unpublish",
    "version_doc",
]

_NEEDS_TARGET = {"node_config_field", "edge_config_field"}
_NEEDS_VARIABLE = {"dynamic_variable", "runtime_variable"}


# ---------------------------------------------------------------- helpers


def active_publication(version: Document) -> JsonDict | None:
    """The version's publication when it is active, else None."""
    pub = version.body.get(PUBLICATION)
    if isinstance(pub, dict) and pub.get("is_active"):
        return pub
    return None


def named_config(graph: graphs.Graph, doc: Document) -> JsonDict:
    hydrated = deepcopy(graph.hydrated())
    hydrated["workflow_config"] = {
        **hydrated["workflow_config"],
        "name": doc.body.get("name"),
        "description": doc.body.get("description"),
    }
    return hydrated


def active_number(doc: Document) -> int:
    return int(doc.body.get("active_version_number", 0) or 0)


async def version_doc(
    tx: Transaction, caller: Caller, doc: Document, number: int | None
) -> Document:
    return await wf.get_version_doc(
        tx, caller, doc.id, active_number(doc) if number is None else number
    )


async def require_published(
    tx: Transaction, caller: Caller, workflow_id: str, number: int | None
) -> tuple[Document, Document, JsonDict]:
    doc = await wf.get_doc(tx, caller, workflow_id)
    version = await version_doc(tx, caller, doc, number)
    pub = active_publication(version)
    if pub is None:
        raise NotFound(
            f"workflow {workflow_id!r} version {version.version_number} "
            "is not published as a super node"
        )
    return doc, version, pub


_SHORTHAND_TARGETS = ("dynamic_variable", "runtime_variable")
_VALUE_TYPES = frozenset(
    {"string", "integer", "number", "boolean", "object", "array", "enum", "any"}
)


def _from_shorthand(raw: JsonDict) -> JsonDict:
    """The SDK guide's shorthand as a ``SuperNodeInterface``.

    ``{"field_values": [{name, type, description, map_to: "dynamic_variable:x"}]}``
    (the super-nodes guide) becomes ``input_fields`` with ``value_type`` and one
    mapping to that dynamic (or runtime) variable. Interfaces that already carry
    ``input_fields``, or no ``field_values`` list, are returned unchanged.
    """
    items = raw.get("field_values")
    if "input_fields" in raw or not isinstance(items, list):
        return raw
    fields = []
    for i, item in enumerate(items):
        at = f"interface.field_values.{i}"
        if not isinstance(item, dict):
            raise InvalidField(f"{at}: must be an object")
        target, _, name = str(item.get("map_to") or "").partition(":")
        if target not in _SHORTHAND_TARGETS or not name.strip():
            raise InvalidField(
                f"{at}.map_to: use 'dynamic_variable:<name>' or "
                "'runtime_variable:<name>' (or give interface.input_fields)"
            )
        kind = str(item.get("type") or "any")
        field = {k: v for k, v in item.items() if k not in ("type", "map_to")}
        field["value_type"] = kind if kind in _VALUE_TYPES else "any"
        field["mappings"] = [
            {"target_type": target, "target_variable_name": name.strip()}
        ]
        fields.append(field)
    rest = {k: v for k, v in raw.items() if k != "field_values"}
    return {**rest, "input_fields": fields}


def _check_interface(raw: Any, graph: graphs.Graph) -> JsonDict:
    """Validate ``interface`` (422 naming the first bad field); return it as JSON."""
    if not isinstance(raw, dict):
        raise InvalidField("interface: must be a SuperNodeInterface object")
    raw = _from_shorthand(raw)
    try:
        model = SuperNodeInterface.model_validate(raw)
    except ValidationError as exc:
        raise invalid(exc, "super node interface", "interface") from exc
    nodes = {str(n.get("logical_id")) for n in graph.node_configs}
    edges = {str(e.get("logical_id")) for e in graph.edge_configs}
    seen: set[str] = set()
    for i, field in enumerate(model.input_fields):
        at = f"interface.input_fields.{i}"
        if not field.name.strip():
            raise InvalidField(f"{at}.name: must not be empty")
        if field.name in seen:
            raise InvalidField(f"{at}.name: duplicate input field {field.name!r}")
        seen.add(field.name)
        if field.value_type == "enum" and not field.enum_values:
            raise InvalidField(f"{at}.enum_values: required when value_type is 'enum'")
        if (
            field.min_value is not None
            and field.max_value is not None
            and field.min_value > field.max_value
        ):
            raise InvalidField(f"{at}.min_value: greater than max_value")
        if (
            field.min_length is not None
            and field.max_length is not None
            and field.min_length > field.max_length
        ):
            raise InvalidField(f"{at}.min_length: greater than max_length")
        for j, mapping in enumerate(field.mappings):
            _check_mapping(f"{at}.mappings.{j}", mapping.model_dump(), nodes, edges)
    return model.model_dump(mode="json")


def _check_mapping(at: str, m: JsonDict, nodes: set[str], edges: set[str]) -> None:
    kind = m["target_type"]
    if kind in _NEEDS_TARGET:
        target = m.get("target_node_or_edge_logical_id")
        if not target:
            raise InvalidField(
                f"{at}.target_node_or_edge_logical_id: required for {kind!r}"
            )
        known = nodes if kind == "node_config_field" else edges
        if target not in known:
            what = "node" if kind == "node_config_field" else "edge"
            raise InvalidField(
                f"{at}.target_node_or_edge_logical_id: the workflow has no "
                f"{what} {target!r}"
            )
    if kind in _NEEDS_TARGET | {"workflow_config_field"} and not m.get(
        "target_field_path"
    ):
        raise InvalidField(f"{at}.target_field_path: required for {kind!r}")
    if kind in _NEEDS_VARIABLE and not m.get("target_variable_name"):
        raise InvalidField(f"{at}.target_variable_name: required for {kind!r}")


def _super_node_refs(node: Document) -> tuple[str | None, int | None]:
    body = node.body
    wid = body.get("super_workflow_id")
    pinned = body.get("super_workflow_version_number")
    return (
        wid if isinstance(wid, str) else None,
        pinned if isinstance(pinned, int) and not isinstance(pinned, bool) else None,
    )


async def referencing_workflows(
    tx: Transaction, caller: Caller, workflow_id: str, version: int | None, active: int
) -> list[str]:
    """Ids of the other workflows embedding ``workflow_id`` (oldest first).

    ``version`` None: any super node naming the workflow; else only those that
    resolve to that version (pinned to it, or unpinned while it is active).
    """
    nodes, _ = await tx.documents("nodes").find(
        caller.team_id, Query(equals={"type": "super_node"}, newest_first=False)
    )
    out: list[str] = []
    for node in nodes:
        wid, pinned = _super_node_refs(node)
        if wid != workflow_id or node.workflow_id in (None, workflow_id):
            continue
        if (
            version is not None
            and (pinned if pinned is not None else active) != version
        ):
            continue
        if node.workflow_id not in out:
            out.append(str(node.workflow_id))
    existing: list[str] = []
    for wid in out:
        if await tx.documents("workflows").get(caller.team_id, wid) is not None:
            existing.append(wid)
    return existing


# ---------------------------------------------------------------- operations


async def publish(
    store: Store,
    caller: Caller,
    workflow_id: str,
    body: Any,
    version_number: int | None = None,
) -> JsonDict:
    """Record the interface and a hydrated snapshot on the (active) version."""
    if not isinstance(body, dict) or "interface" not in body:
        raise InvalidField("interface: required ({'interface': SuperNodeInterface})")
    async with store.begin() as tx:
        await tx.lock(f"super-node:{caller.team_id}:{workflow_id}")
        doc = await wf.get_doc(tx, caller, workflow_id)
        version = await version_doc(tx, caller, doc, version_number)
        graph = await graphs.load(tx, caller.team_id, version)
        interface = _check_interface(body["interface"], graph)
        at = wf.now()
        publication = {
            "interface": interface,
            "is_active": True,
            "snapshot": named_config(graph, doc),
            "published_at": at.isoformat(),
            "published_by": caller.user_id,
            "unpublished_at": None,
            "unpublished_by": None,
        }
        await tx.documents("workflow_versions").replace(
            replace(
                version,
                body={**version.body, PUBLICATION: publication},
                updated_at=at,
                updated_by=caller.user_id,
            )
        )
    number = version.version_number
    count = len(interface["input_fields"])
    return {
        "workflow_id": workflow_id,
        "workflow_version_number": number,
        "message": (
            f"workflow {workflow_id} version {number} published as a super node "
            f"with {count} input field(s)"
        ),
        "num_input_fields": count,
    }


async def unpublish(
    store: Store,
    caller: Caller,
    workflow_id: str,
    version_number: int | None,
    *,
    dry_run: bool,
) -> JsonDict:
    """Deactivate a publication (or, with ``dry_run``, only report who uses it)."""
    async with store.begin() as tx:
        await tx.lock(f"super-node:{caller.team_id}:{workflow_id}")
        doc, version, pub = await require_published(
            tx, caller, workflow_id, version_number
        )
        number = version.version_number
        refs = await referencing_workflows(
            tx, caller, workflow_id, number, active_number(doc)
        )
        if not dry_run:
            at = wf.now()
            done = {
                **pub,
                "is_active": False,
                "unpublished_at": at.isoformat(),
                "unpublished_by": caller.user_id,
            }
            await tx.documents("workflow_versions").replace(
                replace(
                    version,
                    body={**version.body, PUBLICATION: done},
                    updated_at=at,
                    updated_by=caller.user_id,
                )
            )
    verb = "would unpublish" if dry_run else "unpublished"
    message = f"{verb} workflow {workflow_id} version {number} as a super node"
    if refs:
        message += f"; {len(refs)} workflow(s) still reference it"
    return {
        "workflow_id": workflow_id,
        "message": message,
        "workflow_version_number": number,
        "dry_run": dry_run,
        "workflows_referencing": refs[:REFERENCING_LIMIT],
        "workflows_referencing_total": len(refs),
        "workflows_referencing_truncated": len(refs) > REFERENCING_LIMIT,
    }
