"""The run inboxes, step journals, worker heartbeats and leases in SQL.

Portable SQLAlchemy Core, used through one live connection (one transaction).
"""

from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, not_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from threadline.store import pg_journal, schema, statements
from threadline.store.base import Command, Duplicate, OperatorCounts
from threadline.store.prepared import Statements

JsonDict = dict[str, Any]
_FINISHED = ("done", "interrupted", "failed")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _to_command(row: Mapping[Any, Any]) -> Command:
    values = row if type(row) is dict else dict(row)
    values["created_at"] = _aware(values["created_at"])
    values["updated_at"] = _aware(values["updated_at"])
    values["interrupt"] = bool(values["interrupt"])
    return Command(**values)


class SqlCommands:
    """``run_commands`` and ``run_steps``."""

    def __init__(self, conn: AsyncConnection, run: Statements | None = None) -> None:
        self._conn = conn
        self._run = run if run is not None else Statements(conn)

    async def insert(self, command: Command) -> None:
        t = schema.run_commands
        values = {c.name: getattr(command, c.name) for c in t.columns}
        try:
            await self._run.write(statements.insert_into(t), values)
        except IntegrityError as exc:
            raise Duplicate(f"command {command.id}: {exc.orig}") from exc

    async def _one(self, column: str, params: dict[str, Any]) -> Command | None:
        row = await self._run.first(statements.command_by(column), params)
        return _to_command(row) if row is not None else None

    async def get(self, command_id: str) -> Command | None:
        return await self._one("id", {"k_value": command_id})

    async def by_key(self, team_id: str, key: str) -> Command | None:
        params = {"k_value": key, "k_team": team_id}
        return await self._one("idempotency_key", params)

    async def next_seq(self, run_id: str) -> int:
        t = schema.run_commands
        stmt = select(func.max(t.c.seq)).where(t.c.run_id == run_id)
        top = (await self._conn.execute(stmt)).scalar()
        return int(top) + 1 if top is not None else 0

    async def of_run(self, run_id: str, statuses: Collection[str]) -> list[Command]:
        wanted = list(statuses)
        if not 0 < len(wanted) <= 8:  # one statement per count: keep them few
            params: dict[str, Any] = {"k_run": run_id, "k_statuses": wanted}
            stmt = statements.commands_of_run()
            rows = (await self._conn.execute(stmt, params)).mappings().all()
            return [_to_command(r) for r in rows]
        params = {f"k_s{i}": s for i, s in enumerate(wanted)}
        params["k_run"] = run_id
        found = await self._run.rows(statements.commands_of_run_in(len(wanted)), params)
        return [_to_command(r) for r in found]

    async def update(
        self,
        command_id: str,
        *,
        at: datetime,
        expected_worker: str | None = None,
        **values: Any,
    ) -> bool:
        params = {**values, "updated_at": at, "k_id": command_id}
        if expected_worker is not None:
            params["k_worker"] = expected_worker
        stmt = statements.update_command(expected_worker is not None)
        return await self._run.write(stmt, params) > 0

    async def delete(self, command_id: str) -> None:
        params = {"k_id": command_id}
        await self._run.write(statements.delete_steps_of_command(), params)
        await self._run.write(statements.delete_command(), params)

    async def delete_owned(self, command_id: str, worker_id: str) -> bool:
        params = {"k_id": command_id, "k_worker": worker_id}
        stmt = statements.delete_owned_command()
        return await self._run.write(stmt, params) > 0

    async def finish(
        self,
        command_id: str,
        worker_id: str,
        *,
        at: datetime,
        values: Mapping[str, Any] | None,
        forget_steps: bool,
    ) -> bool:
        owned = {"k_id": command_id, "k_worker": worker_id}
        write: tuple[Any, Mapping[str, Any]]
        write = (statements.delete_owned_command(), owned)
        if values is not None:
            params = {**values, "updated_at": at, **owned}
            write = (statements.update_command(True), params)
        writes = [write]
        if forget_steps:
            writes.append((statements.delete_steps_of_command(), {"k_id": command_id}))
        return (await self._run.write_together(writes))[0] > 0

    async def orphans(self, dead_before: datetime, limit: int) -> list[Command]:
        t, w = schema.run_commands, schema.workers
        alive = select(w.c.id).where(w.c.heartbeat_at >= dead_before)
        stmt = (
            select(t)
            .where(
                t.c.status == "running",
                t.c.worker_id.is_not(None),
                not_(t.c.worker_id.in_(alive)),
                t.c.updated_at < dead_before,
            )
            .order_by(t.c.updated_at)
            .limit(limit)
        )
        rows = (await self._conn.execute(stmt)).mappings().all()
        return [_to_command(r) for r in rows]

    async def prune(self, done_before: datetime) -> int:
        t = schema.run_commands
        stmt = delete(t).where(t.c.status.in_(_FINISHED), t.c.updated_at < done_before)
        return (await self._conn.execute(stmt)).rowcount

    async def add_steps(
        self, command: Command, first_seq: int, bodies: list[JsonDict], at: datetime
    ) -> None:
        if not bodies:
            return
        rows = [
            {
                "command_id": command.id,
                "seq": first_seq + i,
                "team_id": command.team_id,
                "body": body,
                "created_at": at,
            }
            for i, body in enumerate(bodies)
        ]
        await self._run.write_many(statements.insert_into(schema.run_steps), rows)

    async def journal(
        self,
        command: Command,
        worker_id: str,
        first_seq: int,
        bodies: list[JsonDict],
        at: datetime,
    ) -> tuple[bool, bool]:
        pg = self._run.pg
        if pg is not None:  # one statement (``pg_journal``)
            return await pg_journal.journal(
                pg, self._conn.dialect, command, worker_id, first_seq, bodies, at
            )
        if not await self.update(command.id, at=at, expected_worker=worker_id):
            return False, False
        await self.add_steps(command, first_seq, bodies, at)
        pending = await self.of_run(command.run_id, ["pending"])
        return True, any(p.interrupt for p in pending)

    async def steps(self, command_id: str) -> list[JsonDict]:
        stmt = statements.steps_of_command()
        rows = await self._run.rows(stmt, {"k_id": command_id})
        return [dict(r["body"]) for r in rows]

    async def delete_steps(self, command_id: str) -> None:
        stmt = statements.delete_steps_of_command()
        await self._run.write(stmt, {"k_id": command_id})


class SqlWorkers:
    """``workers`` heartbeats and ``leases``."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def heartbeat(self, worker_id: str, kind: str, at: datetime) -> None:
        w = schema.workers
        stmt = update(w).where(w.c.id == worker_id).values(heartbeat_at=at)
        if (await self._conn.execute(stmt)).rowcount == 0:
            await self._conn.execute(
                w.insert().values(
                    id=worker_id, kind=kind, started_at=at, heartbeat_at=at
                )
            )

    async def remove(self, worker_id: str) -> None:
        w = schema.workers
        await self._conn.execute(delete(w).where(w.c.id == worker_id))

    async def live(self, since: datetime) -> list[str]:
        w = schema.workers
        stmt = select(w.c.id).where(w.c.heartbeat_at >= since).order_by(w.c.id)
        return list((await self._conn.execute(stmt)).scalars().all())

    async def seen(self, worker_id: str) -> datetime | None:
        w = schema.workers
        stmt = select(w.c.heartbeat_at).where(w.c.id == worker_id)
        value = (await self._conn.execute(stmt)).scalar_one_or_none()
        return None if value is None else _aware(value)

    async def take_lease(
        self, name: str, holder: str, now: datetime, until: datetime
    ) -> bool:
        lt = schema.leases
        stmt = (
            update(lt)
            .where(
                lt.c.name == name,
                or_(lt.c.holder == holder, lt.c.expires_at < now),
            )
            .values(holder=holder, expires_at=until)
        )
        if (await self._conn.execute(stmt)).rowcount > 0:
            return True
        exists = select(lt.c.name).where(lt.c.name == name)
        if (await self._conn.execute(exists)).first() is not None:
            return False
        await self._conn.execute(
            lt.insert().values(name=name, holder=holder, expires_at=until)
        )
        return True


__all__ = ["SqlCommands", "SqlWorkers"]


_TERMINAL_RUNS = ("completed", "failed", "cancelled", "aborted_looping_risk")
"""Run statuses that end a run (``service.commands.TERMINAL``)."""


async def operator_counts(conn: AsyncConnection, now: datetime) -> OperatorCounts:
    """Active runs by status, queued commands and due starts, across teams."""
    runs = schema.documents["workflow_runs"]
    stmt = (
        select(runs.c.status, func.count())
        .where(runs.c.status.is_not(None), runs.c.status.not_in(_TERMINAL_RUNS))
        .group_by(runs.c.status)
    )
    by_status = {str(s): int(n) for s, n in (await conn.execute(stmt)).all()}
    commands = schema.run_commands
    pending = (
        await conn.execute(
            select(func.count())
            .select_from(commands)
            .where(commands.c.status == "pending")
        )
    ).scalar_one()
    # A waiting start is a ``pending`` schedule whose due time (``updated_at``,
    # see ``service.automation.start_queue``) has come.
    starts = schema.documents["schedules"]
    due = (
        await conn.execute(
            select(func.count())
            .select_from(starts)
            .where(starts.c.status == "pending", starts.c.updated_at <= now)
        )
    ).scalar_one()
    return OperatorCounts(
        runs_by_status=by_status, commands_pending=int(pending), starts_due=int(due)
    )
