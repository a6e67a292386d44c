"""The managed prompts a workflow refers to: recorded into a run's snapshot, and
warned about when a save refers to a name the team does not have.

``resolve_for_run`` reads, when a run starts, every name its snapshot references
and writes ``managed_prompts: {name: {managed_prompt_id, version, text}}``
(``missing: true`` for unknown names) into the snapshot; the run uses those
texts for its whole life (``providers.managed_prompts`` expands them at each
model call).
"""

from typing import Any

from threadline.providers.managed_prompts import names_in
from threadline.service.caller import Caller
from threadline.service.reuse.managed_prompts.built_ins import BUILT_IN
from threadline.service.reuse.managed_prompts.records import find_stored
from threadline.store import Store, Transaction

JsonDict = dict[str, Any]


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    """Every ``(path, string)`` inside ``value``."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            out += _strings(item, f"{path}.{key}" if path else str(key))
        return out
    if isinstance(value, list):
        return [
            p for i, item in enumerate(value) for p in _strings(item, f"{path}.{i}")
        ]
    return []


def references(hydrated: JsonDict) -> list[tuple[str, str, str]]:
    """``(owner, field, name)`` of every reference in a hydrated config; owner is
    ``workflow_config``, ``node 'x'`` or ``edge 'y'``."""
    found: list[tuple[str, str, str]] = []
    parts: list[tuple[str, Any]] = [
        ("workflow_config", hydrated.get("workflow_config"))
    ]
    for key, what in (("node_configs", "node"), ("edge_configs", "edge")):
        for index, part in enumerate(hydrated.get(key) or []):
            logical = part.get("logical_id") if isinstance(part, dict) else None
            parts.append((f"{what} {logical or f'#{index}'!r}", part))
    for owner, part in parts:
        for field, text in _strings(part, ""):
            found += [(owner, field, name) for name in names_in(text)]
    return found


async def _known(tx: Transaction, team_id: str, names: set[str]) -> dict[str, JsonDict]:
    out: dict[str, JsonDict] = {}
    for name in sorted(names):
        doc = await find_stored(tx, team_id, name)
        if doc is not None:
            out[name] = {
                "managed_prompt_id": doc.id,
                "version": doc.body["version"],
                "text": doc.body["text"],
            }
        elif name in BUILT_IN:
            out[name] = {
                "managed_prompt_id": None,
                "version": 0,
                "text": BUILT_IN[name]["text"],
            }
        else:
            out[name] = {"managed_prompt_id": None, "version": None, "missing": True}
    return out


async def resolve_for_run(
    tx: Transaction, team_id: str, hydrated: JsonDict
) -> JsonDict:
    """The snapshot with ``managed_prompts`` (each referenced name's current
    version and text, or ``missing``) recorded; the input is not changed."""
    names = {name for _, _, name in references(hydrated)}
    if not names:
        return hydrated
    return {**hydrated, "managed_prompts": await _known(tx, team_id, names)}


def texts_of(snapshot: JsonDict) -> dict[str, str]:
    """name -> text of the prompts a run's snapshot resolved."""
    recorded = snapshot.get("managed_prompts") or {}
    return {
        name: entry["text"]
        for name, entry in recorded.items()
        if isinstance(entry, dict) and isinstance(entry.get("text"), str)
    }


async def save_warnings(
    store: Store, caller: Caller, hydrated: JsonDict
) -> list[JsonDict]:
    """A warning per node and field referring to a managed prompt the team does
    not have (the run would send empty text in its place)."""
    refs = references(hydrated)
    if not refs:
        return []
    async with store.begin() as tx:
        known = await _known(tx, caller.team_id, {name for _, _, name in refs})
    return [
        {
            "code": "unknown_managed_prompt",
            "message": (
                f"{owner} field {field!r} refers to managed prompt {name!r}, which "
                "does not exist in this team; runs will send empty text in its place"
            ),
            "severity": "warning",
            "node_logical_id": owner[6:-1] if owner.startswith("node ") else None,
            "edge_logical_id": owner[6:-1] if owner.startswith("edge ") else None,
            "field": field,
        }
        for owner, field, name in refs
        if known[name].get("missing")
    ]


def saved_config(body: Any) -> JsonDict:
    """The hydrated config a workflow save body carries: ``{config: hydrated}``,
    a hydrated body itself, or ``{config: WorkflowConfig}``."""
    if not isinstance(body, dict):
        return {}
    config = body.get("config")
    for candidate in (config, body):
        if isinstance(candidate, dict) and (
            "node_configs" in candidate or "workflow_config" in candidate
        ):
            return candidate
    return {"workflow_config": config if isinstance(config, dict) else {}}
