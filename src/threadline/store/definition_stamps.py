"""A team's definition stamp: whether its stored workflow versions changed.

Every transaction that writes one of a team's ``workflow_versions``, ``nodes``,
``edges``, ``llm_configs`` or ``managed_prompts`` documents (what a run's config
snapshot is made of) or ``webhook_subscriptions`` (whom a run's events go to),
by insert, replace, status, delete, by id or by condition, raises the team's
counter in ``definition_stamps`` once, just before it commits
(``SqlTransaction.touched``; the ``UPDATE`` is the transaction's last lock, so it
adds no lock-order cycle on PostgreSQL). The counter is in the same commit as
the change, and a transaction reads it before the rows it covers: what it reads
is at least as new as the stamp it read, and a stamp once passed is never read
again by a transaction that starts later.

A process may therefore keep what it derived from a version (its hydrated
snapshot, ``service.running.version_cache``) under the stamp it read first in the
transaction that read the version, and reuse it while a later transaction reads
the same stamp: any process's edit of any of these documents of the team
changes it. The stamp is per team, not per version: an edit costs the team's
other cached versions one fresh read each, and a delete by id needs no look-up
of the version the deleted node belonged to.
"""

from collections import OrderedDict
from collections.abc import Hashable
from functools import cache
from typing import Generic, TypeVar

from sqlalchemy import Insert, Select, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from threadline.store import schema
from threadline.store.prepared import Statements

V = TypeVar("V")

STAMPED = frozenset(
    {
        "workflow_versions",
        "nodes",
        "edges",
        "llm_configs",
        "managed_prompts",
        "webhook_subscriptions",
    }
)
"""The document kinds whose writes raise their team's stamp."""


@cache
def _read() -> Select[tuple[int]]:
    t = schema.definition_stamps
    return select(t.c.stamp).where(t.c.team_id == bindparam("k_team"))


@cache
def _raise(dialect: str) -> Insert:
    t = schema.definition_stamps
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(t).values(team_id=bindparam("k_team"), stamp=1)
    return stmt.on_conflict_do_update(
        index_elements=[t.c.team_id], set_={"stamp": t.c.stamp + 1}
    )


async def read(run: Statements, team_id: str) -> int:
    """The team's stamp (0: none of its versions was ever written)."""
    row = await run.first(_read(), {"k_team": team_id})
    return 0 if row is None else int(row["stamp"])


async def raise_stamps(conn: AsyncConnection, team_ids: set[str]) -> None:
    """Raise each team's stamp by one (in a fixed order: no deadlock between two
    transactions raising the same teams)."""
    stmt = _raise(conn.dialect.name)
    for team_id in sorted(team_ids):
        await conn.execute(stmt, {"k_team": team_id})


class StampedCache(Generic[V]):
    """Values derived from a team's definitions, each kept under the stamp read
    before them: ``get`` finds a value only under the same stamp. Bounded to
    ``size`` keys (least recently used first out; 0: nothing kept)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._held: OrderedDict[Hashable, tuple[int, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._held)

    def get(self, key: Hashable, stamp: int) -> V | None:
        found = self._held.get(key)
        if found is None or found[0] != stamp:
            return None
        self._held.move_to_end(key)
        return found[1]

    def put(self, key: Hashable, stamp: int, value: V) -> None:
        if self.size <= 0:
            return
        held = self._held.get(key)
        if held is not None and held[0] > stamp:
            return  # a value under a newer stamp is kept already
        self._held[key] = (stamp, value)
        self._held.move_to_end(key)
        while len(self._held) > self.size:
            self._held.popitem(last=False)
