"""A team's global variables for a run: every value, secrets decrypted, cached per
team (``service.team.team_cache``) until a write forgets them."""

from dataclasses import dataclass, field
from typing import Any

from threadline.service.team import secrets, team_cache
from threadline.service.team.variable_documents import all_of, shown_value
from threadline.store import Store, Transaction

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class TeamGlobals:
    """A team's variables for a run: every value (decrypted) and the secret ones."""

    values: JsonDict = field(default_factory=dict)
    secret_values: tuple[str, ...] = ()


async def for_run(store: Store, team_id: str) -> TeamGlobals:
    """The team's variables for a turn, secrets decrypted with the store's key."""
    async with store.begin() as tx:
        return await for_run_in(tx, store, team_id)


async def for_run_in(tx: Transaction, store: Store, team_id: str) -> TeamGlobals:
    """:func:`for_run` inside a transaction the caller holds (cached per team)."""
    cache = team_cache.of(store)
    found: TeamGlobals | None = cache.get(team_cache.VARIABLES, team_id)
    if found is not None:
        return found
    ticket = cache.ticket(team_cache.VARIABLES, team_id)
    found = await _load(tx, store, team_id)
    cache.put(team_cache.VARIABLES, team_id, found, ticket)
    return found


async def _load(tx: Transaction, store: Store, team_id: str) -> TeamGlobals:
    docs = await all_of(tx, team_id)
    if not docs:
        return TeamGlobals()
    key = secrets.key_for(store)
    values: JsonDict = {}
    hidden: list[str] = []
    for doc in docs:
        body = doc.body
        if body.get("is_secret"):
            plain = secrets.decrypt(str(body.get("ciphertext") or ""), key)
            values[body["name"]] = plain
            if plain:
                hidden.append(plain)
        else:
            values[body["name"]] = shown_value(body)
    return TeamGlobals(values=values, secret_values=tuple(hidden))
