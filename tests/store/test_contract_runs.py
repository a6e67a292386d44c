"""The store contract for run inboxes, step journals, heartbeats and leases."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from threadline.ids import new_object_id
from threadline.store import Command, Duplicate, Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_MADE: list[str] = []


@pytest.fixture(autouse=True)
async def _forget_commands(store: Store) -> AsyncIterator[None]:
    """The test database is shared: leave no running command for a recovery pass
    of another test to find."""
    yield
    async with store.begin() as tx:
        for command_id in _MADE:
            await tx.commands().delete(command_id)
    _MADE.clear()


def command(run_id: str, seq: int, **kw: object) -> Command:
    values: dict[str, object] = {
        "id": new_object_id(),
        "team_id": "t" * 24,
        "run_id": run_id,
        "seq": seq,
        "status": "pending",
        "body": {"run_input": {"command": "data"}, "n": seq},
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(kw)
    _MADE.append(str(values["id"]))
    return Command(**values)  # type: ignore[arg-type]  # test helper with loose kwargs


async def test_commands_read_back_in_arrival_order_by_status(store: Store):
    run = new_object_id()
    first, second = command(run, 0, status="running", worker_id="w1"), command(run, 1)
    async with store.begin() as tx:
        await tx.commands().insert(second)
        await tx.commands().insert(first)
        assert await tx.commands().next_seq(run) == 2
    async with store.begin() as tx:
        assert await tx.commands().get(first.id) == first
        assert await tx.commands().of_run(run, ["pending", "running"]) == [
            first,
            second,
        ]
        assert await tx.commands().of_run(run, ["pending"]) == [second]
        assert await tx.commands().next_seq(new_object_id()) == 0


async def test_an_idempotency_key_is_unique_per_team(store: Store):
    team, other = new_object_id(), new_object_id()
    one = command(new_object_id(), 0, team_id=team, idempotency_key="k")
    async with store.begin() as tx:
        await tx.commands().insert(one)
    with pytest.raises(Duplicate):
        async with store.begin() as tx:
            await tx.commands().insert(
                command(new_object_id(), 0, team_id=team, idempotency_key="k")
            )
    async with store.begin() as tx:
        await tx.commands().insert(
            command(new_object_id(), 0, team_id=other, idempotency_key="k")
        )
        assert await tx.commands().by_key(team, "k") == one
        assert await tx.commands().by_key(team, "missing") is None


async def test_an_update_can_require_the_owning_worker(store: Store):
    c = command(new_object_id(), 0, status="running", worker_id="w1")
    async with store.begin() as tx:
        await tx.commands().insert(c)
        later = T0 + timedelta(seconds=5)
        assert not await tx.commands().update(
            c.id, at=later, expected_worker="w2", status="done"
        )
        assert await tx.commands().update(
            c.id, at=later, expected_worker="w1", status="done", response={"a": 1}
        )
        got = await tx.commands().get(c.id)
    assert got is not None and got.status == "done" and got.response == {"a": 1}
    assert got.updated_at == T0 + timedelta(seconds=5)


async def test_the_step_journal_keeps_order_and_goes_with_its_command(store: Store):
    c = command(new_object_id(), 0, status="running")
    async with store.begin() as tx:
        await tx.commands().insert(c)
        await tx.commands().add_steps(c, 0, [{"s": 0}, {"s": 1}], T0)
        await tx.commands().add_steps(c, 2, [{"s": 2}], T0)
        await tx.commands().add_steps(c, 3, [], T0)
    async with store.begin() as tx:
        assert await tx.commands().steps(c.id) == [{"s": 0}, {"s": 1}, {"s": 2}]
        await tx.commands().delete(c.id)
        assert await tx.commands().steps(c.id) == []
        assert await tx.commands().get(c.id) is None


async def test_journaling_steps_is_fenced_by_the_commands_worker(store: Store):
    c = command(new_object_id(), 0, status="running", worker_id="w1")
    later = T0 + timedelta(seconds=3)
    async with store.begin() as tx:
        await tx.commands().insert(c)
    async with store.begin() as tx:
        steps = [{"s": 0}, {"s": 1}]
        assert await tx.commands().journal(c, "w1", 0, steps, later) == (True, False)
    async with store.begin() as tx:  # another worker took it: nothing written
        gone = T0 + timedelta(seconds=9)
        assert await tx.commands().journal(c, "w2", 2, [{"s": 2}], gone) == (
            False,
            False,
        )
    async with store.begin() as tx:
        assert await tx.commands().steps(c.id) == [{"s": 0}, {"s": 1}]
        got = await tx.commands().get(c.id)
    assert got is not None and got.updated_at == later


async def test_journaling_steps_sees_a_pending_interrupt_of_its_run(store: Store):
    run = new_object_id()
    c = command(run, 0, status="running", worker_id="w1")
    async with store.begin() as tx:
        await tx.commands().insert(c)
        await tx.commands().insert(command(run, 1))
        await tx.commands().insert(command(new_object_id(), 0, interrupt=True))
    async with store.begin() as tx:
        assert await tx.commands().journal(c, "w1", 0, [], T0) == (True, False)
    async with store.begin() as tx:
        await tx.commands().insert(command(run, 2, interrupt=True))
    async with store.begin() as tx:
        assert await tx.commands().journal(c, "w1", 0, [{"s": 0}], T0) == (True, True)
    async with store.begin() as tx:  # not owned: nothing to stop
        assert await tx.commands().journal(c, "w2", 1, [], T0) == (False, False)


async def test_a_journal_that_fails_leaves_nothing_of_its_fence(store: Store):
    """The steps fail to insert (a step already journaled at that place): the
    command's ``updated_at`` written before them is not kept either."""
    c = command(new_object_id(), 0, status="running", worker_id="w1")
    first = T0 + timedelta(seconds=1)
    async with store.begin() as tx:
        await tx.commands().insert(c)
        await tx.commands().journal(c, "w1", 0, [{"s": 0}], first)
    with pytest.raises(IntegrityError):
        async with store.begin() as tx:
            later = T0 + timedelta(seconds=7)
            await tx.commands().journal(c, "w1", 0, [{"s": "again"}], later)
    async with store.begin() as tx:
        assert await tx.commands().steps(c.id) == [{"s": 0}]
        got = await tx.commands().get(c.id)
    assert got is not None and got.updated_at == first


class _Undo(Exception):
    """Raised to roll a unit back."""


async def test_finishing_a_command_is_fenced_and_forgets_its_journal(store: Store):
    c = command(new_object_id(), 0, status="running", worker_id="w1")
    gone = command(new_object_id(), 0, status="running", worker_id="w1")
    later = T0 + timedelta(seconds=4)
    async with store.begin() as tx:
        for one in (c, gone):
            await tx.commands().insert(one)
            await tx.commands().add_steps(one, 0, [{"s": 0}], T0)
    with pytest.raises(_Undo):  # another worker's: not owned, its caller rolls back
        async with store.begin() as tx:
            assert not await tx.commands().finish(
                c.id, "w2", at=later, values=None, forget_steps=True
            )
            raise _Undo
    async with store.begin() as tx:
        assert await tx.commands().steps(c.id) == [{"s": 0}]
        done = {"status": "done", "response": {"a": 1}}
        assert await tx.commands().finish(
            c.id, "w1", at=later, values=done, forget_steps=True
        )
        assert await tx.commands().finish(
            gone.id, "w1", at=later, values=None, forget_steps=False
        )
    async with store.begin() as tx:
        got = await tx.commands().get(c.id)
        assert await tx.commands().steps(c.id) == []
        assert await tx.commands().get(gone.id) is None
        assert await tx.commands().steps(gone.id) == [{"s": 0}]
        await tx.commands().delete_steps(gone.id)
    assert got is not None and (got.status, got.response) == ("done", {"a": 1})
    assert got.updated_at == later


async def test_a_segment_appended_later_commits_with_its_unit_or_not_at_all(
    store: Store,
):
    team, run = "t" * 24, new_object_id()
    async with store.begin() as tx:  # nothing written after it: sent at commit
        await tx.turns().append(team, run, 0, {"n": 0}, T0, later=True)
    async with store.begin() as tx:  # read back in its own unit
        await tx.turns().append(team, run, 1, {"n": 1}, T0, later=True)
        assert await tx.turns().list(team, run) == [{"n": 0}, {"n": 1}]
    c = command(new_object_id(), 0)
    async with store.begin() as tx:
        await tx.commands().insert(c)
    with pytest.raises(Duplicate):  # the write it goes with fails: neither stays
        async with store.begin() as tx:
            await tx.turns().append(team, run, 2, {"n": 2}, T0, later=True)
            await tx.commands().insert(c)
    async with store.begin() as tx:
        assert await tx.turns().list(team, run) == [{"n": 0}, {"n": 1}]
        await tx.turns().delete_run(team, run)


async def test_orphans_are_running_commands_of_silent_workers(store: Store):
    run = new_object_id()
    dead, alive = f"dead-{run}", f"alive-{run}"
    lost = command(run, 0, status="running", worker_id=dead)
    kept = command(run, 1, status="running", worker_id=alive)
    queued = command(run, 2, worker_id=None)
    async with store.begin() as tx:
        for c in (lost, kept, queued):
            await tx.commands().insert(c)
        await tx.workers().heartbeat(dead, "serve", T0)
        await tx.workers().heartbeat(alive, "serve", T0 + timedelta(minutes=10))
        assert alive in await tx.workers().live(T0 + timedelta(minutes=5))
        assert dead not in await tx.workers().live(T0 + timedelta(minutes=5))
        found = await tx.commands().orphans(T0 + timedelta(minutes=5), 1000)
        assert await tx.workers().seen(dead) == T0
        assert await tx.workers().seen(alive) == T0 + timedelta(minutes=10)
        await tx.workers().remove(dead)
        assert await tx.workers().seen(dead) is None
        await tx.workers().remove(alive)
    ids = {c.id for c in found}
    assert lost.id in ids and kept.id not in ids and queued.id not in ids


async def test_prune_forgets_old_finished_commands_only(store: Store):
    run = new_object_id()
    old_done = command(run, 0, status="done")
    old_running = command(run, 1, status="running")
    new_done = command(run, 2, status="done", updated_at=T0 + timedelta(days=2))
    async with store.begin() as tx:
        for c in (old_done, old_running, new_done):
            await tx.commands().insert(c)
        await tx.commands().prune(T0 + timedelta(days=1))
        left = await tx.commands().of_run(run, ["done", "running"])
    assert [c.id for c in left] == [old_running.id, new_done.id]


async def test_a_lease_has_one_holder_until_it_expires(store: Store):
    name = f"lease-{new_object_id()}"
    hold = timedelta(seconds=10)
    async with store.begin() as tx:
        assert await tx.workers().take_lease(name, "a", T0, T0 + hold)
        assert await tx.workers().take_lease(name, "a", T0, T0 + hold)
        assert not await tx.workers().take_lease(name, "b", T0, T0 + hold)
        later = T0 + timedelta(seconds=11)
        assert await tx.workers().take_lease(name, "b", later, later + hold)
        assert not await tx.workers().take_lease(name, "a", later, later + hold)
