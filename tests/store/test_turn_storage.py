"""Run segments are stored compressed and read back exactly; older rows still read."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, select

from threadline.ids import new_object_id
from threadline.store import Store, open_store
from threadline.store import dialect as store_dialect
from threadline.store.migrations import LATEST_VERSION, current_version
from threadline.store.schema import run_turns

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def segment(n: int) -> dict[str, Any]:
    """A segment shaped like a chat turn, with the awkward values JSON allows."""
    event = {
        "type": "say_llm",
        "timestamp": 1795949999.9877918,
        "comments": [],
        "interrupted": False,
        "message": {"type": "ai", "content": f'Réponse n°{n} — ✓ "quoted"\n'},
        "llm_usage_info": {"input_tokens": 20, "latency_ms": 0.0, "extra": None},
    }
    return {
        "run_input": {"command": "data", "runtime_variables": {"done": False}},
        "run_output": {
            "events": [{**event, "logical_id": f"event_{i}"} for i in range(12)],
            "thread_to_node_outputs": {"0": [{"type": "say_llm", "n": -1.5e-7}]},
        },
        "evaluation": None,
        "iteration_end_state_miscellaneous": {
            "thread_id_to_nodes_history": {"0": ["node_chat"] * n},
            "active_thread_ids": ["0"],
        },
        "comments": [],
        "ratings": [],
    }


async def test_a_segment_reads_back_exactly_and_is_stored_smaller_than_its_json(
    store: Store, database_url: str
):
    team, run = new_object_id(), new_object_id()
    written = [segment(i) for i in range(3)]
    async with store.begin() as tx:
        for i, body in enumerate(written):
            await tx.turns().append(team, run, i, body, T0)
    async with store.begin() as tx:
        assert await tx.turns().list(team, run) == written
        assert await tx.turns().replace(team, run, 1, segment(40), T0)
    async with store.begin() as tx:
        assert await tx.turns().list(team, run) == [written[0], segment(40), written[2]]
    engine = store_dialect.create_engine(database_url)
    try:
        async with engine.connect() as conn:
            t = run_turns
            stmt = select(t.c.body_zlib).where(t.c.team_id == team, t.c.run_id == run)
            stored = (await conn.execute(stmt)).scalars().all()
    finally:
        await engine.dispose()
    compact = len(json.dumps(written[2], separators=(",", ":")).encode())
    assert all(s is not None and len(s) < compact / 2 for s in stored)


async def test_a_segment_written_before_compression_still_reads(
    store: Store, database_url: str
):
    team, run = new_object_id(), new_object_id()
    old = segment(2)
    engine = store_dialect.create_engine(database_url)
    try:
        async with engine.begin() as conn:
            row = {"team_id": team, "run_id": run, "created_at": T0, "updated_at": T0}
            await conn.execute(run_turns.insert().values(turn_index=0, body=old, **row))
    finally:
        await engine.dispose()
    async with store.begin() as tx:
        await tx.turns().append(team, run, 1, segment(3), T0)
    async with store.begin() as tx:
        assert await tx.turns().list(team, run) == [old, segment(3)]
        assert await tx.turns().replace(team, run, 0, segment(5), T0)
        assert await tx.turns().list(team, run) == [segment(5), segment(3)]


_RUN_TURNS_V7 = """
CREATE TABLE run_turns (
    run_id VARCHAR(24) NOT NULL,
    turn_index INTEGER NOT NULL,
    team_id VARCHAR(24) NOT NULL,
    body JSON NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    PRIMARY KEY (run_id, turn_index)
)
"""


async def test_a_version_7_database_gets_the_column_and_keeps_its_segments(
    tmp_path: Path,
):
    path = tmp_path / "v7.db"
    store = open_store(f"sqlite:///{path}")
    await store.migrate()
    await store.close()
    old = json.dumps(segment(1))
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE run_turns")
        conn.exec_driver_sql(_RUN_TURNS_V7)
        conn.exec_driver_sql(
            "INSERT INTO run_turns VALUES ('r1', 0, 't1', ?, "
            "'2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            (old,),
        )
        conn.exec_driver_sql("UPDATE threadline_schema_version SET version = 7")
    store = open_store(f"sqlite:///{path}")
    try:
        assert await store.migrate() == LATEST_VERSION - 7
        async with store.begin() as tx:
            await tx.turns().append("t1", "r1", 1, segment(2), T0)
        async with store.begin() as tx:
            assert await tx.turns().list("t1", "r1") == [segment(1), segment(2)]
        assert await store.migrate() == 0
    finally:
        await store.close()
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("run_turns")}
        assert "body_zlib" in columns
        assert current_version(conn) == LATEST_VERSION
    engine.dispose()
