"""Saved LLM configs: named team-level LLM (or LLM group) configs.

A saved config is one ``llm_configs`` document per record, body
``{name, description, is_default, config}``; ``config`` is the wire JSON of the LLM
config union (``threadline.config.parse_llm_config``). The indexed columns carry
``name``, ``type`` (the config's type) and ``status`` (``"default"`` for the team
default, else null), so the default is found without reading every config.

Secrets (``api_key``, ``aws_secret_access_key``, credential-like
``default_headers``) are stored as sent and never returned in clear: every response
goes through ``mask_secrets`` (``"****"`` + the last four characters). An update
that sends a masked value back keeps the stored secret.

This module holds validation, CRUD and the team default. Trying a config (the
``test`` endpoints) lives in ``llm_config_tests``; run-time reference resolution
(``resolve_llm_refs``) in ``llm_config_refs``; masking in ``masking``.
"""

from datetime import datetime
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from threadline import config as wire_config
from threadline.errors import Conflict, InvalidField, NotFound
from threadline.ids import is_object_id, new_object_id
from threadline.service.caller import Caller
from threadline.service.definitions import wire
from threadline.service.definitions import workflows as wf
from threadline.service.definitions.envelopes import stored_doc
from threadline.service.definitions.masking import mask_secrets, restore_secrets
from threadline.store import Document, Query, Store, Transaction

JsonDict = dict[str, Any]

COLLECTION = "llm_configs"
DEFAULT_STATUS = "default"
_PROVIDER_TYPES = {
    "azure_openai": "azure_openai_llm",
    "openai": "openai_llm",
    "google": "google_llm",
    "anthropic": "anthropic_llm",
    "bedrock": "bedrock_llm",
    "custom": "custom_llm",
    "default_provider": "global_default_llm",
}
"""The config ``type`` implied by ``provider`` when a client leaves ``type`` out."""
_KNOWN_TYPES = frozenset(
    [*_PROVIDER_TYPES.values(), "no_llm", "llm_group", "llm_group_with_backchannel"]
)


# ------------------------------------------------------------------ validation


def field_error(field: str, message: str, kind: str = "value_error") -> InvalidField:
    return InvalidField(
        f"{field}: {message}",
        details=[{"field": field, "message": message, "type": kind}],
    )


def parse_config(raw: Any, field: str = "config") -> JsonDict:
    """Validate an LLM or LLM-group config (422 naming the bad field).

    A config without ``type`` gets the one its ``provider`` implies (the SDK's
    dict form ``{"provider": "openai", "model": ...}``); unknown types are refused.
    """
    if not isinstance(raw, dict):
        raise field_error(field, "an LLM config must be an object", "dict_type")
    if raw.get("type") is None and raw.get("provider") in _PROVIDER_TYPES:
        raw = {**raw, "type": _PROVIDER_TYPES[raw["provider"]]}
    kind = raw.get("type")
    if kind not in _KNOWN_TYPES:
        names = ", ".join(sorted(_KNOWN_TYPES))
        raise field_error(
            f"{field}.type",
            f"unknown LLM config type {kind!r}; expected one of: {names}",
            "enum",
        )
    try:
        return wire_config.dump(wire_config.parse_llm_config(raw))
    except ValidationError as exc:
        raise wire.invalid(exc, "LLM config", field) from exc


def _optional_text(raw: JsonDict, key: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise field_error(key, "must be a string or null", "string_type")
    return value


def _name(raw: JsonDict) -> str:
    value = raw.get("name")
    if not isinstance(value, str) or not value.strip():
        raise field_error("name", "a non-empty string is required", "missing")
    return value.strip()


def _flag(raw: JsonDict, key: str) -> bool | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, bool):
        raise field_error(key, "must be a boolean", "bool_type")
    return value


def require_object(raw: Any, what: str) -> JsonDict:
    if not isinstance(raw, dict):
        raise field_error("body", f"a {what} must be a JSON object", "dict_type")
    return raw


# ---------------------------------------------------------------- documents


def _document(
    caller: Caller, body: JsonDict, now: datetime, *, previous: Document | None = None
) -> Document:
    text = " ".join(str(body.get(k) or "") for k in ("name", "description"))
    return Document(
        id=previous.id if previous else new_object_id(),
        team_id=caller.team_id,
        body=body,
        created_at=previous.created_at if previous else now,
        updated_at=now,
        created_by=previous.created_by if previous else caller.user_id,
        updated_by=caller.user_id,
        type=str(body["config"].get("type")),
        name=body["name"],
        status=DEFAULT_STATUS if body.get("is_default") else None,
        search_text=text.lower(),
    )


def render(doc: Document) -> JsonDict:
    """``{id, name, description, is_default, config}`` plus the stored-doc audit."""
    body = doc.body
    return stored_doc(
        doc,
        "config",
        mask_secrets(body.get("config")),
        id=doc.id,
        llm_config_id=doc.id,
        name=body.get("name"),
        description=body.get("description"),
        is_default=bool(body.get("is_default")),
    )


async def get_doc(tx: Transaction, team_id: str, config_id: str) -> Document | None:
    if not is_object_id(config_id):
        return None
    return await tx.documents(COLLECTION).get(team_id, config_id)


async def must_get(tx: Transaction, caller: Caller, config_id: str) -> Document:
    doc = await get_doc(tx, caller.team_id, config_id)
    if doc is None:
        raise NotFound(f"LLM config {config_id!r} not found")
    return doc


async def default_doc(tx: Transaction, team_id: str) -> Document | None:
    docs, _ = await tx.documents(COLLECTION).find(
        team_id, Query(equals={"status": DEFAULT_STATUS}, size=1)
    )
    return docs[0] if docs else None


async def _claim_default(
    tx: Transaction, caller: Caller, own_id: str | None, override: bool
) -> None:
    """Make room for a new default: 409 unless ``override`` clears the old one."""
    current = await default_doc(tx, caller.team_id)
    if current is None or current.id == own_id:
        return
    if not override:
        raise Conflict(
            f"the team already has a default LLM config ({current.id!r}, "
            f"{current.body.get('name')!r}); send override_default: true to replace it"
        )
    body = {**current.body, "is_default": False}
    await tx.documents(COLLECTION).replace(
        _document(caller, body, wf.now(), previous=current)
    )


# -------------------------------------------------------------------- CRUD


async def create(store: Store, caller: Caller, raw: Any) -> JsonDict:
    """Validate and save a new config (optionally the team default)."""
    raw = require_object(raw, "LLM config")
    body: JsonDict = {
        "name": _name(raw),
        "description": _optional_text(raw, "description"),
        "is_default": bool(_flag(raw, "is_default")),
        "config": parse_config(raw.get("config")),
    }
    override = bool(_flag(raw, "override_default"))
    async with store.begin() as tx:
        if body["is_default"]:
            await _claim_default(tx, caller, None, override)
        doc = _document(caller, body, wf.now())
        await tx.documents(COLLECTION).insert(doc)
    return render(doc)


async def get(store: Store, caller: Caller, config_id: str) -> JsonDict:
    """One saved config of the caller's team."""
    async with store.begin() as tx:
        return render(await must_get(tx, caller, config_id))


async def get_default(store: Store, caller: Caller) -> JsonDict:
    """The team's default config; 404 when there is none."""
    async with store.begin() as tx:
        doc = await default_doc(tx, caller.team_id)
    if doc is None:
        raise NotFound("the team has no default LLM config")
    return render(doc)


async def list_(
    store: Store, caller: Caller, query: Query
) -> tuple[list[JsonDict], int]:
    """The team's saved configs, newest first; ``search`` matches name/description."""
    async with store.begin() as tx:
        docs, total = await tx.documents(COLLECTION).find(caller.team_id, query)
    return [render(d) for d in docs], total


async def update(store: Store, caller: Caller, config_id: str, raw: Any) -> JsonDict:
    """Apply the given fields; a masked secret sent back keeps the stored one."""
    patch = require_object(raw, "LLM config update")
    async with store.begin() as tx:
        doc = await must_get(tx, caller, config_id)
        body = dict(doc.body)
        if "name" in patch:
            body["name"] = _name(patch)
        if "description" in patch:
            body["description"] = _optional_text(patch, "description")
        if patch.get("config") is not None:
            fresh = parse_config(patch["config"])
            body["config"] = restore_secrets(
                fresh, doc.body.get("config"), field="config", keep_missing=False
            )
        is_default = _flag(patch, "is_default")
        override = bool(_flag(patch, "override_default"))
        if is_default is not None:
            if is_default:
                await _claim_default(tx, caller, doc.id, override)
            body["is_default"] = is_default
        doc = _document(caller, body, wf.now(), previous=doc)
        await tx.documents(COLLECTION).replace(doc)
    return render(doc)


async def delete(store: Store, caller: Caller, config_id: str) -> None:
    """Delete a saved config (references to it fail at run time afterwards)."""
    async with store.begin() as tx:
        doc = await must_get(tx, caller, config_id)
        await tx.documents(COLLECTION).delete(caller.team_id, doc.id)


@cache
def config_schema() -> JsonDict:
    """JSON schema of the config union (``LLMOrGroupConfig``)."""
    return TypeAdapter(wire_config.LLMOrGroupConfig).json_schema()
