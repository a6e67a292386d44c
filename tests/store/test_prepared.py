"""SQLite's hot statements run straight on its connection (``store.prepared``)
and the group commit's own ``BEGIN``/``COMMIT``: the same bytes as through
SQLAlchemy, the same errors, and atomic units."""

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from threadline.ids import new_object_id
from threadline.store import (
    ApiKey,
    Command,
    Document,
    Query,
    Store,
    open_store,
    prepared,
    sqlite_loop,
)

AT = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


def document(team: str, doc_id: str) -> Document:
    return Document(
        id=doc_id, team_id=team, workflow_id="w" * 24, version_number=3,
        logical_id="l", type="t", name="ünïcode ✓", status=None,
        search_text="s", body={"a": [1, 2.5, None, True], "é": "✓", "n": None},
        created_by="u", updated_by=None, created_at=AT, updated_at=AT,
    )  # fmt: skip


def command(team: str, command_id: str, run_id: str) -> Command:
    return Command(
        id=command_id, team_id=team, run_id=run_id, seq=0, status="pending",
        worker_id=None, idempotency_key=command_id, request_hash=None,
        interrupt=True, body={"x": "✓"}, response=None, created_at=AT,
        updated_at=AT, trace_context=None,
    )  # fmt: skip


async def write_everything(store: Store, team: str, tag: str) -> None:
    run_id = f"{tag}run".ljust(24, "0")
    async with store.begin() as tx:
        await tx.documents("workflows").insert(document(team, f"{tag}doc".ljust(24)))
        docs = tx.documents("workflows")
        await docs.set_status(
            team, f"{tag}doc".ljust(24), "ok", expected_status=None, at=AT, by="me"
        )
        cmd = command(team, f"{tag}cmd".ljust(24), run_id)
        await tx.commands().insert(cmd)
        await tx.commands().update(cmd.id, at=AT, status="running", response=None)
        await tx.commands().add_steps(cmd, 0, [{"s": 1}, {"s": "✓"}], AT)
        await tx.turns().append(team, run_id, 0, {"seg": "✓"}, AT, (0, {"h": 1}))
        await tx.turns().append_history(team, run_id, 1, {"h": [2]}, AT)


def stored(path: Path, table: str, key: str, tag: str) -> list[tuple[Any, ...]]:
    """Rows as SQLite holds them, with the tag taken out of the key column."""
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            f"SELECT * FROM {table} WHERE {key} LIKE ? ORDER BY 1, 2",
            (f"{tag}%",),
        ).fetchall()
    return [
        tuple(
            (v.replace(tag, "", 1) if isinstance(v, str) and v.startswith(tag) else v)
            for v in row
        )
        for row in rows
    ]


async def test_what_is_written_and_read_back_matches_sqlalchemys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = tmp_path / "same.db"
    store = open_store(f"sqlite:///{path}")
    await store.migrate()
    team = new_object_id()
    try:
        await write_everything(store, team, "fast")
        with monkeypatch.context() as m:  # every statement through SQLAlchemy
            m.setattr(prepared, "loop_connection", lambda conn: None)
            await write_everything(store, team, "slow")
            async with store.begin() as tx:
                slow_doc = await tx.documents("workflows").get(
                    team, "slowdoc".ljust(24)
                )
                slow_cmd = await tx.commands().get("slowcmd".ljust(24))
                slow_steps = await tx.commands().steps("slowcmd".ljust(24))
                slow_history = await tx.turns().history(team, "slowrun".ljust(24, "0"))
        async with store.begin() as tx:
            fast_doc = await tx.documents("workflows").get(team, "fastdoc".ljust(24))
            fast_cmd = await tx.commands().get("fastcmd".ljust(24))
            fast_steps = await tx.commands().steps("fastcmd".ljust(24))
            fast_history = await tx.turns().history(team, "fastrun".ljust(24, "0"))
    finally:
        await store.close()
    for table, key in (
        ("workflows", "id"),
        ("run_commands", "id"),
        ("run_steps", "command_id"),
        ("run_turns", "run_id"),
        ("run_history", "run_id"),
    ):
        fast, slow = stored(path, table, key, "fast"), stored(path, table, key, "slow")
        assert fast, table
        assert fast == slow, table
    assert fast_doc is not None
    assert slow_doc is not None
    assert fast_doc.created_at == AT
    assert fast_doc.body == slow_doc.body == document(team, "x").body
    assert fast_doc.status == "ok"
    assert fast_cmd is not None
    assert slow_cmd is not None
    assert fast_cmd.interrupt is True
    assert (fast_cmd.response, fast_cmd.updated_at) == (None, AT)
    assert fast_steps == slow_steps == [{"s": 1}, {"s": "✓"}]
    assert fast_history == slow_history == [{"h": 1}, {"h": [2]}]


async def test_errors_are_sqlalchemys_and_the_unit_changes_nothing(
    sqlite_store: Store,
):
    team, doc_id = new_object_id(), new_object_id()
    async with sqlite_store.begin() as tx:
        await tx.documents("workflows").insert(document(team, doc_id))
    with pytest.raises(IntegrityError):
        async with sqlite_store.begin() as tx:
            await tx.documents("workflows").insert(document(team, new_object_id()))
            await tx.documents("workflows").insert(document(team, doc_id))
    async with sqlite_store.begin() as tx:
        found, _ = await tx.documents("workflows").find(team, Query())
    assert [d.id for d in found] == [doc_id]


async def test_statements_through_sqlalchemy_share_the_units_transaction(
    sqlite_store: Store,
):
    """SQLAlchemy's statements (a filtered find, an API key) and the prepared
    ones see each other's writes in one unit, and a failing unit undoes both."""
    team = new_object_id()

    class Boom(Exception):
        pass

    key = ApiKey(
        id=new_object_id(), key_hash=new_object_id(), prefix="p", team_id=team,
        user_id="u", name="k", created_at=AT, revoked_at=None,
    )  # fmt: skip
    with pytest.raises(Boom):
        async with sqlite_store.begin() as tx:
            await tx.documents("workflows").insert(document(team, new_object_id()))
            await tx.add_api_key(key)
            found, _ = await tx.documents("workflows").find(team, Query(search="s"))
            assert len(found) == 1
            assert await tx.find_api_key(key.key_hash) == key
            raise Boom()
    async with sqlite_store.begin() as tx:
        assert (await tx.documents("workflows").find(team, Query()))[0] == []
        assert await tx.find_api_key(key.key_hash) is None


async def test_a_failed_commit_fails_its_unit_and_the_next_unit_works(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
):
    team, lost, kept = new_object_id(), new_object_id(), new_object_id()
    real = sqlite_loop.commit_inline

    def failing(conn: Any) -> None:
        monkeypatch.setattr(sqlite_loop, "commit_inline", real)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(sqlite_loop, "commit_inline", failing)
    with pytest.raises(OperationalError, match="disk I/O error"):
        async with sqlite_store.begin() as tx:
            await tx.documents("workflows").insert(document(team, lost))
    async with sqlite_store.begin() as tx:
        await tx.documents("workflows").insert(document(team, kept))
    async with sqlite_store.begin() as tx:
        found, _ = await tx.documents("workflows").find(team, Query())
    assert [d.id for d in found] == [kept]


async def test_a_unit_cancelled_before_its_commit_changes_nothing(
    sqlite_store: Store,
):
    team, doc_id = new_object_id(), new_object_id()
    body_done = asyncio.Event()

    async def unit() -> None:
        async with sqlite_store.begin() as tx:
            await tx.documents("workflows").insert(document(team, doc_id))
            body_done.set()  # the unit now yields once before its commit

    task = asyncio.create_task(unit())
    await body_done.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with sqlite_store.begin() as tx:
        assert await tx.documents("workflows").get(team, doc_id) is None
        await tx.documents("workflows").insert(document(team, new_object_id()))
    async with sqlite_store.begin() as tx:
        assert len((await tx.documents("workflows").find(team, Query()))[0]) == 1
