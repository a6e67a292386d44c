"""Admission: which runs count, which limit decides, and atomicity across processes."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from threadline.errors import TooManyRequests
from threadline.ids import new_object_id
from threadline.service.caller import Caller
from threadline.service.team import admission
from threadline.store import Document, Store, migrations, open_store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def workflow(team_id: str, limit: object = None) -> Document:
    return Document(
        id=new_object_id(),
        team_id=team_id,
        body={"name": "w", "max_concurrent_runs": limit},
        created_at=T0,
        updated_at=T0,
    )


def run(team_id: str, workflow_id: str, status: str) -> Document:
    return Document(
        id=new_object_id(),
        team_id=team_id,
        body={},
        created_at=T0,
        updated_at=T0,
        workflow_id=workflow_id,
        status=status,
    )


async def add_runs(store: Store, team_id: str, workflow_id: str, *statuses: str):
    async with store.begin() as tx:
        for status in statuses:
            await tx.documents("workflow_runs").insert(
                run(team_id, workflow_id, status)
            )


async def try_admit(
    store: Store, caller: Caller, wf: Document, default: int | None = None
) -> None:
    async with store.begin() as tx:
        await admission.admit(tx, caller, wf, default)


def test_limits_zero_none_and_junk_mean_unlimited():
    assert admission.team_limit(None, None) is None
    assert admission.team_limit(None, 0) is None
    assert admission.team_limit(None, 4) == 4
    assert admission.team_limit(0, 4) is None
    assert admission.team_limit(2, 4) == 2
    assert admission.workflow_limit(workflow("t", "3")) is None
    assert admission.workflow_limit(workflow("t", True)) is None
    assert admission.workflow_limit(workflow("t", 0)) is None
    assert admission.workflow_limit(workflow("t", 2)) == 2


async def test_only_active_runs_count(store: Store):
    caller = Caller(new_object_id(), new_object_id())
    wf = workflow(caller.team_id, limit=4)
    await add_runs(
        store,
        caller.team_id,
        wf.id,
        *admission.ACTIVE_STATUSES[:3],
        "paused",
        "completed",
        "failed",
        "cancelled",
        "aborted_looping_risk",
    )
    await try_admit(store, caller, wf)  # 3 active < 4
    await add_runs(store, caller.team_id, wf.id, "waiting_for_user_input")
    with pytest.raises(TooManyRequests) as refused:
        await try_admit(store, caller, wf)
    assert refused.value.code == "concurrency_limit"
    assert refused.value.retry_after == admission.RETRY_AFTER_S
    assert refused.value.details == {"level": "workflow", "limit": 4, "active": 4}


async def test_the_team_limit_counts_every_workflow_of_the_team_only(store: Store):
    caller = Caller(new_object_id(), new_object_id())
    one, two = workflow(caller.team_id), workflow(caller.team_id)
    await add_runs(store, caller.team_id, one.id, "running")
    await add_runs(store, new_object_id(), one.id, "running", "running")
    await try_admit(store, caller, two, default=2)
    await add_runs(store, caller.team_id, two.id, "not_started")
    with pytest.raises(TooManyRequests) as refused:
        await try_admit(store, caller, two, default=2)
    assert refused.value.details == {"level": "team", "limit": 2, "active": 2}


@pytest.mark.parametrize("level", ["workflow", "team"])
async def test_parallel_admissions_from_two_processes_stay_within_the_limit(
    store: Store, database_url: str, level: str
):
    """Each "process" has its own engine; a pause inside the transaction between
    the count and the insert would let a racer through without the team lock."""
    caller = Caller(new_object_id(), new_object_id())
    wf = workflow(caller.team_id, 3 if level == "workflow" else None)
    default = 3 if level == "team" else None
    other = open_store(database_url)
    admitted: list[str] = []

    async def start(via: Store) -> None:
        async with via.begin() as tx:
            await admission.admit(tx, caller, wf, default)
            await asyncio.sleep(0.02)
            doc = run(caller.team_id, wf.id, "not_started")
            await tx.documents("workflow_runs").insert(doc)
            admitted.append(doc.id)

    try:
        results = await asyncio.gather(
            *(start(store if i % 2 else other) for i in range(10)),
            return_exceptions=True,
        )
    finally:
        await other.close()
    refused = [r for r in results if isinstance(r, TooManyRequests)]
    assert len(admitted) == 3 and len(refused) == 7, results
    assert all(r.details["level"] == level for r in refused)
    async with store.begin() as tx:
        assert await admission.active_runs(tx, caller.team_id) == 3


async def test_a_database_from_before_team_settings_gets_the_table(tmp_path: Path):
    step = 3  # version 4 added team_settings
    path = tmp_path / "old.db"
    store = open_store(f"sqlite:///{path}")
    await store.migrate()
    await store.close()
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE team_settings")
        conn.exec_driver_sql(f"UPDATE threadline_schema_version SET version = {step}")
    store = open_store(f"sqlite:///{path}")
    try:
        assert await store.migrate() == migrations.LATEST_VERSION - step
        caller = Caller(new_object_id(), new_object_id())
        assert (
            await admission.set_team(store, caller, 2, None)
        ).max_concurrent_runs == 2
    finally:
        await store.close()
        engine.dispose()
