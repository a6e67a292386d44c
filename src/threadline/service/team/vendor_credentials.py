"""Per-team vendor credentials: the team's own keys for LLM providers and vendors.

A team stores at most one credential per vendor (``PUT /v1/teams/current/
credentials/{vendor}``). Vendors: the LLM providers ``openai``, ``azure_openai``
(alias ``azure``), ``anthropic``, ``google`` (Gemini; alias ``gemini``),
``bedrock`` and ``custom``, and the services ``sms``, ``athena`` (alias ``ehr``)
``google_docs`` (alias ``google_workspace``), ``conversations``, ``email`` and
``web_search`` (the vendor inbuilt functions). A credential is a flat object of
fields (``{"api_key": "sk-..."}``; Azure adds ``endpoint``/``api_version``,
Bedrock ``region`` and either ``api_key`` or the access-key pair, Athena
``source_id``/``department_id``, SMS and Google Docs whatever their vendor needs).

Storage: one document of kind ``team_settings`` per credential (indexed ``type``
``"vendor_credential"``, ``name`` the vendor, ``status`` ``"secret"``); the body
holds the field names and ``ciphertext``, a Fernet token of the fields as JSON
(:mod:`threadline.service.team.secrets`, key ``THREADLINE_SECRET_KEY``). Values are
never returned: responses list the field names with every value masked
(``"********"``).

Lookup at call time (key order): the node's own key (its config) → the run's
team credential → the server's key (``THREADLINE_*``).

- LLM calls: :func:`team_ports` wraps the runtime's router in a
  ``providers.router.TeamLLM`` that loads the team's credentials on its first
  call; a call made with a team credential counts as a user-key call, one made
  with the server's key as a fallback-key call.
- Vendors: :func:`team_ports` also wraps each configured vendor; when a call's
  payload carries no credential of its own (athena: empty ``api_key``; google_docs
  and sms: empty ``credentials``), the team's credential is added (athena: its
  fields fill the empty ones; others: as ``credentials``). The vendor falls back
  to its server configuration when neither is there. Replies and errors are
  redacted of the team's secret values (:func:`secret_values`).
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from threadline.errors import ConfigError, InvalidField, NotFound
from threadline.ids import new_object_id
from threadline.nodes.base import Vendor
from threadline.nodes.vendors import redact_value
from threadline.providers.base import LLM
from threadline.providers.keys import TEAM_FIELDS, TeamKeys
from threadline.providers.router import TeamLLM
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.team import secrets, team_cache
from threadline.service.team.llm_endpoints import EndpointRules, check_fields
from threadline.store import Document, Query, Store, Transaction

JsonDict = dict[str, Any]

KIND = "team_settings"
TYPE = "vendor_credential"
SECRET_STATUS = "secret"
MASK = "********"
MAX_FIELDS = 20
MAX_VALUE = 16_384
SERVICE_FIELDS: dict[str, tuple[str, ...] | None] = {
    "sms": None,
    "athena": ("api_key", "source_id", "department_id", "client_id", "client_secret"),
    "google_docs": None,
    "conversations": None,
    "email": None,
    "web_search": None,
}
"""Fields a service credential may carry (None: any field name). ``conversations``
(telephony: ``call_forward``), ``email`` and ``web_search`` serve the vendor
inbuilt functions of ``tools/inbuilt.py``."""
VENDORS: dict[str, tuple[str, ...] | None] = {**TEAM_FIELDS, **SERVICE_FIELDS}
ALIASES = {
    "azure": "azure_openai",
    "gemini": "google",
    "ehr": "athena",
    "google_workspace": "google_docs",
}
_REQUIRED = {
    "openai": ("api_key",),
    "azure_openai": ("api_key",),
    "anthropic": ("api_key",),
    "google": ("api_key",),
    "custom": ("api_key",),
    "athena": ("api_key",),
}
_FIELD_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def _invalid(field: str, message: str, kind: str = "value_error") -> InvalidField:
    return InvalidField(
        f"{field}: {message}",
        details=[{"field": field, "message": message, "type": kind}],
    )


def vendor_name(raw: str) -> str:
    """The canonical vendor name; 422 (field ``vendor``) for an unknown one."""
    name = ALIASES.get(raw.strip().lower(), raw.strip().lower())
    if name not in VENDORS:
        known = ", ".join(sorted(VENDORS))
        raise _invalid("vendor", f"unknown vendor {raw!r}; use one of {known}")
    return name


def _unwrap(raw: Any) -> tuple[JsonDict, str]:
    """The fields object of a body (``{"credentials": {...}}`` or flat)."""
    if not isinstance(raw, dict):
        raise _invalid("body", "a credential must be a JSON object", "dict_type")
    if "credentials" not in raw:
        return {k: v for k, v in raw.items() if k != "description"}, ""
    extra = set(raw) - {"credentials", "description"}
    if extra:
        name = sorted(extra)[0]
        raise _invalid(name, "not allowed next to credentials", "extra_forbidden")
    inner = raw["credentials"]
    if not isinstance(inner, dict):
        raise _invalid("credentials", "must be a JSON object", "dict_type")
    return inner, "credentials."


def _text_value(field: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _invalid(field, "must be a string", "string_type")
    text = str(value)
    if len(text) > MAX_VALUE:
        raise _invalid(field, f"at most {MAX_VALUE} characters")
    return text


def _check_complete(vendor: str, fields: dict[str, str], prefix: str) -> None:
    for name in _REQUIRED.get(vendor, ()):
        if name not in fields:
            raise _invalid(f"{prefix}{name}", "required", "missing")
    if vendor == "bedrock" and not (
        "api_key" in fields
        or ("aws_access_key_id" in fields and "aws_secret_access_key" in fields)
    ):
        raise _invalid(
            f"{prefix}api_key",
            "bedrock needs api_key or aws_access_key_id and aws_secret_access_key",
            "missing",
        )
    if not fields or len(fields) > MAX_FIELDS:
        where = prefix.rstrip(".") or "body"
        raise _invalid(where, f"give between 1 and {MAX_FIELDS} credential fields")


def _fields(vendor: str, raw: Any) -> dict[str, str]:
    """The credential's fields from a request body (validated, values as text)."""
    items, prefix = _unwrap(raw)
    allowed = VENDORS[vendor]
    fields: dict[str, str] = {}
    for name, value in items.items():
        field = f"{prefix}{name}"
        if not name or set(name) - _FIELD_NAME_CHARS:
            raise _invalid(field, "field names are lower-case identifiers")
        if allowed is not None and name not in allowed:
            raise _invalid(
                field,
                f"{vendor} credentials take {', '.join(allowed)}",
                "extra_forbidden",
            )
        if value is not None and value != "":
            fields[name] = _text_value(field, value)
    _check_complete(vendor, fields, prefix)
    return fields


def _description(raw: Any) -> str | None:
    value = raw.get("description") if isinstance(raw, dict) else None
    if value is not None and not isinstance(value, str):
        raise _invalid("description", "must be a string", "string_type")
    return value


def render(doc: Document) -> JsonDict:
    """A credential as the API shows it: field names, every value masked."""
    body = doc.body
    return {
        "id": doc.id,
        "_id": doc.id,
        "vendor": body.get("vendor"),
        "fields": dict.fromkeys(body.get("field_names") or [], MASK),
        "description": body.get("description"),
        "team_id": doc.team_id,
        "created_by": doc.created_by,
        "updated_by": doc.updated_by,
        "created_at": doc.created_at.isoformat(),
        "updated_at": doc.updated_at.isoformat(),
    }


async def _find(tx: Transaction, team_id: str, vendor: str) -> Document | None:
    docs, _ = await tx.documents(KIND).find(
        team_id, Query(equals={"type": TYPE, "name": vendor}, size=1)
    )
    return docs[0] if docs else None


async def put(
    store: Store,
    caller: Caller,
    raw_vendor: str,
    raw: Any,
    key: str | None,
    *,
    rules: EndpointRules | None = None,
) -> tuple[JsonDict, bool]:
    """Create or replace the team's credential for a vendor; (shown, created).

    Its LLM URL (openai ``base_url``, azure ``endpoint``) must pass the SSRF
    guard (``rules``; default: no private addresses), as a config's would.
    """
    vendor = vendor_name(raw_vendor)
    fields = _fields(vendor, raw)
    if vendor in TEAM_FIELDS:  # an LLM provider: its URL is a tenant URL
        prefix = (
            "credentials." if isinstance(raw, dict) and "credentials" in raw else ""
        )
        urls = ("base_url", "endpoint")
        await check_fields(fields, urls, rules or EndpointRules(), prefix)
    body: JsonDict = {
        "vendor": vendor,
        "field_names": sorted(fields),
        "description": _description(raw),
        "ciphertext": secrets.encrypt(json.dumps(fields, sort_keys=True), key),
    }
    now = wf.now()
    async with store.begin() as tx:
        await tx.lock(f"{KIND}:{TYPE}:{caller.team_id}")
        previous = await _find(tx, caller.team_id, vendor)
        doc = Document(
            id=previous.id if previous else new_object_id(),
            team_id=caller.team_id,
            body=body,
            created_at=previous.created_at if previous else now,
            updated_at=now,
            created_by=previous.created_by if previous else caller.user_id,
            updated_by=caller.user_id,
            type=TYPE,
            name=vendor,
            status=SECRET_STATUS,
            search_text=vendor,
        )
        if previous is None:
            await tx.documents(KIND).insert(doc)
        else:
            await tx.documents(KIND).replace(doc)
    team_cache.of(store).invalidate(team_cache.CREDENTIALS, caller.team_id)
    return render(doc), previous is None


async def get(store: Store, caller: Caller, raw_vendor: str) -> JsonDict:
    """The team's credential for a vendor (masked); 404 when none."""
    vendor = vendor_name(raw_vendor)
    async with store.begin() as tx:
        doc = await _find(tx, caller.team_id, vendor)
    if doc is None:
        raise NotFound(f"the team has no {vendor} credential")
    return render(doc)


async def list_(store: Store, caller: Caller) -> list[JsonDict]:
    """The team's credentials (masked), by vendor name."""
    async with store.begin() as tx:
        docs, _ = await tx.documents(KIND).find(
            caller.team_id, Query(equals={"type": TYPE})
        )
    return sorted((render(d) for d in docs), key=lambda c: str(c["vendor"]))


async def delete(store: Store, caller: Caller, raw_vendor: str) -> None:
    """Delete the team's credential for a vendor; 404 when none."""
    vendor = vendor_name(raw_vendor)
    async with store.begin() as tx:
        doc = await _find(tx, caller.team_id, vendor)
        if doc is None:
            raise NotFound(f"the team has no {vendor} credential")
        await tx.documents(KIND).delete(caller.team_id, doc.id)
    team_cache.of(store).invalidate(team_cache.CREDENTIALS, caller.team_id)


# ------------------------------------------------------------- run time


async def for_team(store: Store, team_id: str) -> TeamKeys:
    """The team's credentials, decrypted with the store's key (cached per team:
    :func:`put` and :func:`delete` forget them, other processes see a change within
    ``THREADLINE_TEAM_CACHE_SECONDS``)."""
    if not team_id:
        return TeamKeys()
    cache = team_cache.of(store)
    found: TeamKeys | None = cache.get(team_cache.CREDENTIALS, team_id)
    if found is not None:
        return found
    ticket = cache.ticket(team_cache.CREDENTIALS, team_id)
    found = await _load(store, team_id)
    cache.put(team_cache.CREDENTIALS, team_id, found, ticket)
    return found


async def _load(store: Store, team_id: str) -> TeamKeys:
    async with store.begin() as tx:
        docs, _ = await tx.documents(KIND).find(team_id, Query(equals={"type": TYPE}))
    if not docs:
        return TeamKeys(team_id=team_id)
    key = secrets.key_for(store)
    credentials: dict[str, dict[str, str]] = {}
    for doc in docs:
        plain = secrets.decrypt(str(doc.body.get("ciphertext") or ""), key)
        fields = json.loads(plain)
        if isinstance(fields, dict):
            credentials[str(doc.body.get("vendor"))] = {
                str(k): str(v) for k, v in fields.items()
            }
    return TeamKeys(team_id=team_id, credentials=credentials)


@dataclass
class _TeamLoader:
    """Loads a team's credentials once and shares them (LLM and vendors)."""

    store: Store
    team_id: str
    keys: TeamKeys | None = None

    async def __call__(self) -> TeamKeys:
        if self.keys is None:
            self.keys = await for_team(self.store, self.team_id)
        return self.keys


def _with_credential(vendor: str, payload: JsonDict, cred: Mapping[str, str]) -> bool:
    """Add ``cred`` to ``payload`` when it has no credential; True if added."""
    if vendor == "athena":
        if payload.get("api_key") or payload.get("override_api_key"):
            return False
        for name, value in cred.items():
            if not payload.get(name):
                payload[name] = value
        return True
    if payload.get("credentials"):
        return False
    payload["credentials"] = dict(cred)
    return True


_SECRET_WORDS = ("key", "secret", "token", "password", "private")


def secret_values(cred: Mapping[str, str]) -> list[str]:
    """The values to redact from a vendor's replies: fields named like secrets
    (``api_key``, ``auth_token``, ``client_secret``, ...), at least 4 characters
    (ids, regions and endpoints are not secrets and would mangle ordinary text)."""
    return [
        v
        for k, v in cred.items()
        if len(v) >= 4 and any(word in k for word in _SECRET_WORDS)
    ]


@dataclass
class TeamVendor:
    """A vendor that fills in the team's credential when a call brings none."""

    vendor: str
    base: Vendor
    load: _TeamLoader

    async def call(self, operation: str, payload: JsonDict) -> JsonDict:
        team = await self.load()
        cred = team.credentials.get(self.vendor)
        if not cred:
            return await self.base.call(operation, payload)
        sent = dict(payload)
        if not _with_credential(self.vendor, sent, cred):
            return await self.base.call(operation, payload)
        hidden = secret_values(cred)
        try:
            reply = await self.base.call(operation, sent)
        except Exception as exc:
            message = redact_value(str(exc), hidden)
            raise RuntimeError(f"{type(exc).__name__}: {message}") from None
        redacted: JsonDict = redact_value(reply, hidden)
        return redacted


def team_ports(
    store: Store, team_id: str, llm: LLM, vendors: Mapping[str, Vendor]
) -> tuple[LLM, dict[str, Vendor]]:
    """The LLM and vendors of one turn of ``team_id`` (credentials loaded lazily,
    at most once, and only if a call needs them)."""
    loader = _TeamLoader(store, team_id)
    wrapped: dict[str, Vendor] = {
        name: TeamVendor(name, vendor, loader) if name in SERVICE_FIELDS else vendor
        for name, vendor in vendors.items()
    }
    return TeamLLM(llm, loader), wrapped


async def check_startup(store: Store, key: Any) -> None:
    """Refuse to start when credentials are stored and there is no secret key."""
    if secrets.check_key(key) is not None:
        return
    far = wf.now() + timedelta(days=36_500)
    async with store.begin() as tx:
        stored = await tx.documents(KIND).find_stale(SECRET_STATUS, far, 1)
    if stored:
        raise ConfigError(
            f"team vendor credentials are stored but {secrets.ENV_VAR} is not set; "
            "set it to the Fernet key they were encrypted with"
        )
