"""What simulations rely on from every store (SQLite here, PostgreSQL in make test-pg):
their three collections, conditional status changes (claims), the cross-team scan
of active groups, and the group lease."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from threadline.ids import new_object_id
from threadline.store import Document, Query, Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)
KINDS = ("simulations", "simulation_groups", "simulation_runs")


def doc(team: str, *, index: int = 0, **kw: object) -> Document:
    at = T0 + timedelta(microseconds=index)
    values: dict[str, object] = {
        "id": new_object_id(),
        "team_id": team,
        "body": {"run_index": index},
        "created_at": at,
        "updated_at": at,
    }
    values.update(kw)
    return Document(**values)  # type: ignore[arg-type]  # test helper with loose kwargs


@pytest.mark.parametrize("kind", KINDS)
async def test_each_collection_keeps_documents_per_team(store: Store, kind: str):
    team, other = new_object_id(), new_object_id()
    d = doc(team, status="pending", workflow_id=new_object_id(), logical_id="x")
    async with store.begin() as tx:
        await tx.documents(kind).insert(d)
    async with store.begin() as tx:
        assert await tx.documents(kind).get(team, d.id) == d
        assert await tx.documents(kind).get(other, d.id) is None
        assert await tx.documents(kind).delete_where(other, {"logical_id": "x"}) == 0
        assert await tx.documents(kind).delete_where(team, {"logical_id": "x"}) == 1


async def test_a_groups_conversations_list_in_index_order_and_count_by_status(
    store: Store,
):
    team, group = new_object_id(), new_object_id()
    statuses = ["completed", "failed", "running", "pending", "completed"]
    docs = [
        doc(team, index=i, workflow_id=group, version_number=i, status=s)
        for i, s in enumerate(statuses)
    ]
    async with store.begin() as tx:
        runs = tx.documents("simulation_runs")
        await runs.insert_many(list(reversed(docs)))
        await runs.insert(doc(team, workflow_id=new_object_id(), status="completed"))
    async with store.begin() as tx:
        runs = tx.documents("simulation_runs")
        page, total = await runs.find(
            team,
            Query(equals={"workflow_id": group}, page=2, size=2, newest_first=False),
        )
        done = await runs.count(
            team, {"workflow_id": group}, statuses=("completed", "failed")
        )
    assert total == 5
    assert [d.version_number for d in page] == [2, 3]
    assert done == 3


async def test_a_conversation_is_claimed_by_one_writer_only(store: Store):
    team = new_object_id()
    d = doc(team, status="pending")
    async with store.begin() as tx:
        await tx.documents("simulation_runs").insert(d)
    claimed = replace(d, status="running", body={"run_index": 0, "step": 1})
    async with store.begin() as tx:
        first = await tx.documents("simulation_runs").replace(
            claimed, expected_status="pending"
        )
    async with store.begin() as tx:
        second = await tx.documents("simulation_runs").replace(
            replace(claimed, body={"step": 99}), expected_status="pending"
        )
        got = await tx.documents("simulation_runs").get(team, d.id)
    assert (first, second) == (True, False)
    assert got is not None and got.body == {"run_index": 0, "step": 1}


async def test_active_groups_are_found_across_teams(store: Store):
    teams = [new_object_id(), new_object_id()]
    groups = [doc(t, status="running") for t in teams]
    done = doc(teams[0], status="completed")
    async with store.begin() as tx:
        for g in [*groups, done]:
            await tx.documents("simulation_groups").insert(g)
    async with store.begin() as tx:
        found = await tx.documents("simulation_groups").find_stale(
            "running", T0 + timedelta(seconds=1), 1000
        )
    ids = {g.id for g in found}
    assert {g.id for g in groups} <= ids
    assert done.id not in ids


async def test_a_group_lease_has_one_holder_until_it_expires(store: Store):
    name = f"simulation_group:{new_object_id()}"
    now = datetime.now(UTC)
    async with store.begin() as tx:
        assert await tx.workers().take_lease(
            name, "w-a", now, now + timedelta(seconds=30)
        )
    async with store.begin() as tx:
        assert not await tx.workers().take_lease(
            name, "w-b", now + timedelta(seconds=1), now + timedelta(seconds=31)
        )
        assert await tx.workers().take_lease(
            name, "w-a", now + timedelta(seconds=1), now + timedelta(seconds=31)
        )
    later = now + timedelta(seconds=32)
    async with store.begin() as tx:
        assert await tx.workers().take_lease(
            name, "w-b", later, later + timedelta(seconds=30)
        )
