"""The contract every store implementation passes (SQLite here, PostgreSQL in CI)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from threadline.ids import new_object_id
from threadline.store import ApiKey, Document, Query, Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def doc(team: str, *, minutes: int = 0, **kw: object) -> Document:
    at = T0 + timedelta(minutes=minutes)
    values: dict[str, object] = {
        "id": new_object_id(),
        "team_id": team,
        "body": {"hello": "world", "nested": {"n": [1, 2]}},
        "created_at": at,
        "updated_at": at,
    }
    values.update(kw)
    return Document(**values)  # type: ignore[arg-type]  # test helper with loose kwargs


async def test_a_document_reads_back_exactly_as_written(store: Store):
    team = new_object_id()
    d = doc(
        team,
        workflow_id=new_object_id(),
        version_number=3,
        logical_id="node_1",
        type="say_llm",
        name="Greeter",
        created_by="u1",
        updated_by="u2",
        search_text="greeter",
    )
    async with store.begin() as tx:
        await tx.documents("nodes").insert(d)
    async with store.begin() as tx:
        got = await tx.documents("nodes").get(team, d.id)
    assert got == d
    assert got is not None and got.created_at.tzinfo is not None


async def test_another_team_cannot_see_update_or_delete_a_document(store: Store):
    team, intruder = new_object_id(), new_object_id()
    d = doc(team)
    async with store.begin() as tx:
        docs = tx.documents("workflows")
        await docs.insert(d)
        assert await docs.get(intruder, d.id) is None
        assert await docs.find(intruder, Query()) == ([], 0)
        assert not await docs.replace(replace(d, team_id=intruder, body={}))
        assert not await docs.delete(intruder, d.id)
        assert await docs.delete_where(intruder, {}) == 0
        assert await docs.get(team, d.id) == d


async def test_find_filters_pages_and_counts_the_total(store: Store):
    team, wf = new_object_id(), new_object_id()
    items = [
        doc(team, minutes=i, workflow_id=wf, type="say_llm" if i % 2 else "no_op")
        for i in range(7)
    ]
    async with store.begin() as tx:
        for item in items:
            await tx.documents("nodes").insert(item)
        docs = tx.documents("nodes")
        page2, total = await docs.find(
            team, Query(equals={"workflow_id": wf}, page=2, size=3)
        )
        odd, odd_total = await docs.find(team, Query(equals={"type": "say_llm"}))
        oldest, _ = await docs.find(team, Query(newest_first=False, size=2))
    assert total == 7
    assert [d.id for d in page2] == [items[3].id, items[2].id, items[1].id]
    assert odd_total == 3 and all(d.type == "say_llm" for d in odd)
    assert [d.id for d in oldest] == [items[0].id, items[1].id]


async def test_find_searches_case_insensitively_and_treats_wildcards_literally(
    store: Store,
):
    team = new_object_id()
    a = doc(team, search_text="insurance chatbot")
    b = doc(team, search_text="100% discount_bot")
    async with store.begin() as tx:
        for d in (a, b):
            await tx.documents("workflows").insert(d)
        docs = tx.documents("workflows")
        assert [d.id for d in (await docs.find(team, Query(search="ChatBot")))[0]] == [
            a.id
        ]
        assert [d.id for d in (await docs.find(team, Query(search="0% d")))[0]] == [
            b.id
        ]
        assert (await docs.find(team, Query(search="_")))[1] == 1


async def test_find_bounds_by_creation_time_and_by_ids(store: Store):
    team = new_object_id()
    items = [doc(team, minutes=10 * i) for i in range(4)]
    async with store.begin() as tx:
        for item in items:
            await tx.documents("tools").insert(item)
        docs = tx.documents("tools")
        window, total = await docs.find(
            team, Query(start=T0 + timedelta(minutes=5), end=T0 + timedelta(minutes=20))
        )
        chosen, _ = await docs.find(team, Query(ids=(items[0].id, items[3].id)))
    assert total == 2 and {d.id for d in window} == {items[1].id, items[2].id}
    assert {d.id for d in chosen} == {items[0].id, items[3].id}


async def test_replace_and_delete_where_change_only_matching_rows(store: Store):
    team, wf = new_object_id(), new_object_id()
    keep, drop = doc(team, workflow_id=new_object_id()), doc(team, workflow_id=wf)
    async with store.begin() as tx:
        docs = tx.documents("edges")
        await docs.insert(keep)
        await docs.insert(drop)
        assert await docs.replace(replace(keep, body={"changed": True}, name="x"))
        assert await docs.delete_where(team, {"workflow_id": wf}) == 1
        remaining, total = await docs.find(team, Query())
    assert (
        total == 1
        and remaining[0].body == {"changed": True}
        and remaining[0].name == "x"
    )


async def test_a_failed_transaction_leaves_nothing_behind(store: Store):
    team = new_object_id()
    d = doc(team)
    with pytest.raises(RuntimeError):
        async with store.begin() as tx:
            await tx.documents("workflows").insert(d)
            raise RuntimeError("boom")
    async with store.begin() as tx:
        assert await tx.documents("workflows").get(team, d.id) is None


async def test_api_keys_are_found_by_hash_listed_per_team_and_revoked_once(
    store: Store,
):
    team = new_object_id()
    key = ApiKey(
        id=new_object_id(),
        key_hash=new_object_id() * 2 + "abcdefghijklmnop",
        prefix="tl_abc",
        team_id=team,
        user_id="u",
        created_at=T0,
        name="ci",
    )
    async with store.begin() as tx:
        await tx.add_api_key(key)
    async with store.begin() as tx:
        assert await tx.find_api_key(key.key_hash) == key
        assert await tx.list_api_keys(team) == [key]
        assert await tx.revoke_api_key(key.id, T0)
        assert not await tx.revoke_api_key(key.id, T0)
        found = await tx.find_api_key(key.key_hash)
    assert found is not None and found.revoked_at == T0


async def test_favorites_are_per_user_and_idempotent(store: Store):
    team, wf = new_object_id(), new_object_id()
    async with store.begin() as tx:
        await tx.set_favorite(team, "alice", wf, T0)
        await tx.set_favorite(team, "alice", wf, T0)
        assert await tx.favorite_ids(team, "alice") == {wf}
        assert await tx.favorite_ids(team, "bob") == set()
        await tx.set_favorite(team, "alice", wf, None)
        assert await tx.favorite_ids(team, "alice") == set()


async def test_migrating_twice_is_a_no_op(store: Store):
    assert await store.migrate() == 0


async def test_a_conditional_replace_only_wins_from_the_expected_status(store: Store):
    team = new_object_id()
    run = doc(team, status="waiting_for_user_input")
    async with store.begin() as tx:
        runs = tx.documents("workflow_runs")
        await runs.insert(run)
        assert await runs.replace(
            replace(run, status="running"), expected_status="waiting_for_user_input"
        )
        assert not await runs.replace(
            replace(run, status="running"), expected_status="waiting_for_user_input"
        )
        got = await runs.get(team, run.id)
    assert got is not None and got.status == "running"


async def test_a_status_only_update_wins_once_and_keeps_the_body(store: Store):
    team = new_object_id()
    run = doc(team, status="waiting_for_user_input", body={"big": list(range(50))})
    async with store.begin() as tx:
        runs = tx.documents("workflow_runs")
        await runs.insert(run)
        waiting = "waiting_for_user_input"
        assert await runs.set_status(
            team, run.id, "running", expected_status=waiting, at=T0, by="u9"
        )
        assert not await runs.set_status(
            team, run.id, "running", expected_status=waiting, at=T0, by="u9"
        )
        assert not await runs.set_status(
            new_object_id(), run.id, "x", expected_status="running", at=T0, by=None
        )
        got = await runs.get(team, run.id)
    assert got is not None
    assert got.status == "running" and got.updated_by == "u9"
    assert got.body == {"big": list(range(50))}


async def test_turns_are_appended_listed_in_order_replaced_and_deleted_per_team(
    store: Store,
):
    team, run = new_object_id(), new_object_id()
    async with store.begin() as tx:
        turns = tx.turns()
        for i in (0, 1, 2):
            await turns.append(team, run, i, {"n": i, "events": [{"type": "x"}]}, T0)
    async with store.begin() as tx:
        turns = tx.turns()
        assert [t["n"] for t in await turns.list(team, run)] == [0, 1, 2]
        assert await turns.list(new_object_id(), run) == []
        assert await turns.replace(team, run, 1, {"n": 10}, T0)
        assert not await turns.replace(new_object_id(), run, 1, {"n": 99}, T0)
        assert [t["n"] for t in await turns.list(team, run)] == [0, 10, 2]
        assert await turns.delete_run(new_object_id(), run) == 0
        assert await turns.delete_run(team, run) == 3
        assert await turns.list(team, run) == []


async def test_count_matches_columns_and_statuses_per_team(store: Store):
    team, other, wf = new_object_id(), new_object_id(), new_object_id()
    async with store.begin() as tx:
        runs = tx.documents("workflow_runs")
        for status in ("running", "running", "paused", "completed", None):
            await runs.insert(doc(team, workflow_id=wf, status=status))
        await runs.insert(doc(team, workflow_id=new_object_id(), status="running"))
        await runs.insert(doc(other, workflow_id=wf, status="running"))
    async with store.begin() as tx:
        runs = tx.documents("workflow_runs")
        assert await runs.count(team, {}) == 6
        assert await runs.count(team, {"workflow_id": wf}) == 5
        assert await runs.count(team, {}, statuses=("running", "paused")) == 4
        assert await runs.count(team, {"workflow_id": wf}, statuses=["running"]) == 2
        assert await runs.count(team, {}, statuses=()) == 0
        assert await runs.count(new_object_id(), {}) == 0


async def test_a_lock_is_held_until_its_transaction_ends(
    store: Store, database_url: str
):
    """A second transaction (here on another engine, like another process) taking
    the same lock waits until the first commits, and then sees its writes."""
    import asyncio

    from threadline.store import open_store

    team = new_object_id()
    key = f"contract:{team}"
    other = open_store(database_url)
    order: list[str] = []
    locked = asyncio.Event()

    async def first() -> None:
        async with store.begin() as tx:
            await tx.lock(key)
            order.append("first locked")
            locked.set()
            await asyncio.sleep(0.2)
            await tx.documents("workflows").insert(doc(team))
            order.append("first done")

    async def second() -> None:
        await locked.wait()
        async with other.begin() as tx:
            await tx.lock(key)
            seen = await tx.documents("workflows").count(team, {})
            order.append(f"second locked, sees {seen}")

    try:
        await asyncio.gather(first(), second())
        async with other.begin() as tx:
            await tx.lock(key)  # free again once both transactions ended
    finally:
        await other.close()
    assert order == ["first locked", "first done", "second locked, sees 1"]


async def test_stale_documents_are_found_across_teams_oldest_first(store: Store):
    a, b = new_object_id(), new_object_id()
    old = doc(a, minutes=-500, status="running")
    older = doc(b, minutes=-900, status="running")
    recent = doc(a, minutes=0, status="running")
    other = doc(a, minutes=-900, status="paused")
    async with store.begin() as tx:
        runs = tx.documents("workflow_runs")
        for d in (old, older, recent, other):
            await runs.insert(d)
        found = await runs.find_stale("running", T0 - timedelta(minutes=100), 100)
    ids = [d.id for d in found]
    assert ids.index(older.id) < ids.index(old.id)
    assert recent.id not in ids and other.id not in ids


@pytest.mark.parametrize(
    "equals",
    [
        {"version_number": 2**31},  # over PostgreSQL's INTEGER
        {"version_number": 10**20},  # over SQLite's INTEGER
        {"version_number": -(2**63)},
        {"version_number": "3"},  # a string for an integer column
        {"name": "Greeter\x00"},  # text no column can hold
    ],
)
async def test_a_filter_no_row_can_match_finds_nothing_instead_of_failing(
    store: Store, equals: dict[str, object]
):
    team = new_object_id()
    async with store.begin() as tx:
        docs = tx.documents("nodes")
        await docs.insert(doc(team, version_number=3, name="Greeter"))
        assert await docs.find(team, Query(equals=equals)) == ([], 0)
        assert await docs.find(team, Query(equals=equals, size=10)) == ([], 0)
        assert await docs.count(team, equals) == 0


async def test_a_search_with_a_nul_character_finds_nothing(store: Store):
    team = new_object_id()
    async with store.begin() as tx:
        docs = tx.documents("nodes")
        await docs.insert(doc(team, search_text="greeter"))
        assert await docs.find(team, Query(search="gr\x00", size=5)) == ([], 0)


async def test_the_sealer_sees_every_body_written_and_none_read(store: Store):
    """``set_sealer``: inserts and replaces pass the body through it (by kind);
    reads return what was written; a sealer that raises stops the write."""
    team = new_object_id()
    written: list[str] = []

    def sealer(kind: str, body: dict[str, object]) -> dict[str, object]:
        written.append(kind)
        if body.get("refuse"):
            raise ValueError("refused")
        return {**body, "sealed": True}

    d = doc(team)
    store.set_sealer(sealer)
    try:
        async with store.begin() as tx:
            await tx.documents("nodes").insert(d)
            assert await tx.documents("nodes").replace(replace(d, body={"v": 2}))
        with pytest.raises(ValueError, match="refused"):
            async with store.begin() as tx:
                await tx.documents("nodes").insert(doc(team, body={"refuse": 1}))
    finally:
        store.set_sealer(None)
    async with store.begin() as tx:
        got = await tx.documents("nodes").get(team, d.id)
        assert (await tx.documents("nodes").find(team, Query()))[1] == 1
    assert got is not None and got.body == {"v": 2, "sealed": True}
    assert written == ["nodes", "nodes", "nodes"]


async def test_insert_many_writes_every_document_in_order(store: Store):
    team = new_object_id()
    written = [doc(team, minutes=i, name=f"n{i}") for i in range(2_100)]
    async with store.begin() as tx:
        await tx.documents("nodes").insert_many(written)
        await tx.documents("nodes").insert_many([])
    async with store.begin() as tx:
        found, total = await tx.documents("nodes").find(team, Query(newest_first=False))
    assert total == 2_100 and found == written
    sealed: list[str] = []

    def sealer(kind: str, body: dict[str, object]) -> dict[str, object]:
        sealed.append(kind)
        return {**body, "sealed": True}

    store.set_sealer(sealer)
    try:
        async with store.begin() as tx:
            await tx.documents("edges").insert_many([doc(team), doc(team)])
    finally:
        store.set_sealer(None)
    async with store.begin() as tx:
        edges, _ = await tx.documents("edges").find(team, Query())
    assert sealed == ["edges", "edges"]
    assert all(e.body["sealed"] is True for e in edges)
