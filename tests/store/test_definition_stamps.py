"""The team's definition stamp: raised by every committed write of what a run's
snapshot is made of, by no other write, and by no rolled-back one."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from threadline.ids import new_object_id
from threadline.store import Document, Store, open_store
from threadline.store.definition_stamps import STAMPED, StampedCache


def doc(team_id: str, **extra: object) -> Document:
    now = datetime.now(UTC)
    return Document(
        id=new_object_id(),
        team_id=team_id,
        body={"name": "x"},
        created_at=now,
        updated_at=now,
        workflow_id=new_object_id(),
        version_number=0,
        **extra,  # type: ignore[arg-type]
    )


async def stamp(store: Store, team_id: str) -> int:
    async with store.begin() as tx:
        return await tx.definition_stamp(team_id)


@pytest.mark.parametrize("kind", sorted(STAMPED))
async def test_every_write_of_a_stamped_kind_raises_the_stamp(
    store: Store, kind: str
) -> None:
    team, other = new_object_id(), new_object_id()
    assert await stamp(store, team) == 0
    first = doc(team)
    async with store.begin() as tx:  # one transaction: one raise
        await tx.documents(kind).insert(first)
        await tx.documents(kind).insert_many([doc(team), doc(team)])
    seen = [await stamp(store, team)]
    for write in ("replace", "set_status", "delete", "delete_where"):
        async with store.begin() as tx:
            docs = tx.documents(kind)
            if write == "replace":
                await docs.replace(replace(first, body={"name": "y"}))
            elif write == "set_status":
                at = first.updated_at
                await docs.set_status(
                    team, first.id, "x", expected_status=None, at=at, by=None
                )
            elif write == "delete":
                await docs.delete(team, first.id)
            else:
                await docs.delete_where(team, {"version_number": 0})
        seen.append(await stamp(store, team))
    assert seen == [1, 2, 3, 4, 5]
    assert await stamp(store, other) == 0  # per team


async def test_other_writes_and_rolled_back_ones_leave_it(store: Store) -> None:
    team = new_object_id()
    async with store.begin() as tx:
        await tx.documents("workflows").insert(doc(team))
        await tx.documents("workflow_runs").insert(doc(team))
    assert await stamp(store, team) == 0
    with pytest.raises(RuntimeError):
        async with store.begin() as tx:
            await tx.documents("nodes").insert(doc(team))
            raise RuntimeError("rolled back")
    assert await stamp(store, team) == 0


async def test_another_store_on_the_database_sees_the_raise(
    store: Store, database_url: str
) -> None:
    team = new_object_id()
    other = open_store(database_url)
    try:
        before = await stamp(other, team)
        async with store.begin() as tx:
            await tx.documents("edges").insert(doc(team))
        assert await stamp(other, team) == before + 1
    finally:
        await other.close()


def test_the_cache_finds_a_value_only_under_its_stamp_and_keeps_its_ceiling() -> None:
    cache: StampedCache[str] = StampedCache(2)
    cache.put("a", 1, "a1")
    assert cache.get("a", 1) == "a1" and cache.get("a", 2) is None
    cache.put("a", 3, "a3")
    cache.put("a", 2, "a2")  # older than what is kept: ignored
    assert cache.get("a", 3) == "a3"
    cache.put("b", 1, "b")
    cache.get("a", 3)
    cache.put("c", 1, "c")  # "b" was used least recently
    assert len(cache) == 2 and cache.get("b", 1) is None
    empty: StampedCache[str] = StampedCache(0)
    empty.put("a", 1, "a")
    assert len(empty) == 0
