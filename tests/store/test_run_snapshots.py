"""A run's config snapshot is stored once (``run_snapshots``), not in its row: on
every database, reads give the run exactly as written, equal snapshots of a team
share one row, a rolled-back write is not taken for a stored one, sealed values
stay sealed, and rows in the older shape read as they are and are migrated."""

import copy
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from threadline.ids import new_object_id
from threadline.store import Document, Query, Store, open_store, schema
from threadline.store import dialect as store_dialect
from threadline.store import run_snapshots as snap
from threadline.store.migrations import LATEST_VERSION

T0 = datetime(2026, 1, 1, tzinfo=UTC)
JsonDict = dict[str, Any]
RUNS = schema.documents["workflow_runs"]


def snapshot(prompt: str = "You help.") -> JsonDict:
    return {
        "workflow_config": {"name": "Chat", "max_turns": None},
        "node_configs": [
            {"logical_id": "node_chat", "type": "say_llm", "prompt": prompt},
            {"logical_id": "node_é", "type": "say_static", "texts": ["a", "b"]},
        ],
        "edge_configs": [],
        "managed_prompts": {},
    }


def run(team: str, config: JsonDict | None, **record: Any) -> Document:
    body = {
        "workflow_run": {
            "status": "waiting_for_user_input",
            "workflow_config_fully_hydrated": copy.deepcopy(config),
            "variables": {"n": 1},
            **record,
        },
        "state": {"turn": 1},
    }
    return Document(
        id=new_object_id(),
        team_id=team,
        body=body,
        created_at=T0,
        updated_at=T0,
        status="waiting_for_user_input",
    )


@pytest.fixture
async def raw(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = store_dialect.create_engine(database_url)
    yield engine
    await engine.dispose()


async def row_body(engine: AsyncEngine, run_id: str) -> JsonDict:
    async with engine.connect() as conn:
        body = (
            await conn.execute(select(RUNS.c.body).where(RUNS.c.id == run_id))
        ).scalar_one()
    return json.loads(body) if isinstance(body, str) else dict(body)


async def snapshot_rows(engine: AsyncEngine, team: str) -> dict[str, JsonDict]:
    t = schema.run_snapshots
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(t.c.ref, t.c.body_zlib).where(t.c.team_id == team)
            )
        ).all()
    return {ref: json.loads(snap.unpack(packed)) for ref, packed in rows}


async def test_a_run_reads_back_exactly_with_its_snapshot_stored_once(
    store: Store, raw: AsyncEngine, database_url: str
):
    team, other_team = new_object_id(), new_object_id()
    first, second = run(team, snapshot()), run(team, snapshot(), variables={"n": 2})
    third = run(other_team, snapshot())
    async with store.begin() as tx:
        await tx.documents("workflow_runs").insert(first)
        await tx.documents("workflow_runs").insert_many([second])
        await tx.documents("workflow_runs").insert(third)
    body = await row_body(raw, first.id)
    ref = snap.ref_of(body)
    assert ref is not None and "node_chat" not in json.dumps(body)
    assert await snapshot_rows(raw, team) == {ref: snapshot()}  # shared by both
    assert await snapshot_rows(raw, other_team) == {ref: snapshot()}  # its own
    for reader in (store, open_store(database_url)):  # this process, and a new one
        async with reader.begin() as tx:
            runs = tx.documents("workflow_runs")
            assert (await runs.get(team, first.id)) == first
            found, total = await runs.find(team, Query())
            assert total == 2 and {d.id: d for d in found} == {
                first.id: first,
                second.id: second,
            }
            paged, _ = await runs.find(team, Query(size=1))
            assert paged[0] in (first, second)
            assert await runs.get(other_team, first.id) is None
        if reader is not store:
            await reader.close()
    # The snapshot's key keeps its place among the record's keys.
    async with store.begin() as tx:
        got = await tx.documents("workflow_runs").get(team, first.id)
    assert got is not None
    assert list(got.body["workflow_run"]) == list(first.body["workflow_run"])


async def test_saves_write_the_snapshot_only_when_it_changes(
    store: Store, raw: AsyncEngine, database_url: str, monkeypatch: pytest.MonkeyPatch
):
    team = new_object_id()
    doc = run(team, snapshot())
    async with store.begin() as tx:
        await tx.documents("workflow_runs").insert(doc)
    serialised: list[JsonDict] = []
    real = snap.stored_text

    def counted(value: JsonDict) -> str:
        serialised.append(value)
        return real(value)

    monkeypatch.setattr(snap, "stored_text", counted)
    sizes = set()
    for n in range(5):  # turns: the state changes, the snapshot does not
        async with store.begin() as tx:
            runs = tx.documents("workflow_runs")
            now = await runs.get(team, doc.id)
            assert now is not None
            now.body["state"]["turn"] = n
            assert await runs.replace(now)
        sizes.add(len(json.dumps(await row_body(raw, doc.id))))
    assert serialised == [] and len(sizes) == 1 and max(sizes) < 400
    # An upgrade: the run now reads the new snapshot; the old row stays shared.
    upgraded = snap.with_field(doc.body, snapshot("You help VIPs."))
    async with store.begin() as tx:
        await tx.documents("workflow_runs").replace(
            Document(**{**_fields(doc), "body": upgraded})
        )
    assert len(serialised) == 1
    assert len(await snapshot_rows(raw, team)) == 2
    fresh = open_store(database_url)
    try:
        async with fresh.begin() as tx:
            got = await tx.documents("workflow_runs").get(team, doc.id)
        assert got is not None
        assert got.body["workflow_run"]["workflow_config_fully_hydrated"] == snapshot(
            "You help VIPs."
        )
    finally:
        await fresh.close()


def _fields(doc: Document) -> JsonDict:
    return {name: getattr(doc, name) for name in Document.__dataclass_fields__}


async def test_a_rolled_back_write_is_not_taken_for_a_stored_snapshot(
    store: Store, raw: AsyncEngine
):
    team = new_object_id()
    doc = run(team, snapshot("only in a rolled-back transaction"))
    with pytest.raises(RuntimeError):
        async with store.begin() as tx:
            await tx.documents("workflow_runs").insert(doc)
            raise RuntimeError("roll back")
    assert await snapshot_rows(raw, team) == {}
    async with store.begin() as tx:
        await tx.documents("workflow_runs").insert(doc)
    async with store.begin() as tx:
        assert await tx.documents("workflow_runs").get(team, doc.id) == doc
    assert len(await snapshot_rows(raw, team)) == 1


async def test_a_sealed_snapshot_stays_sealed_in_its_row(
    database_url: str, raw: AsyncEngine
):
    def sealer(kind: str, body: JsonDict) -> JsonDict:
        text = json.dumps(body).replace("SECRET", "sealed:xyz")
        return dict(json.loads(text))

    store = open_store(database_url)
    store.set_sealer(sealer)
    team = new_object_id()
    doc = run(team, snapshot("key SECRET"))
    try:
        async with store.begin() as tx:
            await tx.documents("workflow_runs").insert(doc)
        for _ in range(2):  # the save of a turn, with the in-memory (clear) body
            async with store.begin() as tx:
                await tx.documents("workflow_runs").replace(doc)
        async with store.begin() as tx:
            got = await tx.documents("workflow_runs").get(team, doc.id)
    finally:
        await store.close()
    [stored] = (await snapshot_rows(raw, team)).values()
    assert "SECRET" not in json.dumps(stored)
    assert "key sealed:xyz" in json.dumps(stored)
    assert got is not None and "SECRET" not in json.dumps(got.body)


async def test_older_rows_read_as_they_are_and_the_migration_moves_them_out(
    store: Store, raw: AsyncEngine, database_url: str
):
    team = new_object_id()
    older, unset = run(team, snapshot()), run(team, None)
    async with raw.begin() as conn:  # written as before: the snapshot in the row
        for doc in (older, unset):
            await conn.execute(RUNS.insert().values(**_fields(doc)))
    async with store.begin() as tx:
        assert await tx.documents("workflow_runs").get(team, older.id) == older
    async with raw.begin() as conn:
        await conn.execute(text("UPDATE threadline_schema_version SET version = 16"))
    migrated = open_store(database_url)
    try:
        assert await migrated.migrate() == LATEST_VERSION - 16
        assert await migrated.migrate() == 0
        async with migrated.begin() as tx:
            runs = tx.documents("workflow_runs")
            assert await runs.get(team, older.id) == older
            assert await runs.get(team, unset.id) == unset
    finally:
        await migrated.close()
    ref = snap.ref_of(await row_body(raw, older.id))
    assert await snapshot_rows(raw, team) == {str(ref): snapshot()}
    assert snap.ref_of(await row_body(raw, unset.id)) is None
