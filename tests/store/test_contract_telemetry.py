"""The store contract for telemetry: a command's trace context, operator counts."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from threadline.ids import new_object_id
from threadline.store import Command, Document, Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
async def made(store: Store) -> AsyncIterator[list[tuple[str, str, str]]]:
    """Rows a test adds (kind, team, id); deleted after it (the database is shared)."""
    rows: list[tuple[str, str, str]] = []
    yield rows
    async with store.begin() as tx:
        for kind, team, row_id in rows:
            if kind == "command":
                await tx.commands().delete(row_id)
            else:
                await tx.documents(kind).delete(team, row_id)


def _command(run_id: str, **kw: object) -> Command:
    values: dict[str, object] = {
        "id": new_object_id(),
        "team_id": new_object_id(),
        "run_id": run_id,
        "seq": 0,
        "status": "pending",
        "body": {"run_input": {}},
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(kw)
    return Command(**values)  # type: ignore[arg-type]  # loose test kwargs


async def test_a_command_keeps_the_trace_context_it_was_sent_with(
    store: Store, made: list[tuple[str, str, str]]
):
    run = new_object_id()
    traced = _command(run, trace_context=PARENT)
    untraced = _command(run, seq=1)
    made += [("command", "", traced.id), ("command", "", untraced.id)]
    async with store.begin() as tx:
        await tx.commands().insert(traced)
        await tx.commands().insert(untraced)
    async with store.begin() as tx:
        got = await tx.commands().get(traced.id)
        queued = await tx.commands().of_run(run, ["pending"])
    assert got is not None and got.trace_context == PARENT
    assert [c.trace_context for c in queued] == [PARENT, None]


def _doc(kind_status: str, updated_at: datetime, team: str) -> Document:
    return Document(
        id=new_object_id(),
        team_id=team,
        body={},
        created_at=updated_at,
        updated_at=updated_at,
        status=kind_status,
    )


async def test_operator_counts_cover_every_team_and_only_live_state(
    store: Store, made: list[tuple[str, str, str]]
):
    now = datetime.now(UTC)
    async with store.begin() as tx:
        before = await tx.operator_counts(now)
    one, two = new_object_id(), new_object_id()
    runs = [
        _doc("waiting_for_user_input", now, one),
        _doc("waiting_for_user_input", now, two),
        _doc("running", now, two),
        _doc("completed", now, one),  # over: not counted
    ]
    starts = [
        _doc("pending", now - timedelta(seconds=5), one),  # due
        _doc("pending", now + timedelta(hours=1), one),  # not yet due
        _doc("done", now - timedelta(seconds=5), two),
    ]
    pending = _command(new_object_id(), team_id=one)
    running = _command(new_object_id(), team_id=two, status="running", worker_id="w")
    async with store.begin() as tx:
        for doc in runs:
            await tx.documents("workflow_runs").insert(doc)
            made.append(("workflow_runs", doc.team_id, doc.id))
        for doc in starts:
            await tx.documents("schedules").insert(doc)
            made.append(("schedules", doc.team_id, doc.id))
        for c in (pending, running):
            await tx.commands().insert(c)
            made.append(("command", "", c.id))
    async with store.begin() as tx:
        after = await tx.operator_counts(now)

    def grew(status: str) -> int:
        return after.runs_by_status.get(status, 0) - before.runs_by_status.get(
            status, 0
        )

    assert grew("waiting_for_user_input") == 2
    assert grew("running") == 1
    assert "completed" not in after.runs_by_status
    assert after.commands_pending - before.commands_pending == 1
    assert after.starts_due - before.starts_due == 1
