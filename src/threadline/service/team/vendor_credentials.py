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

What a credential may hold is ``credential_fields``'; the call-time lookup
(``for_team``, ``team_ports``) is ``credential_ports``'.
"""

import json
from datetime import timedelta
from typing import Any

from threadline.errors import ConfigError, NotFound
from threadline.ids import new_object_id
from threadline.providers.keys import TEAM_FIELDS
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.team import secrets, team_cache
from threadline.service.team.credential_fields import (
    credential_fields,
    description,
    vendor_name,
)
from threadline.service.team.credential_ports import (
    KIND,
    TYPE,
    TeamVendor,
    for_team,
    secret_values,
    team_ports,
)
from threadline.service.team.llm_endpoints import EndpointRules, check_fields
from threadline.store import Document, Query, Store, Transaction

__all__ = [
    "KIND",
    "MASK",
    "SECRET_STATUS",
    "TYPE",
    "TeamVendor",
    "check_startup",
    "delete",
    "for_team",
    "get",
    "list_",
    "put",
    "render",
    "secret_values",
    "team_ports",
]

JsonDict = dict[str, Any]

SECRET_STATUS = "secret"
MASK = "********"


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
    fields = credential_fields(vendor, raw)
    if vendor in TEAM_FIELDS:  # an LLM provider: its URL is a tenant URL
        prefix = (
            "credentials." if isinstance(raw, dict) and "credentials" in raw else ""
        )
        urls = ("base_url", "endpoint")
        await check_fields(fields, urls, rules or EndpointRules(), prefix)
    body: JsonDict = {
        "vendor": vendor,
        "field_names": sorted(fields),
        "description": description(raw),
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
