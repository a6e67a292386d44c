"""Statements on the hot path of a turn, built once per table and reused.

Building a SQLAlchemy statement and its cache key costs more than executing it on
SQLite; these take their values as bound parameters (``k_…`` for conditions, column
names for the values an ``UPDATE`` sets or an ``INSERT`` writes).
"""

from functools import cache
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Delete,
    Insert,
    Select,
    Table,
    Update,
    bindparam,
    delete,
    select,
    union_all,
    update,
)

from threadline.store import schema


@cache
def get_document(table: Table) -> Select[tuple[object, ...]]:
    return select(table).where(
        table.c.team_id == bindparam("k_team"), table.c.id == bindparam("k_id")
    )


@cache
def update_document(table: Table, guard: str) -> Update:
    """By team and id; ``guard``: ``""`` none, ``"status"`` the status is
    ``k_status``, ``"null"`` the status is NULL; with ``_at`` appended, also
    ``updated_at`` is ``k_updated_at``."""
    stmt = update(table).where(
        table.c.team_id == bindparam("k_team"), table.c.id == bindparam("k_id")
    )
    status = guard.removesuffix("_at")
    if status == "status":
        stmt = stmt.where(table.c.status == bindparam("k_status"))
    elif status == "null":
        stmt = stmt.where(table.c.status.is_(None))
    if guard.endswith("_at"):
        stmt = stmt.where(table.c.updated_at == bindparam("k_updated_at"))
    return stmt


@cache
def team_documents(table: Table, newest_first: bool) -> Select[tuple[object, ...]]:
    """Every document of one team (an unfiltered, unpaged ``find``)."""
    order = (
        (table.c.created_at.desc(), table.c.id.desc())
        if newest_first
        else (table.c.created_at.asc(), table.c.id.asc())
    )
    return select(table).where(table.c.team_id == bindparam("k_team")).order_by(*order)


@cache
def documents_where(
    table: Table, names: tuple[str, ...], newest_first: bool
) -> Select[tuple[object, ...]]:
    """One team's documents whose columns ``names`` equal ``k_<name>`` each (an
    unpaged ``find`` by plain values: a version's nodes, a team's subscriptions)."""
    order = (
        (table.c.created_at.desc(), table.c.id.desc())
        if newest_first
        else (table.c.created_at.asc(), table.c.id.asc())
    )
    conds = [table.c.team_id == bindparam("k_team")]
    conds += [table.c[name] == bindparam(f"k_{name}") for name in names]
    return select(table).where(*conds).order_by(*order)


@cache
def commands_of_run() -> Select[tuple[object, ...]]:
    t = schema.run_commands
    return (
        select(t)
        .where(
            t.c.run_id == bindparam("k_run"),
            t.c.status.in_(bindparam("k_statuses", expanding=True)),
        )
        .order_by(t.c.seq)
    )


@cache
def delete_owned_command() -> Delete:
    t = schema.run_commands
    return delete(t).where(
        t.c.id == bindparam("k_id"), t.c.worker_id == bindparam("k_worker")
    )


@cache
def update_command(owned: bool) -> Update:
    t = schema.run_commands
    stmt = update(t).where(t.c.id == bindparam("k_id"))
    if owned:
        stmt = stmt.where(t.c.worker_id == bindparam("k_worker"))
    return stmt


@cache
def run_history() -> CompoundSelect[int, bytes]:
    """A run's history rows from ``k_since`` on, in order: ``run_history`` rows and
    those carried by its segments (``run_turns.history_seq``)."""
    h, t = schema.run_history, schema.run_turns
    own = select(h.c.seq, h.c.body_zlib).where(
        h.c.team_id == bindparam("k_team"),
        h.c.run_id == bindparam("k_run"),
        h.c.seq >= bindparam("k_since"),
    )
    carried = select(t.c.history_seq, t.c.history_zlib).where(
        t.c.team_id == bindparam("k_team"),
        t.c.run_id == bindparam("k_run"),
        t.c.history_seq >= bindparam("k_since"),
    )
    return union_all(own, carried).order_by("seq")


@cache
def insert_into(table: Table) -> Insert:
    """An ``INSERT`` of the columns its parameters name."""
    return table.insert()


@cache
def command_by(column: str) -> Select[tuple[object, ...]]:
    """The command whose ``column`` is ``k_value`` (``id``; or, with ``k_team``,
    ``idempotency_key``)."""
    t = schema.run_commands
    stmt = select(t).where(t.c[column] == bindparam("k_value"))
    if column != "id":
        stmt = stmt.where(t.c.team_id == bindparam("k_team"))
    return stmt


@cache
def commands_of_run_in(count: int) -> Select[tuple[object, ...]]:
    """``commands_of_run`` with ``count`` statuses ``k_s0``… bound one by one (a
    statement that SQLite's path can run as compiled, without expansion)."""
    t = schema.run_commands
    statuses: list[Any] = [bindparam(f"k_s{i}") for i in range(count)]
    return (
        select(t)
        .where(t.c.run_id == bindparam("k_run"), t.c.status.in_(statuses))
        .order_by(t.c.seq)
    )


@cache
def delete_command() -> Delete:
    t = schema.run_commands
    return delete(t).where(t.c.id == bindparam("k_id"))


@cache
def steps_of_command() -> Select[tuple[object, ...]]:
    s = schema.run_steps
    return select(s.c.body).where(s.c.command_id == bindparam("k_id")).order_by(s.c.seq)


@cache
def delete_steps_of_command() -> Delete:
    s = schema.run_steps
    return delete(s).where(s.c.command_id == bindparam("k_id"))


@cache
def run_segments() -> Select[tuple[object, ...]]:
    t = schema.run_turns
    return (
        select(t.c.body, t.c.body_zlib)
        .where(t.c.team_id == bindparam("k_team"), t.c.run_id == bindparam("k_run"))
        .order_by(t.c.turn_index)
    )
