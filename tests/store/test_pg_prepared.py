"""PostgreSQL's hot statements on the asyncpg connection under SQLAlchemy's
(``store.pg_prepared``): the same rows as through SQLAlchemy, the same errors, one
transaction with SQLAlchemy's statements, atomic units, and serialised across
processes by the advisory lock."""

import asyncio
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.exc import IntegrityError

from tests.store.test_prepared import AT, command, document, write_everything
from threadline.ids import new_object_id
from threadline.store import ApiKey, Query, Store, open_store, pg_prepared


def _pg_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only (make test-pg)")


def _dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _stored(url: str, table: str, key: str, tag: str) -> list[tuple[Any, ...]]:
    """Rows as PostgreSQL holds them (JSON as its text), the tag taken out."""
    conn = await asyncpg.connect(_dsn(url))
    try:
        cols = await conn.fetch(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_name = $1 ORDER BY ordinal_position",
            table,
        )
        names = ", ".join(
            f"{c['column_name']}::text"
            if c["data_type"] == "json"
            else c["column_name"]
            for c in cols
        )
        rows = await conn.fetch(
            f"SELECT {names} FROM {table} WHERE {key} LIKE $1 ORDER BY 1, 2", f"{tag}%"
        )
    finally:
        await conn.close()
    return [
        tuple(
            (v.replace(tag, "", 1) if isinstance(v, str) and v.startswith(tag) else v)
            for v in row
        )
        for row in rows
    ]


async def test_the_prepared_path_writes_and_reads_what_sqlalchemy_does(
    database_url: str, store: Store, monkeypatch: pytest.MonkeyPatch
):
    _pg_only(database_url)
    team, fast, slow = (
        new_object_id(),
        "f" + new_object_id()[-7:],
        "s" + new_object_id()[-7:],
    )
    sent: list[str] = []
    real = pg_prepared.PgConnection.execute

    async def counted(self: Any, sql: str, args: Any) -> int:
        sent.append(sql)
        return await real(self, sql, args)

    with monkeypatch.context() as m:
        m.setattr(pg_prepared.PgConnection, "execute", counted)
        await write_everything(store, team, fast)
    assert len(sent) >= 6  # the writes took the prepared path
    with monkeypatch.context() as m:  # every statement through SQLAlchemy
        m.setattr(pg_prepared, "connection", lambda conn: None)
        await write_everything(store, team, slow)
        async with store.begin() as tx:
            slow_doc = await tx.documents("workflows").get(team, f"{slow}doc".ljust(24))
            slow_cmd = await tx.commands().get(f"{slow}cmd".ljust(24))
            slow_steps = await tx.commands().steps(f"{slow}cmd".ljust(24))
            slow_hist = await tx.turns().history(team, f"{slow}run".ljust(24, "0"))
    async with store.begin() as tx:
        fast_doc = await tx.documents("workflows").get(team, f"{fast}doc".ljust(24))
        fast_cmd = await tx.commands().get(f"{fast}cmd".ljust(24))
        fast_steps = await tx.commands().steps(f"{fast}cmd".ljust(24))
        fast_hist = await tx.turns().history(team, f"{fast}run".ljust(24, "0"))
    for table, key in (
        ("workflows", "id"),
        ("run_commands", "id"),
        ("run_steps", "command_id"),
        ("run_turns", "run_id"),
        ("run_history", "run_id"),
    ):
        mine = await _stored(database_url, table, key, fast)
        assert mine, table
        assert mine == await _stored(database_url, table, key, slow), table
    assert fast_doc is not None and slow_doc is not None
    assert fast_doc.created_at == AT
    assert fast_doc.body == slow_doc.body == document(team, "x").body
    assert (fast_doc.status, slow_doc.status) == ("ok", "ok")
    assert fast_cmd is not None and slow_cmd is not None
    assert replace(fast_cmd, id="", idempotency_key="", run_id="") == replace(
        slow_cmd, id="", idempotency_key="", run_id=""
    )
    assert fast_cmd.interrupt is True
    assert fast_steps == slow_steps == [{"s": 1}, {"s": "✓"}]
    assert fast_hist == slow_hist == [{"h": 1}, {"h": [2]}]


async def test_errors_are_sqlalchemys_and_a_failing_unit_leaves_nothing(
    database_url: str, store: Store
):
    _pg_only(database_url)
    team, doc_id = new_object_id(), new_object_id()
    async with store.begin() as tx:
        await tx.documents("workflows").insert(document(team, doc_id))
    with pytest.raises(IntegrityError):
        async with store.begin() as tx:
            await tx.documents("workflows").insert(document(team, new_object_id()))
            await tx.documents("workflows").insert(document(team, doc_id))
    for _ in range(3):  # the pool's connections are all still usable
        async with store.begin() as tx:
            found, _ = await tx.documents("workflows").find(team, Query())
        assert [d.id for d in found] == [doc_id]


async def test_sqlalchemys_statements_and_the_prepared_ones_are_one_transaction(
    database_url: str, store: Store
):
    _pg_only(database_url)
    team = new_object_id()

    class Boom(Exception):
        pass

    key = ApiKey(
        id=new_object_id(), key_hash=new_object_id(), prefix="p", team_id=team,
        user_id="u", name="k", created_at=AT, revoked_at=None,
    )  # fmt: skip
    doc_id = new_object_id()
    with pytest.raises(Boom):
        async with store.begin() as tx:
            await tx.documents("workflows").insert(document(team, doc_id))  # BEGIN
            await tx.add_api_key(key)
            found, _ = await tx.documents("workflows").find(team, Query(search="s"))
            assert len(found) == 1
            assert await tx.find_api_key(key.key_hash) == key
            # another connection does not see the unit's writes before it ends
            async with store.begin() as other:
                assert await other.documents("workflows").get(team, doc_id) is None
            raise Boom()
    async with store.begin() as tx:
        assert (await tx.documents("workflows").find(team, Query()))[0] == []
        assert await tx.find_api_key(key.key_hash) is None


# The other process: COUNT units of lock + read + write of one document's counter.
CHILD = """
import asyncio, sys
from dataclasses import replace
from threadline.store import open_store

url, team, doc_id, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

async def main():
    store = open_store(url)
    async def bump():
        async with store.begin() as tx:
            await tx.lock(f"counter:{doc_id}")
            docs = tx.documents("workflows")
            doc = await docs.get(team, doc_id)
            await asyncio.sleep(0)  # let the other units of this process run
            await docs.replace(replace(doc, body={"n": doc.body["n"] + 1}))
    try:
        await asyncio.gather(*(bump() for _ in range(count)))
    finally:
        await store.close()

asyncio.run(main())
"""


async def test_read_modify_write_units_of_two_processes_are_serialised(
    database_url: str, store: Store, tmp_path: Path
):
    _pg_only(database_url)
    team, doc_id, count = new_object_id(), new_object_id(), 40
    async with store.begin() as tx:
        start = replace(document(team, doc_id), body={"n": 0})
        await tx.documents("workflows").insert(start)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, str(script), database_url, team, doc_id, str(count)
        )
        for _ in range(2)
    ]
    assert [await c.wait() for c in children] == [0, 0]
    reopened = open_store(database_url)
    try:
        async with reopened.begin() as tx:
            found = await tx.documents("workflows").get(team, doc_id)
    finally:
        await reopened.close()
    assert found is not None
    assert found.body == {"n": 2 * count}  # no update lost


async def test_journaling_a_step_is_one_statement_of_its_own(
    database_url: str, store: Store, monkeypatch: pytest.MonkeyPatch
):
    """No ``BEGIN`` or ``COMMIT``: the fence, the steps and the look for an
    interrupt go to PostgreSQL as one statement, which it commits on its own."""
    _pg_only(database_url)
    from datetime import UTC, datetime

    from threadline.store import Command

    at = datetime(2026, 1, 1, tzinfo=UTC)
    cmd = Command(
        id=new_object_id(),
        team_id="t" * 24,
        run_id=new_object_id(),
        seq=0,
        status="running",
        body={"run_input": {}},
        created_at=at,
        updated_at=at,
        worker_id="w1",
    )
    async with store.begin() as tx:
        await tx.commands().insert(cmd)
    async with store.begin() as tx:  # the statement prepared, the connection kept
        await tx.commands().journal(cmd, "w1", 0, [{"s": 0}], at)
    sent: list[str] = []
    for name in ("execute", "executemany", "fetch", "fetchrow", "fetchval"):
        method = getattr(asyncpg.Connection, name)

        def counted(self: Any, query: str, *args: Any, _m: Any = method) -> Any:
            sent.append(query.split()[0])
            return _m(self, query, *args)

        monkeypatch.setattr(asyncpg.Connection, name, counted)
    async with store.begin() as tx:
        owned = await tx.commands().journal(cmd, "w1", 1, [{"s": 1}, {"s": 2}], at)
    monkeypatch.undo()
    assert owned == (True, False)
    assert sent == ["WITH"]
    async with store.begin() as tx:
        assert await tx.commands().steps(cmd.id) == [{"s": i} for i in range(3)]
        await tx.commands().delete(cmd.id)


async def test_a_turns_closing_writes_go_as_two_statements(
    database_url: str, store: Store, monkeypatch: pytest.MonkeyPatch
):
    """Under the run's lock: the command closed with its journal, then the segment
    with the run row: one statement each, their counts seen, and atomic."""
    _pg_only(database_url)
    from datetime import timedelta

    from threadline.store import schema, statements
    from threadline.store.prepared import Statements

    team, run = new_object_id(), new_object_id()
    doc = document(team, new_object_id())
    cmds = [replace(command(team, new_object_id(), run), seq=i) for i in range(3)]
    async with store.begin() as tx:
        await tx.documents("workflows").insert(doc)
        for cmd in cmds:
            await tx.commands().insert(replace(cmd, worker_id="w1", status="running"))
            await tx.commands().add_steps(cmd, 0, [{"s": 0}], AT)

    async def close(cmd: Any, index: int) -> tuple[bool, bool]:
        async with store.begin() as tx:
            await tx.lock(f"run:{run}")
            owned = await tx.commands().finish(
                cmd.id, "w1", at=AT, values=None, forget_steps=True
            )
            await tx.turns().append(team, run, index, {"i": index}, AT, later=True)
            moved = replace(doc, name=f"n{index}", updated_at=AT)
            kept = await tx.documents("workflows").replace(moved, expected_status=None)
        return owned, kept

    assert await close(cmds[0], 0) == (True, True)  # prepared, connection kept
    sent: list[str] = []
    for name in ("execute", "executemany", "fetch", "fetchrow", "fetchval"):
        method = getattr(asyncpg.Connection, name)

        def counted(self: Any, query: str, *args: Any, _m: Any = method) -> Any:
            sent.append(query.split()[0])
            return _m(self, query, *args)

        monkeypatch.setattr(asyncpg.Connection, name, counted)
    assert await close(cmds[1], 1) == (True, True)
    monkeypatch.undo()
    assert sent == ["BEGIN;", "WITH", "WITH", "COMMIT"]
    async with store.begin() as tx:
        assert await tx.turns().list(team, run) == [{"i": 0}, {"i": 1}]
        assert await tx.commands().get(cmds[1].id) is None
        assert await tx.commands().steps(cmds[1].id) == []
        # A later part that fails leaves nothing of the earlier one.
        with pytest.raises(IntegrityError):
            async with store.begin() as inner:
                run_steps = statements.insert_into(schema.run_steps)
                again = {
                    "command_id": cmds[2].id, "seq": 0, "team_id": team,
                    "body": {"s": 1}, "created_at": AT,
                }  # fmt: skip
                touched = {"updated_at": AT + timedelta(days=1), "k_id": cmds[2].id}
                await Statements(cast(Any, inner).conn).write_together(
                    [(statements.update_command(False), touched), (run_steps, again)]
                )
        kept = await tx.commands().get(cmds[2].id)
        assert kept is not None and kept.updated_at == AT
        for cmd in cmds:
            await tx.commands().delete(cmd.id)
        await tx.turns().delete_run(team, run)
