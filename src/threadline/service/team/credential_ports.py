"""The team's vendor credentials at call time: loaded (cached per team) and
filled into the turn's LLM and vendors when a call brings no credential of its own.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from threadline.nodes.base import Vendor
from threadline.nodes.vendors import redact_value
from threadline.providers.base import LLM
from threadline.providers.keys import TeamKeys
from threadline.providers.router import TeamLLM
from threadline.service.team import secrets, team_cache
from threadline.service.team.credential_fields import SERVICE_FIELDS
from threadline.store import Query, Store

JsonDict = dict[str, Any]

KIND = "team_settings"
TYPE = "vendor_credential"


async def for_team(store: Store, team_id: str) -> TeamKeys:
    """The team's credentials, decrypted with the store's key (cached per team:
    ``vendor_credentials.put`` and ``delete`` forget them, other processes see a
    change within ``THREADLINE_TEAM_CACHE_SECONDS``)."""
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
