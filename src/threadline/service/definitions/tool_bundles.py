"""Export one tool as a portable bundle and import it into a team.

``GET /v1/tools/{id}/export`` answers the bundle the SDK's ``tools.export``
returns::

    {export_format: 1, exported_at, source_tool_id, source_tool_name, source_team_id,
     tool_type, tool_config, redactions: ["api_headers.Authorization", ...], warnings}

Secrets are never exported: every secret position (``api_key``-like fields and
credential-like headers that are not a ``{{placeholder}}``) is replaced by
``"[REDACTED]"`` and its dotted path listed in ``redactions``. Team-scoped
references (the workflow a tool is attached to) are dropped; others (knowledge
base ids, a warm-transfer workflow) are kept and named in ``warnings``.

``POST /v1/tools/import`` takes ``{bundle, name_override?, secret_overrides?,
clear_unresolved_refs = true, confirm_executable = false}`` (the SDK's
``tools.import_bundle``) and answers ``{"tool": StoredDoc, "warnings": [...]}``:

- an ``inline_python`` bundle is refused (422 ``executable_not_confirmed``)
  unless ``confirm_executable`` is true: it carries code that runs in the team;
- ``secret_overrides`` maps a path of ``redactions`` to its value (another key is
  a 422 naming it); a redacted field not re-supplied is removed, with a warning;
- with ``clear_unresolved_refs`` a reference the importing team cannot resolve
  (a warm-transfer workflow it does not have; knowledge-base ids of a bundle from
  another team) is cleared, with a warning; without it, it is kept, with a warning.

The tool is then validated and created exactly like ``POST /v1/tools``.
"""

import copy
import re
from datetime import UTC, datetime
from typing import Any

from threadline.errors import InvalidField, NotFound
from threadline.ids import is_object_id
from threadline.service.caller import Caller
from threadline.service.definitions import parts
from threadline.service.definitions import workflows as wf
from threadline.service.definitions.masking import is_secret_field
from threadline.store import Store
from threadline.tools.limits import ToolCeilings

__all__ = ["EXPORT_FORMAT", "REDACTED", "export", "import_bundle"]

JsonDict = dict[str, Any]
EXPORT_FORMAT = 1
REDACTED = "[REDACTED]"
_HEADER_WORDS = ("authorization", "api-key", "api_key", "apikey", "token", "secret")
_PLACEHOLDER = re.compile(r"\{\{.+?\}\}|\[\[.+?\]\]")
_IMPORT_KEYS = frozenset(
    {
        "bundle",
        "name_override",
        "secret_overrides",
        "clear_unresolved_refs",
        "confirm_executable",
    }
)


def _is_literal_secret(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and not _PLACEHOLDER.search(value)


def _redact(config: JsonDict) -> list[str]:
    """Replace every literal secret of ``config`` in place; their dotted paths."""
    paths: list[str] = []

    def walk(obj: Any, prefix: str, parent: Any) -> None:
        if not isinstance(obj, dict):
            return
        for key, value in obj.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            header = parent in ("api_headers", "default_headers", "headers") and any(
                word in str(key).lower() for word in _HEADER_WORDS
            )
            if (is_secret_field(key, parent) or header) and _is_literal_secret(value):
                obj[key] = REDACTED
                paths.append(path)
            else:
                walk(value, path, key)

    walk(config, "", None)
    return paths


def _references(config: JsonDict) -> list[str]:
    found = []
    if config.get("target_knowledge_base_ids"):
        found.append("target_knowledge_base_ids")
    extra = config.get("extra_config")
    if isinstance(extra, dict) and extra.get("warm_transfer_conversation_workflow_id"):
        found.append("extra_config.warm_transfer_conversation_workflow_id")
    return found


async def export(store: Store, caller: Caller, tool_id: str) -> JsonDict:
    """The bundle of the team's tool ``tool_id`` (404 for a missing or foreign one)."""
    if not is_object_id(tool_id):
        raise NotFound(f"tool {tool_id!r} not found")
    async with store.begin() as tx:
        doc = await tx.documents(parts.TOOLS.collection).get(caller.team_id, tool_id)
    if doc is None:
        raise NotFound(f"tool {tool_id!r} not found")
    config = copy.deepcopy(doc.body)
    config.pop("workflow_id", None)
    redactions = _redact(config)
    warnings = [
        f"{path}: refers to a resource of the exporting team; the importing team "
        "must have its own"
        for path in _references(config)
    ]
    return {
        "export_format": EXPORT_FORMAT,
        "exported_at": datetime.now(UTC).isoformat(),
        "source_tool_id": doc.id,
        "source_tool_name": config.get("name"),
        "source_team_id": doc.team_id,
        "tool_type": config.get("type"),
        "tool_config": config,
        "redactions": redactions,
        "warnings": warnings,
    }


def _flag(body: JsonDict, key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise InvalidField(f"{key}: must be true or false")
    return value


def _bundle(body: JsonDict) -> tuple[JsonDict, JsonDict, list[str]]:
    bundle = body.get("bundle")
    if not isinstance(bundle, dict):
        raise InvalidField("bundle: required, the object tools.export returned")
    if bundle.get("export_format") != EXPORT_FORMAT:
        raise InvalidField(
            f"bundle.export_format: {bundle.get('export_format')!r} is not a "
            f"supported format (this server reads {EXPORT_FORMAT})"
        )
    config = bundle.get("tool_config")
    if not isinstance(config, dict):
        raise InvalidField("bundle.tool_config: required, a tool config object")
    redactions = bundle.get("redactions") or []
    if not isinstance(redactions, list) or not all(
        isinstance(r, str) for r in redactions
    ):
        raise InvalidField("bundle.redactions: must be a list of dotted paths")
    return bundle, copy.deepcopy(config), redactions


def _set_path(config: JsonDict, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    target: Any = config
    for step in parents:
        target = target.get(step) if isinstance(target, dict) else None
    if isinstance(target, dict):
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value


def _apply_secrets(
    config: JsonDict, redactions: list[str], overrides: Any
) -> list[str]:
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, dict):
        raise InvalidField("secret_overrides: must be an object of path -> value")
    for path, value in overrides.items():
        if path not in redactions:
            raise InvalidField(
                f"secret_overrides.{path}: not a redacted field of this bundle "
                f"(redactions: {redactions})"
            )
        if not isinstance(value, str):
            raise InvalidField(f"secret_overrides.{path}: must be a string")
    warnings = []
    for path in redactions:
        _set_path(config, path, overrides.get(path))
        if path not in overrides:
            warnings.append(
                f"{path}: redacted on export and not re-supplied in "
                "secret_overrides; the field was removed"
            )
    return warnings


async def _resolve_refs(
    store: Store, caller: Caller, bundle: JsonDict, config: JsonDict, clear: bool
) -> list[str]:
    warnings = []
    action = "cleared" if clear else "kept; it will not resolve"
    foreign = bundle.get("source_team_id") != caller.team_id
    if config.get("target_knowledge_base_ids") and foreign:
        if clear:
            config["target_knowledge_base_ids"] = []
        warnings.append(
            "target_knowledge_base_ids: knowledge bases of the exporting team, "
            f"{action} in this team"
        )
    extra = config.get("extra_config")
    target = (
        extra.get("warm_transfer_conversation_workflow_id")
        if isinstance(extra, dict)
        else None
    )
    if isinstance(extra, dict) and target:
        try:
            async with store.begin() as tx:
                await wf.get_doc(tx, caller, str(target))
        except (NotFound, InvalidField):
            if clear:
                extra.pop("warm_transfer_conversation_workflow_id", None)
            warnings.append(
                "extra_config.warm_transfer_conversation_workflow_id: workflow "
                f"{target!r} is not in this team; {action}"
            )
    return warnings


async def import_bundle(
    store: Store, caller: Caller, body: Any, *, ceilings: ToolCeilings
) -> JsonDict:
    """Create a tool of the caller's team from a bundle; nothing is stored on a 4xx."""
    if not isinstance(body, dict):
        raise InvalidField("body: must be an object like {'bundle': {...}}")
    unknown = set(body) - _IMPORT_KEYS
    if unknown:
        raise InvalidField(f"{sorted(unknown)[0]}: not a tool import field")
    bundle, config, redactions = _bundle(body)
    clear = _flag(body, "clear_unresolved_refs", True)
    confirmed = _flag(body, "confirm_executable", False)
    if config.get("type") == "inline_python" and not confirmed:
        raise InvalidField(
            "confirm_executable: this bundle carries inline_python code that will "
            "run in your team; import it with confirm_executable=true",
            code="executable_not_confirmed",
        )
    name = body.get("name_override")
    if name is not None:
        if not isinstance(name, str) or not name.strip():
            raise InvalidField("name_override: must be a non-empty string")
        config["name"] = name
    config.pop("workflow_id", None)
    warnings = _apply_secrets(config, redactions, body.get("secret_overrides"))
    warnings += await _resolve_refs(store, caller, bundle, config, clear)
    created = await parts.create(store, caller, parts.TOOLS, config, ceilings=ceilings)
    return {"tool": created, "warnings": warnings}
