"""Versioned schema migrations, applied at start-up or by ``threadline migrate``.

A fresh database is created from ``schema.metadata`` and stamped with the latest
version. An existing database gets every migration after its stamped version, in
order. ``MIGRATIONS[i]`` brings a database from version ``i`` to ``i + 1``; entry 0 is
the baseline (the tables themselves). A later change to ``schema.py`` must come with
a new entry here that makes the same change to an existing database.
"""

import json
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, inspect, select

from threadline.store import history_log, run_snapshots, schema

Migration = Callable[[Connection], None]
JsonDict = dict[str, Any]


def _baseline(conn: Connection) -> None:
    schema.metadata.create_all(conn)


def _create_missing_tables(conn: Connection) -> None:
    # create_all creates only the tables that do not exist yet.
    schema.metadata.create_all(conn)


def _add_columns(conn: Connection, table: Table, *names: str) -> None:
    # A database that got the table from create_all (a step above) has them.
    columns = {c["name"] for c in inspect(conn).get_columns(table.name)}
    for name in names:
        if name not in columns:
            kind = table.c[name].type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}")


def _stored_runs(conn: Connection) -> Iterator[tuple[str, str, JsonDict]]:
    """Every stored run as ``(id, team_id, body)``, read 200 rows at a time."""
    runs = schema.documents["workflow_runs"]
    after = ""
    while True:
        page = conn.execute(
            select(runs.c.id, runs.c.team_id, runs.c.body)
            .where(runs.c.id > after)
            .order_by(runs.c.id)
            .limit(200)
        ).all()
        if not page:
            return
        after = page[-1].id
        for run_id, team_id, body in page:
            body = json.loads(body) if isinstance(body, str | bytes) else body
            if isinstance(body, dict):
                yield run_id, team_id, body


def _add_run_turns_body_zlib(conn: Connection) -> None:
    _add_columns(conn, schema.run_turns, "body_zlib")


def _add_run_commands_trace_context(conn: Connection) -> None:
    _add_columns(conn, schema.run_commands, "trace_context")


def _move_run_history(conn: Connection) -> None:
    """Runs stored with their whole chat history in the row: the lists move to
    ``run_history`` (one row each), the run row keeps the mark (``history_log``)."""
    schema.metadata.create_all(conn, tables=[schema.run_history])
    runs, history = schema.documents["workflow_runs"], schema.run_history
    for run_id, team_id, body in _stored_runs(conn):
        if history_log.MARK in body or not isinstance(body.get("state"), dict):
            continue
        row, change = history_log.split(body)
        if change is not None:
            text = json.dumps(change, separators=(",", ":"), ensure_ascii=False)
            conn.execute(
                history.insert().values(
                    run_id=run_id,
                    seq=0,
                    team_id=team_id,
                    body_zlib=zlib.compress(text.encode()),
                    created_at=datetime.now(UTC),
                )
            )
        conn.execute(runs.update().where(runs.c.id == run_id).values(body=row))


def _add_run_turns_history(conn: Connection) -> None:
    _add_columns(conn, schema.run_turns, "history_seq", "history_zlib")


def _move_run_snapshots(conn: Connection) -> None:
    """Runs stored with their config snapshot in the row: the snapshot moves to
    ``run_snapshots`` (one row per distinct snapshot of a team, as stored: sealed
    values stay sealed), the row keeps a reference (``store.run_snapshots``)."""
    schema.metadata.create_all(conn, tables=[schema.run_snapshots])
    runs, table = schema.documents["workflow_runs"], schema.run_snapshots
    written: set[tuple[str, str]] = set()
    for run_id, team_id, body in _stored_runs(conn):
        snapshot = run_snapshots.snapshot_of(body)
        if snapshot is None:
            continue
        text = run_snapshots.stored_text(snapshot)
        ref = run_snapshots.ref_for(text)
        if (team_id, ref) not in written:
            stored = conn.execute(
                select(table.c.ref).where(
                    table.c.team_id == team_id, table.c.ref == ref
                )
            ).first()
            if stored is None:
                conn.execute(
                    table.insert().values(
                        team_id=team_id,
                        ref=ref,
                        body_zlib=run_snapshots.pack(text),
                        created_at=datetime.now(UTC),
                    )
                )
            written.add((team_id, ref))
        row = run_snapshots.with_field(body, {run_snapshots.REF: ref})
        conn.execute(runs.update().where(runs.c.id == run_id).values(body=row))


# Position = version reached. Steps 2-7 only added tables.
MIGRATIONS: list[Migration] = [
    _baseline,  # 1: the first tables
    _create_missing_tables,  # 2: run_turns
    _create_missing_tables,  # 3: llm_configs
    _create_missing_tables,  # 4: team_settings
    _create_missing_tables,  # 5: global_variables, webhooks, schedules
    _create_missing_tables,  # 6: workflow_templates, node_libraries
    _create_missing_tables,  # 7: run_commands, run_steps, workers, leases
    _add_run_turns_body_zlib,  # 8: run_turns.body_zlib (compressed segments)
    _create_missing_tables,  # 9: rerun_tokens
    _create_missing_tables,  # 10: simulations, simulation_groups, simulation_runs
    _create_missing_tables,  # 11: knowledge_bases, kb_documents, kb_chunks, kb_jobs
    _create_missing_tables,  # 12: managed_prompts
    _add_run_commands_trace_context,  # 13: run_commands.trace_context
    _move_run_history,  # 14: run_history; chat histories move out of run rows
    _create_missing_tables,  # 15: replay_checks
    _add_run_turns_history,  # 16: run_turns.history_seq, history_zlib
    _move_run_snapshots,  # 17: run_snapshots; config snapshots move out of run rows
    _create_missing_tables,  # 18: definition_stamps
]
LATEST_VERSION = len(MIGRATIONS)


def current_version(conn: Connection) -> int | None:
    """Return the stamped schema version, or None for an empty database."""
    if not inspect(conn).has_table(schema.schema_version.name):
        return None
    version = conn.execute(select(schema.schema_version.c.version)).scalar()
    return int(version) if version is not None else 0


def migrate(conn: Connection) -> int:
    """Bring the database to ``LATEST_VERSION``; return how many steps ran."""
    version = current_version(conn)
    table = schema.schema_version
    if version is None:
        schema.metadata.create_all(conn)
        conn.execute(table.insert().values(version=LATEST_VERSION))
        return LATEST_VERSION
    steps = MIGRATIONS[version:]
    for step in steps:
        step(conn)
    if steps:
        conn.execute(table.update().values(version=LATEST_VERSION))
    return len(steps)
