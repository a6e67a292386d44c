"""Saved LLM configs: named team-level LLM (or LLM group) configs.

A saved config is one ``llm_configs`` document per record, body
``{name, description, is_default, config}``; ``config`` is the wire JSON of the LLM
config union (``threadline.config.parse_llm_config``). The indexed columns carry
``name``, ``type`` (the config's type) and ``status`` (``"default"`` for the team
default, else null), so the default is found without reading every config.

Secrets (``api_key``, ``aws_secret_access_key``, credential-like
``default_headers``) are stored as sent and never returned in clear: every response
goes through ``mask_secrets`` (``"****"`` + the last four characters). An update
that sends a masked value back keeps the stored secret; a test override whose
secret is masked or null reuses the stored one.

Run time: ``resolve_llm_refs`` replaces every ``attachable_llm_config_id`` /
``named_llm_config_id`` (or ``named_llm_config_name``) reference in a hydrated
snapshot by the saved config, and a ``global_default_llm`` config that would
actually be used (node, then workflow) by the team's default saved config.
"""

import time
from datetime import datetime
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from threadline import config as wire_config
from threadline.errors import BadRequest, Conflict, InvalidField, NotFound
from threadline.ids import is_object_id, new_object_id
from threadline.providers.base import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    LLMError,
    Role,
)
from threadline.service import wire
from threadline.service import workflows as wf
from threadline.service.caller import Caller
from threadline.service.envelopes import stored_doc
from threadline.service.masking import (
    mask_secrets,
    restore_secrets,
)
from threadline.service.runtime import Runtime
from threadline.store import Document, Query, Store, Transaction

JsonDict = dict[str, Any]

COLLECTION = "llm_configs"
DEFAULT_STATUS = "default"
"""Keys whose string value is a secret wherever they appear."""
"""A ``default_headers`` entry whose name contains one of these is a secret."""
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
_ROLES: dict[str, Role] = {
    "human": "user",
    "user": "user",
    "ai": "assistant",
    "assistant": "assistant",
    "system": "system",
}
GROUP_TYPES = frozenset({"llm_group", "llm_group_with_backchannel"})
DEFAULT_LLM_TYPE = "global_default_llm"


# --------------------------------------------------------------------- secrets


# ------------------------------------------------------------------ validation


def _field_error(field: str, message: str, kind: str = "value_error") -> InvalidField:
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
        raise _field_error(field, "an LLM config must be an object", "dict_type")
    if raw.get("type") is None and raw.get("provider") in _PROVIDER_TYPES:
        raw = {**raw, "type": _PROVIDER_TYPES[raw["provider"]]}
    kind = raw.get("type")
    if kind not in _KNOWN_TYPES:
        names = ", ".join(sorted(_KNOWN_TYPES))
        raise _field_error(
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
        raise _field_error(key, "must be a string or null", "string_type")
    return value


def _name(raw: JsonDict) -> str:
    value = raw.get("name")
    if not isinstance(value, str) or not value.strip():
        raise _field_error("name", "a non-empty string is required", "missing")
    return value.strip()


def _flag(raw: JsonDict, key: str) -> bool | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, bool):
        raise _field_error(key, "must be a boolean", "bool_type")
    return value


def _object(raw: Any, what: str) -> JsonDict:
    if not isinstance(raw, dict):
        raise _field_error("body", f"a {what} must be a JSON object", "dict_type")
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


async def _get_doc(tx: Transaction, team_id: str, config_id: str) -> Document | None:
    if not is_object_id(config_id):
        return None
    return await tx.documents(COLLECTION).get(team_id, config_id)


async def _must_get(tx: Transaction, caller: Caller, config_id: str) -> Document:
    doc = await _get_doc(tx, caller.team_id, config_id)
    if doc is None:
        raise NotFound(f"LLM config {config_id!r} not found")
    return doc


async def _default_doc(tx: Transaction, team_id: str) -> Document | None:
    docs, _ = await tx.documents(COLLECTION).find(
        team_id, Query(equals={"status": DEFAULT_STATUS}, size=1)
    )
    return docs[0] if docs else None


async def _claim_default(
    tx: Transaction, caller: Caller, own_id: str | None, override: bool
) -> None:
    """Make room for a new default: 409 unless ``override`` clears the old one."""
    current = await _default_doc(tx, caller.team_id)
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
    raw = _object(raw, "LLM config")
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
        return render(await _must_get(tx, caller, config_id))


async def get_default(store: Store, caller: Caller) -> JsonDict:
    """The team's default config; 404 when there is none."""
    async with store.begin() as tx:
        doc = await _default_doc(tx, caller.team_id)
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
    patch = _object(raw, "LLM config update")
    async with store.begin() as tx:
        doc = await _must_get(tx, caller, config_id)
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
        doc = await _must_get(tx, caller, config_id)
        await tx.documents(COLLECTION).delete(caller.team_id, doc.id)


@cache
def config_schema() -> JsonDict:
    """JSON schema of the config union (``LLMOrGroupConfig``)."""
    return TypeAdapter(wire_config.LLMOrGroupConfig).json_schema()


# -------------------------------------------------------------------- test


def _messages(raw: JsonDict) -> tuple[ChatMessage, ...]:
    prompt = raw.get("system_prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _field_error("system_prompt", "a non-empty string is required", "missing")
    out = [ChatMessage("system", prompt)]
    items = raw.get("messages") or []
    if not isinstance(items, list):
        raise _field_error("messages", "must be a list", "list_type")
    for index, item in enumerate(items):
        field = f"messages.{index}"
        if not isinstance(item, dict):
            raise _field_error(field, "a message must be an object", "dict_type")
        role = _ROLES.get(str(item.get("role") or "human").lower())
        if role is None:
            names = ", ".join(_ROLES)
            raise _field_error(f"{field}.role", f"expected one of: {names}", "enum")
        content = item.get("content")
        if not isinstance(content, str):
            raise _field_error(f"{field}.content", "must be a string", "string_type")
        out.append(ChatMessage(role, content))
    return tuple(out)


def _group_members(config: JsonDict) -> list[JsonDict]:
    """The members a group call races (a backchannel group: its main group's)."""
    group = config
    if config.get("type") == "llm_group_with_backchannel":
        group = config.get("main_llm_config") or {}
    return [m for m in group.get("llms") or [] if isinstance(m, dict)]


def _primary(config: JsonDict) -> JsonDict:
    """The first single config of a (possibly nested) group."""
    for _ in range(4):
        if config.get("type") not in GROUP_TYPES:
            break
        members = _group_members(config)
        config = members[0] if members else {}
    return config


def _member(config: JsonDict, response: ChatResponse) -> JsonDict | None:
    """``{index, logical_id, provider, model}`` of the group member that answered.

    The group reports its winner as ``extra["group"]["winner_index"]`` or as
    ``winner`` (the member's ``logical_id``, else ``llms[<i>]``); a group client
    that reports nothing answered with its first member.
    """
    if config.get("type") not in GROUP_TYPES:
        return None
    members = _group_members(config)
    report = response.extra.get("group") if response.extra else None
    index: Any = report.get("winner_index") if isinstance(report, dict) else None
    if not isinstance(index, int):
        index = 0
        for i, member in enumerate(members):
            if response.winner in (member.get("logical_id"), f"llms[{i}]"):
                index = i
                break
    if not 0 <= index < len(members):
        return None
    member = members[index]
    return {
        "index": index,
        "logical_id": member.get("logical_id"),
        "provider": member.get("provider"),
        "model": member.get("model"),
    }


def _as_int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


async def _exercise(
    runtime: Runtime, config: JsonDict, messages: tuple[ChatMessage, ...]
) -> JsonDict:
    primary = _primary(config)
    result: JsonDict = {
        "success": False,
        "response": None,
        "error": None,
        "provider": primary.get("provider"),
        "model": primary.get("model"),
        "prompt_tokens": None,
        "completion_tokens": None,
        "total_tokens": None,
        "latency_ms": None,
        "winning_member": None,
        "backchannel_response": None,
        "backchannel_member": None,
        "backchannel_prompt_tokens": None,
        "backchannel_completion_tokens": None,
        "backchannel_total_tokens": None,
    }
    started = time.perf_counter()
    try:
        response = await runtime.llm.chat(
            ChatRequest(llm_config=config, messages=messages, purpose="llm_config_test")
        )
    except LLMError as exc:
        elapsed = (time.perf_counter() - started) * 1000
        return {**result, "error": exc.message, "latency_ms": round(elapsed)}
    elapsed = response.latency_ms or (time.perf_counter() - started) * 1000
    extra = response.extra or {}
    return {
        **result,
        "success": True,
        "response": response.content,
        "provider": response.provider or result["provider"],
        "model": response.model or result["model"],
        "prompt_tokens": response.usage.input_tokens,
        "completion_tokens": response.usage.output_tokens,
        "total_tokens": response.usage.total_tokens,
        "latency_ms": round(elapsed),
        "winning_member": _member(config, response),
        "backchannel_response": extra.get("backchannel_response"),
        "backchannel_member": extra.get("backchannel_member"),
        "backchannel_prompt_tokens": _as_int(extra.get("backchannel_prompt_tokens")),
        "backchannel_completion_tokens": _as_int(
            extra.get("backchannel_completion_tokens")
        ),
        "backchannel_total_tokens": _as_int(extra.get("backchannel_total_tokens")),
    }


async def try_saved(
    store: Store, caller: Caller, runtime: Runtime, config_id: str, raw: Any
) -> JsonDict:
    """Run a prompt against a saved config (or an override reusing its secrets)."""
    body = _object(raw, "test request")
    messages = _messages(body)
    async with store.begin() as tx:
        doc = await _must_get(tx, caller, config_id)
    stored: JsonDict = doc.body["config"]
    config = stored
    if body.get("config") is not None:
        config = restore_secrets(
            parse_config(body["config"]), stored, field="config", keep_missing=True
        )
    return await _exercise(runtime, config, messages)


async def try_inline(runtime: Runtime, raw: Any) -> JsonDict:
    """Run a prompt against an unsaved config (it carries its own secrets)."""
    body = _object(raw, "test request")
    messages = _messages(body)
    if body.get("config") is None:
        raise _field_error("config", "an LLM config is required", "missing")
    return await _exercise(runtime, parse_config(body["config"]), messages)


# ------------------------------------------------------------- run time


def _reference(doc: Document) -> JsonDict:
    """The saved config as it goes into a snapshot, stamped with where it came from."""
    return {
        **doc.body["config"],
        "named_llm_config_id": doc.id,
        "named_llm_config_name": doc.body.get("name"),
    }


class _Resolver:
    """Reads each saved config once per snapshot."""

    def __init__(self, tx: Transaction, team_id: str) -> None:
        self.tx = tx
        self.team_id = team_id
        self._by_id: dict[str, Document | None] = {}
        self._default: Document | None = None
        self._default_read = False

    async def by_id(self, config_id: str, owner: str, via: str) -> JsonDict:
        if config_id not in self._by_id:
            self._by_id[config_id] = await _get_doc(self.tx, self.team_id, config_id)
        doc = self._by_id[config_id]
        if doc is None:
            raise NotFound(
                f"{owner} references LLM config {config_id!r} ({via}), which does "
                "not exist in this team"
            )
        return _reference(doc)

    async def by_name(self, name: str, owner: str, via: str) -> JsonDict:
        docs, _ = await self.tx.documents(COLLECTION).find(
            self.team_id, Query(equals={"name": name})
        )
        if not docs:
            raise NotFound(
                f"{owner} references LLM config named {name!r} ({via}), which does "
                "not exist in this team"
            )
        if len(docs) > 1:
            raise BadRequest(
                f"{owner} references LLM config named {name!r} ({via}), but "
                f"{len(docs)} configs have that name; use named_llm_config_id"
            )
        return _reference(docs[0])

    async def default(self) -> JsonDict | None:
        if not self._default_read:
            self._default = await _default_doc(self.tx, self.team_id)
            self._default_read = True
        return _reference(self._default) if self._default is not None else None

    async def config(self, value: Any, owner: str, field: str) -> Any:
        """``value`` with its named reference (and its group members') resolved."""
        if not isinstance(value, dict):
            return value
        ref_id = value.get("named_llm_config_id")
        if isinstance(ref_id, str) and ref_id:
            return await self.by_id(ref_id, owner, f"{field}.named_llm_config_id")
        ref_name = value.get("named_llm_config_name")
        if isinstance(ref_name, str) and ref_name:
            return await self.by_name(ref_name, owner, f"{field}.named_llm_config_name")
        kind = value.get("type")
        if kind == "llm_group" and isinstance(value.get("llms"), list):
            llms = [
                await self.config(m, owner, f"{field}.llms.{i}")
                for i, m in enumerate(value["llms"])
            ]
            return {**value, "llms": llms}
        if kind == "llm_group_with_backchannel":
            out = dict(value)
            for key in ("main_llm_config", "backchannel_llm_config"):
                out[key] = await self.config(value.get(key), owner, f"{field}.{key}")
            return out
        return value

    async def owner(self, part: JsonDict, owner: str) -> JsonDict:
        """A node or the workflow config with every LLM reference resolved."""
        out = dict(part)
        attached = part.get("attachable_llm_config_id")
        for key, value in part.items():
            if key.endswith("llms_config"):
                out[key] = await self.config(value, owner, key)
        if isinstance(attached, str) and attached:
            out["llms_config"] = await self.by_id(
                attached, owner, "attachable_llm_config_id"
            )
        return out


def _is_default_llm(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == DEFAULT_LLM_TYPE


async def resolve_llm_refs(
    tx: Transaction, team_id: str, hydrated: JsonDict
) -> JsonDict:
    """The snapshot with saved-config references and the team default resolved.

    - ``attachable_llm_config_id`` on a node or the workflow config: its
      ``llms_config`` becomes that saved config (it overrides the inline one);
    - ``named_llm_config_id`` (else ``named_llm_config_name``) inside any
      ``*llms_config`` (group members included): that config becomes the saved one;
    - a ``global_default_llm`` config that would be used (the workflow's, or a
      node's when the workflow has none to fall back to) becomes the team's
      default saved config, when the team has one.

    Unknown references raise ``NotFound`` naming the node and the id. Resolved
    configs carry ``named_llm_config_id``/``named_llm_config_name``. The input is
    never changed.
    """
    resolver = _Resolver(tx, team_id)
    workflow = hydrated.get("workflow_config")
    if isinstance(workflow, dict):
        workflow = await resolver.owner(workflow, "the workflow config")
        if _is_default_llm(workflow.get("llms_config")):
            team_default = await resolver.default()
            if team_default is not None:
                workflow["llms_config"] = team_default
    fallback = workflow.get("llms_config") if isinstance(workflow, dict) else None
    nodes = []
    for index, node in enumerate(hydrated.get("node_configs") or []):
        if not isinstance(node, dict):
            nodes.append(node)
            continue
        name = node.get("logical_id") or f"#{index}"
        node = await resolver.owner(node, f"node {name!r}")
        if _is_default_llm(node.get("llms_config")) and not fallback:
            team_default = await resolver.default()
            if team_default is not None:
                node["llms_config"] = team_default
        nodes.append(node)
    out = dict(hydrated)
    if isinstance(workflow, dict):
        out["workflow_config"] = workflow
    if "node_configs" in hydrated:
        out["node_configs"] = nodes
    return out
