"""A new run reuses its version's hydrated snapshot only while it is current.

Each process keeps the snapshots of the versions it started runs of
(``service.running.version_cache``), under the team's definition stamp. Every
promise here is what a user would see if the cache served a stale or another
team's graph: the run's stored snapshot, its events, its 404. The team's enabled
webhook subscriptions are kept the same way (``service.webhooks.hooks.in_turn``).
"""

from collections.abc import AsyncIterator
from typing import Any

import pytest

from threadline.errors import NotFound
from threadline.ids import new_object_id
from threadline.providers.fake import ScriptedLLM
from threadline.service import webhooks as wh
from threadline.service.caller import Caller
from threadline.service.definitions import parts
from threadline.service.definitions import versions as versions_api
from threadline.service.definitions import workflows as wf
from threadline.service.running import run_records, runs
from threadline.service.runtime import Runtime
from threadline.service.team import llm_configs
from threadline.service.turns import TurnRequest
from threadline.store import Query, Store, open_store
from threadline.store.definition_stamps import StampedCache

START = {"command": "start", "thread_to_node_inputs": {"0": {"node_run_inputs": []}}}
J = dict[str, Any]


def graph(name: str = "A", **workflow: Any) -> J:
    return {
        "workflow_config": {"name": "Cached", **workflow},
        "node_configs": [
            {"type": "no_op", "logical_id": "node_a", "name": name, "is_start": True}
        ],
        "edge_configs": [],
    }


def runtime_(cache: StampedCache[Any] | None = None) -> Runtime:
    if cache is None:
        return Runtime(llm=ScriptedLLM([]))
    return Runtime(llm=ScriptedLLM([]), version_cache=cache)


def team() -> Caller:
    return Caller(team_id=new_object_id(), user_id="tester")


async def create(store: Store, caller: Caller, body: J) -> str:
    return str((await wf.create(store, caller, body))["_id"])


async def snapshot_of_new_run(
    store: Store, caller: Caller, runtime: Runtime, wid: str, **extra: Any
) -> J:
    """Start a run; its snapshot as stored (read back from the database)."""
    request = TurnRequest(
        workflow_id=wid, raw_input={**START, **extra}, field="run_input"
    )
    doc, outcome = await runs.run_one_turn(store, caller, runtime, request)
    assert outcome.status == "completed"
    stored = await run_records.load(store, caller, doc.id)
    run: J = stored["workflow_run"]
    return {"snapshot": run["workflow_config_fully_hydrated"], "run": run}


def node_names(snapshot: J) -> list[str]:
    return [n["name"] for n in snapshot["snapshot"]["node_configs"]]


async def node_id(store: Store, caller: Caller, wid: str) -> str:
    async with store.begin() as tx:
        docs, _ = await tx.documents("nodes").find(
            caller.team_id, Query(equals={"workflow_id": wid})
        )
    return docs[0].id


@pytest.fixture
async def other_store(database_url: str) -> AsyncIterator[Store]:
    """A second store on the same database: what another process sees."""
    s = open_store(database_url)
    try:
        yield s
    finally:
        await s.close()


async def test_a_run_after_an_edit_in_this_process_uses_the_edited_graph(
    store: Store,
) -> None:
    caller, runtime = team(), runtime_()
    wid = await create(store, caller, graph("A"))
    assert node_names(await snapshot_of_new_run(store, caller, runtime, wid)) == ["A"]
    assert len(runtime.version_cache) == 1  # kept for the next run
    assert node_names(await snapshot_of_new_run(store, caller, runtime, wid)) == ["A"]

    nid = await node_id(store, caller, wid)
    await parts.update(store, caller, parts.NODES, nid, {"name": "B"})
    assert node_names(await snapshot_of_new_run(store, caller, runtime, wid)) == ["B"]

    await versions_api.rename(store, caller, wid, 0, {"version_name": "renamed"})
    got = await snapshot_of_new_run(store, caller, runtime, wid)
    assert got["run"]["version_name"] == "renamed"

    await parts.delete(store, caller, parts.NODES, nid)
    with pytest.raises(Exception, match="start node"):
        await snapshot_of_new_run(store, caller, runtime, wid)


async def test_a_run_after_an_edit_by_another_process_uses_the_edited_graph(
    store: Store, other_store: Store
) -> None:
    caller, runtime = team(), runtime_()
    wid = await create(store, caller, graph("A"))
    assert node_names(await snapshot_of_new_run(store, caller, runtime, wid)) == ["A"]

    # The edit goes through another store (process); this one's cache is warm.
    body = graph("Edited")
    await versions_api.replace_config(other_store, caller, wid, 0, {"config": body})
    got = await snapshot_of_new_run(store, caller, runtime, wid)
    assert node_names(got) == ["Edited"]
    # and the other process's own runs see it too
    other = runtime_()
    assert node_names(await snapshot_of_new_run(other_store, caller, other, wid)) == [
        "Edited"
    ]


async def test_a_saved_llm_config_edited_elsewhere_reaches_the_next_run(
    store: Store, other_store: Store
) -> None:
    caller, runtime = team(), runtime_()
    saved = await llm_configs.create(
        store,
        caller,
        {"name": "main", "config": {"type": "openai_llm", "model": "gpt-4.1"}},
    )
    cid = str(saved["id"])
    wid = await create(store, caller, graph("A", attachable_llm_config_id=cid))
    got = await snapshot_of_new_run(store, caller, runtime, wid)
    assert got["snapshot"]["workflow_config"]["llms_config"]["model"] == "gpt-4.1"

    await llm_configs.update(
        other_store, caller, cid, {"config": {"type": "openai_llm", "model": "gpt-5"}}
    )
    got = await snapshot_of_new_run(store, caller, runtime, wid)
    assert got["snapshot"]["workflow_config"]["llms_config"]["model"] == "gpt-5"


async def test_a_cached_version_never_reaches_another_team(store: Store) -> None:
    owner, stranger, runtime = team(), team(), runtime_()
    wid = await create(store, owner, graph("Owned"))
    await snapshot_of_new_run(store, owner, runtime, wid)
    assert len(runtime.version_cache) == 1

    # The same process, the same workflow id, another team: 404, no run.
    with pytest.raises(NotFound):
        await snapshot_of_new_run(store, stranger, runtime, wid)
    # An edit in the stranger's team leaves the owner's runs as they were.
    other = await create(store, stranger, graph("Theirs"))
    await snapshot_of_new_run(store, stranger, runtime, other)
    got = await snapshot_of_new_run(store, owner, runtime, wid)
    assert node_names(got) == ["Owned"]
    async with store.begin() as tx:
        found, _ = await tx.documents("workflow_runs").find(
            stranger.team_id, Query(equals={"workflow_id": wid})
        )
    assert found == []


async def test_the_cache_holds_at_most_its_ceiling(store: Store) -> None:
    caller = team()
    runtime = runtime_(StampedCache(2))
    names = ["one", "two", "three"]
    wids = [await create(store, caller, graph(n)) for n in names]
    for _ in range(2):
        for wid, name in zip(wids, names, strict=True):
            got = await snapshot_of_new_run(store, caller, runtime, wid)
            assert node_names(got) == [name]
            assert len(runtime.version_cache) <= 2
    assert len(runtime.version_cache) == 2

    none_kept = runtime_(StampedCache(0))
    got = await snapshot_of_new_run(store, caller, none_kept, wids[0])
    assert node_names(got) == ["one"] and len(none_kept.version_cache) == 0


async def test_a_subscription_made_by_another_process_gets_the_next_runs_events(
    store: Store, other_store: Store
) -> None:
    caller, runtime = team(), runtime_()
    wid = await create(store, caller, graph("A"))
    await snapshot_of_new_run(store, caller, runtime, wid)  # none kept for the team
    assert len(runtime.subscriptions) == 1

    actions = [wh.WORKFLOW_RUN_STARTED, wh.WORKFLOW_RUN_COMPLETED]
    body = {"name": "hook", "url": "https://hooks.example.com/in", "actions": actions}
    sub = await wh.create_subscription(other_store, caller, body)
    await snapshot_of_new_run(store, caller, runtime, wid)
    assert await event_actions(store, caller) == sorted(actions)

    await wh.delete_subscription(other_store, caller, str(sub["id"]))
    await snapshot_of_new_run(store, caller, runtime, wid)
    assert await event_actions(store, caller) == sorted(actions)  # none added


async def event_actions(store: Store, caller: Caller) -> list[str]:
    found, _ = await wh.list_events(store, caller, Query())
    return sorted(e["action"] for e in found)
