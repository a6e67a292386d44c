"""A turn does not rewrite its run's config snapshot: the run row's write carries
a reference of constant size, the snapshot is not serialised again, and the run
reads back with it (in this process and in another)."""

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.service.test_run_history import Chat
from threadline.providers.fake import ScriptedLLM
from threadline.service.running import run_records
from threadline.service.runtime import Runtime
from threadline.store import Store, open_store, schema
from threadline.store import dialect as store_dialect
from threadline.store import run_snapshots as snap

JsonDict = dict[str, Any]


async def _raw(database_url: str, chat: Chat) -> tuple[JsonDict, int]:
    """The run row's body as stored, and how many snapshots its team has."""
    runs, snapshots = schema.documents["workflow_runs"], schema.run_snapshots
    engine = store_dialect.create_engine(database_url)
    try:
        async with engine.connect() as conn:
            body = (
                await conn.execute(select(runs.c.body).where(runs.c.id == chat.run_id))
            ).scalar_one()
            count = (
                await conn.execute(
                    select(func.count())
                    .select_from(snapshots)
                    .where(snapshots.c.team_id == chat.caller.team_id)
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    return (json.loads(body) if isinstance(body, str) else dict(body)), int(count)


async def test_turns_write_a_reference_to_the_snapshot_not_the_snapshot(
    store: Store, database_url: str, monkeypatch: pytest.MonkeyPatch
):
    llm = ScriptedLLM(latency_ms=0)
    chat = Chat(store, Runtime(llm=llm), llm)
    await chat.start()
    started, _ = await _raw(database_url, chat)
    ref = snap.ref_of(started)
    assert ref is not None
    serialised: list[JsonDict] = []
    real = snap.stored_text

    def counted(value: JsonDict) -> str:
        serialised.append(value)
        return real(value)

    monkeypatch.setattr(snap, "stored_text", counted)
    sizes = []
    for n in range(8):
        await chat.say(n)
        row, count = await _raw(database_url, chat)
        assert snap.ref_of(row) == ref and count == 1
        assert "You help." not in json.dumps(row)  # the prompt is in the snapshot
        sizes.append(len(json.dumps(row["workflow_run"])))
    assert serialised == []  # no turn serialised (nor sealed, nor hashed) it
    assert max(sizes) - min(sizes) < 40, sizes
    record = (await run_records.load(store, chat.caller, str(chat.run_id)))[
        "workflow_run"
    ]
    config = record["workflow_config_fully_hydrated"]
    assert [n["logical_id"] for n in config["node_configs"]] == [
        "node_greet",
        "node_chat",
    ]
    other = open_store(database_url)  # a process that never saw the run
    try:
        again = await run_records.load(other, chat.caller, str(chat.run_id))
    finally:
        await other.close()
    assert again["workflow_run"]["workflow_config_fully_hydrated"] == config
