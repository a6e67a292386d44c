"""Clone, export and import whole workflows with a chosen set of versions."""

import asyncio
from typing import Any

from threadline.errors import InvalidField
from threadline.service.caller import Caller
from threadline.service.definitions import graph as graphs
from threadline.service.definitions import workflows as wf
from threadline.service.definitions.masking import mask_secrets
from threadline.service.definitions.tool_limits import check_tools
from threadline.store import Document, Query, Store, Transaction
from threadline.tools.limits import ToolCeilings

JsonDict = dict[str, Any]
BUNDLE_FORMAT = "threadline.workflow-bundle/1"


async def _versions(
    tx: Transaction, caller: Caller, workflow_id: str
) -> dict[int, tuple[Document, graphs.Graph]]:
    docs, _ = await tx.documents("workflow_versions").find(
        caller.team_id, Query(equals={"workflow_id": workflow_id}, newest_first=False)
    )
    return {
        int(d.version_number or 0): (d, await graphs.load(tx, caller.team_id, d))
        for d in docs
    }


def _pick(available: list[int], wanted: Any, what: str) -> list[int]:
    if wanted is None:
        return available
    if not isinstance(wanted, list) or not all(isinstance(n, int) for n in wanted):
        raise InvalidField(f"{what}: must be a list of version numbers")
    missing = sorted(set(wanted) - set(available))
    if missing:
        raise InvalidField(f"{what}: no version(s) {missing}; available: {available}")
    if not wanted:
        raise InvalidField(f"{what}: select at least one version")
    return sorted(set(wanted))


async def _create_with_versions(
    store: Store,
    caller: Caller,
    *,
    name: str,
    description: Any,
    versions: dict[int, tuple[str, graphs.Graph]],
    active: int,
    max_concurrent_runs: Any = None,
) -> JsonDict:
    """Create a workflow holding ``versions`` (number -> (name, graph))."""
    if 0 not in versions:
        # Version 0 always exists: it is the draft, seeded from the active version.
        versions = {0: (wf.INITIAL_VERSION_NAME, versions[active][1]), **versions}
    async with store.begin() as tx:
        doc = await wf.insert_workflow(
            tx,
            caller,
            name=name,
            description=description,
            active=active,
            max_concurrent_runs=max_concurrent_runs,
        )
        for number, (version_name, graph) in sorted(versions.items()):
            await wf.insert_version(tx, caller, doc.id, number, version_name, graph)
        return await wf.render(tx, caller, doc, hydrate=False)


async def clone(
    store: Store, caller: Caller, workflow_id: str, body: JsonDict
) -> JsonDict:
    """Deep-copy a workflow (all versions, or the ones selected)."""
    async with store.begin() as tx:
        doc = await wf.get_doc(tx, caller, workflow_id)
        existing = await _versions(tx, caller, workflow_id)
    wanted = (
        None
        if body.get("clone_all_versions", True)
        else body.get("version_numbers_to_clone")
    )
    if not body.get("clone_all_versions", True) and wanted is None:
        raise InvalidField("version_numbers_to_clone: select at least one version")
    numbers = _pick(sorted(existing), wanted, "version_numbers_to_clone")
    active = int(doc.body.get("active_version_number", 0))
    if active not in numbers:
        active = body.get("fallback_active_version", numbers[0])
        if active not in numbers:
            raise InvalidField(
                "fallback_active_version: must be one of the cloned versions"
            )
    name = body.get("name") or f"{doc.body.get('name')} (copy)"
    return await _create_with_versions(
        store,
        caller,
        name=name,
        description=body.get("description", doc.body.get("description")),
        versions={
            n: (existing[n][0].body.get("version_name", ""), existing[n][1])
            for n in numbers
        },
        active=active,
        max_concurrent_runs=doc.body.get("max_concurrent_runs"),
    )


async def export(
    store: Store,
    caller: Caller,
    workflow_id: str,
    numbers: list[int] | None,
    active: int | None,
) -> JsonDict:
    """Export a portable bundle of the selected versions."""
    async with store.begin() as tx:
        doc = await wf.get_doc(tx, caller, workflow_id)
        existing = await _versions(tx, caller, workflow_id)
    picked = _pick(sorted(existing), numbers or None, "version_numbers")
    active = int(doc.body.get("active_version_number", 0)) if active is None else active
    if active not in picked:
        raise InvalidField("active_version_number: must be one of version_numbers")
    return {
        "format": BUNDLE_FORMAT,
        "workflow": {
            "name": doc.body.get("name"),
            "description": doc.body.get("description"),
            "max_concurrent_runs": doc.body.get("max_concurrent_runs"),
        },
        "active_version_number": active,
        "versions": [
            {
                "version_number": n,
                "version_name": existing[n][0].body.get("version_name"),
                "config": mask_secrets(existing[n][1].hydrated()),
            }
            for n in picked
        ],
    }


async def import_bundle(
    store: Store,
    caller: Caller,
    body: JsonDict,
    *,
    ceilings: ToolCeilings = ToolCeilings(),
    limits: graphs.GraphLimits | None = None,
) -> JsonDict:
    """Create a new workflow from an exported bundle."""
    bundle = body.get("bundle")
    if not isinstance(bundle, dict) or not isinstance(bundle.get("versions"), list):
        raise InvalidField(
            "bundle: must be an exported workflow bundle with 'versions'"
        )
    check_tools(bundle, ceilings, "bundle")
    parsed: dict[int, tuple[str, graphs.Graph]] = {}
    for i, item in enumerate(bundle["versions"]):
        if not isinstance(item, dict) or not isinstance(
            item.get("version_number"), int
        ):
            raise InvalidField(f"bundle.versions.{i}: needs an integer version_number")
        graph = await asyncio.to_thread(
            graphs.parse_hydrated,
            item.get("config") or {},
            f"bundle.versions.{i}.config",
            limits,
        )
        parsed[item["version_number"]] = (str(item.get("version_name") or ""), graph)
    numbers = _pick(
        sorted(parsed),
        body.get("versions_to_import", [0] if 0 in parsed else None),
        "versions_to_import",
    )
    active = body.get(
        "active_version_number", bundle.get("active_version_number", numbers[0])
    )
    if active not in numbers:
        raise InvalidField(
            "active_version_number: must be one of the imported versions"
        )
    meta = bundle.get("workflow") or {}
    return await _create_with_versions(
        store,
        caller,
        name=body.get("workflow_name") or meta.get("name") or "Imported workflow",
        description=meta.get("description"),
        versions={n: parsed[n] for n in numbers},
        active=active,
        max_concurrent_runs=meta.get("max_concurrent_runs"),
    )
