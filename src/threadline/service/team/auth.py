"""API keys: created once, stored as SHA-256 hashes, bound to a team and a user.

An active key's record is cached by its hash (``service.team.team_cache``: for
``THREADLINE_AUTH_CACHE_SECONDS`` at most; a revoke in this process forgets every
cached key at once; an unknown or revoked key is never cached).
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from threadline.errors import Forbidden, InvalidField, NotFound, Unauthenticated
from threadline.ids import is_object_id, new_object_id
from threadline.service.caller import Caller
from threadline.service.team import team_cache
from threadline.store import ApiKey, Store

KEY_PREFIX = "tl_"


def hash_key(key: str) -> str:
    """Return the stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key as created: the secret is shown once and never stored."""

    record: ApiKey
    secret: str


def _check_team_and_user(team_id: str, user_id: str) -> None:
    if not is_object_id(team_id):
        raise InvalidField(f"team_id {team_id!r} must be a 24-hex id")
    if not user_id:
        raise InvalidField("user_id must not be empty")


async def create_key(
    store: Store,
    team_id: str,
    user_id: str,
    *,
    name: str | None = None,
    secret: str | None = None,
) -> NewKey:
    """Create a key for ``team_id``/``user_id``; ``secret`` fixes its value."""
    _check_team_and_user(team_id, user_id)
    secret = secret or KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(
        id=new_object_id(),
        key_hash=hash_key(secret),
        prefix=secret[:8],
        team_id=team_id,
        user_id=user_id,
        name=name,
        created_at=datetime.now(UTC),
    )
    async with store.begin() as tx:
        existing = await tx.find_api_key(record.key_hash)
        if existing is None:
            await tx.add_api_key(record)
            return NewKey(record, secret)
    if existing.team_id != team_id or existing.user_id != user_id:
        raise InvalidField("that key value is already bound to another team or user")
    return NewKey(existing, secret)


async def list_keys(store: Store, team_id: str | None = None) -> list[ApiKey]:
    """List keys (all teams when ``team_id`` is None)."""
    async with store.begin() as tx:
        return await tx.list_api_keys(team_id)


async def revoke_key(store: Store, key_id: str) -> None:
    """Revoke a key by id; a revoked key authenticates nothing."""
    async with store.begin() as tx:
        if not await tx.revoke_api_key(key_id, datetime.now(UTC)):
            raise NotFound(f"no active API key with id {key_id!r}")
    # Committed: this process refuses the key from the next request on.
    team_cache.of(store).invalidate(team_cache.AUTH)


async def _active_key(store: Store, key_hash: str) -> ApiKey | None:
    """The active key with this hash (cached), or None (never cached)."""
    cache = team_cache.of(store)
    key: ApiKey | None = cache.get(team_cache.AUTH, key_hash)
    if key is not None:
        return key
    ticket = cache.ticket(team_cache.AUTH, key_hash)
    async with store.begin() as tx:
        key = await tx.find_api_key(key_hash)
    if key is None or key.revoked_at is not None:
        return None
    cache.put(team_cache.AUTH, key_hash, key, ticket)
    return key


async def authenticate(
    store: Store,
    authorization: str | None,
    team_header: str | None,
    user_header: str | None,
) -> Caller:
    """Resolve an ``Authorization: Bearer`` header to the caller.

    The SDK's ``teamid`` and ``uuid`` headers are honoured as assertions: when
    present they must name the key's own team and user, or the call is refused.
    """
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("missing 'Authorization: Bearer <api key>' header")
    key = await _active_key(store, hash_key(token))
    if key is None:
        raise Unauthenticated("the API key is unknown or revoked")
    if team_header and team_header != key.team_id:
        raise Forbidden(f"header teamid {team_header!r} is not the API key's team")
    if user_header and user_header != key.user_id:
        raise Forbidden(f"header uuid {user_header!r} is not the API key's user")
    return Caller(team_id=key.team_id, user_id=key.user_id, key_id=key.id)


async def caller_by_hash(store: Store, key_hash: str) -> Caller | None:
    """The caller of an active key given by its stored hash (console sessions)."""
    key = await _active_key(store, key_hash)
    if key is None:
        return None
    return Caller(team_id=key.team_id, user_id=key.user_id, key_id=key.id)


async def first_run_key(store: Store, team_id: str, user_id: str) -> NewKey | None:
    """On a database without any API key, create one development key; else None.

    Checked and created in one transaction, so it happens once per database.
    """
    _check_team_and_user(team_id, user_id)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    async with store.begin() as tx:
        if await tx.list_api_keys(None):
            return None
        record = ApiKey(
            id=new_object_id(),
            key_hash=hash_key(secret),
            prefix=secret[:8],
            team_id=team_id,
            user_id=user_id,
            name="development (first run)",
            created_at=datetime.now(UTC),
        )
        await tx.add_api_key(record)
    return NewKey(record, secret)
