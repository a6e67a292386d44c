"""Resolving super-node children through the store and expanding a run snapshot."""

from typing import Any

import pytest

from threadline.errors import BadRequest, GraphInvalid, NotFound
from threadline.ids import new_object_id
from threadline.service.caller import Caller
from threadline.service.definitions import graph as graphs
from threadline.service.definitions import versions
from threadline.service.definitions import workflows as wf
from threadline.service.reuse.supernodes import expand, expand_for_run, resolve_children
from threadline.store import Store

J = dict[str, Any]


def say(lid: str, *, is_start: bool = False, prompt: str = "Hi.") -> J:
    return {
        "type": "say_llm",
        "logical_id": lid,
        "name": lid,
        "is_start": is_start,
        "main_response_config": {"prompt": prompt},
    }


def edge(lid: str, src: str, dst: str) -> J:
    return {
        "logical_id": lid,
        "name": lid,
        "source_node_logical_id": src,
        "destination_node_logical_id": dst,
    }


def sn(lid: str = "intake", **extra: Any) -> J:
    return {"type": "super_node", "logical_id": lid, "name": lid, **extra}


PROMPT_INTERFACE = {
    "input_fields": [
        {
            "name": "ask",
            "value_type": "string",
            "mappings": [
                {
                    "target_type": "node_config_field",
                    "target_node_or_edge_logical_id": "ask_id",
                    "target_field_path": "main_response_config.prompt",
                }
            ],
        }
    ]
}


def body(name: str, nodes: list[J], edges: list[J]) -> J:
    return {
        "name": name,
        "workflow_config": {"name": name},
        "node_configs": nodes,
        "edge_configs": edges,
    }


def child_body() -> J:
    return body(
        "Intake",
        [say("ask_id", is_start=True), say("ask_reason")],
        [edge("id_reason", "ask_id", "ask_reason")],
    )


def parent_body(super_node: J) -> J:
    return body(
        "Parent",
        [say("welcome", is_start=True), super_node, say("assist")],
        [
            edge("w_s", "welcome", super_node["logical_id"]),
            edge("s_a", super_node["logical_id"], "assist"),
        ],
    )


@pytest.fixture
def caller() -> Caller:
    return Caller(team_id=new_object_id(), user_id="u")


async def create(store: Store, caller: Caller, payload: J) -> str:
    created = await wf.create(store, caller, payload)
    return str(created["_id"])


async def snapshot(store: Store, caller: Caller, workflow_id: str) -> J:
    async with store.begin() as tx:
        version = await wf.get_version_doc(tx, caller, workflow_id, 0)
        return (await graphs.load(tx, caller.team_id, version)).hydrated()


def ids(config: J) -> list[str]:
    return [n["logical_id"] for n in config["node_configs"]]


async def test_run_snapshot_inlines_the_active_child(
    store: Store, caller: Caller
) -> None:
    child_id = await create(store, caller, child_body())
    node = sn(
        super_workflow_id=child_id,
        super_node_interface=PROMPT_INTERFACE,
        field_values={"ask": "Ask for the member id."},
    )
    parent_id = await create(store, caller, parent_body(node))
    hydrated = await snapshot(store, caller, parent_id)
    async with store.begin() as tx:
        children = await resolve_children(tx, caller.team_id, hydrated)
        out = await expand_for_run(tx, caller, hydrated, workflow_id=parent_id)
    assert set(children) == {"intake"}
    assert ids(out) == ["welcome", "intake__ask_id", "intake__ask_reason", "assist"]
    nodes = {n["logical_id"]: n for n in out["node_configs"]}
    prompt = nodes["intake__ask_id"]["main_response_config"]["prompt"]
    assert prompt == "Ask for the member id."
    routes = {
        (e["source_node_logical_id"], e["destination_node_logical_id"])
        for e in out["edge_configs"]
    }
    assert ("welcome", "intake__ask_id") in routes
    assert ("intake__ask_reason", "assist") in routes


async def test_pinned_version_and_missing_children(
    store: Store, caller: Caller
) -> None:
    child_id = await create(store, caller, child_body())
    await versions.create(store, caller, child_id, {})
    pinned = sn(super_workflow_id=child_id, super_workflow_version_number=1)
    parent_id = await create(store, caller, parent_body(pinned))
    hydrated = await snapshot(store, caller, parent_id)
    async with store.begin() as tx:
        out = await expand_for_run(tx, caller, hydrated)
    assert "intake__ask_reason" in ids(out)

    cases: list[tuple[J, type[Exception], str]] = [
        (
            sn(super_workflow_id=child_id, super_workflow_version_number=7),
            NotFound,
            "has no version 7",
        ),
        (sn(super_workflow_id=new_object_id()), NotFound, "not found"),
        (sn(), BadRequest, "neither super_workflow_id"),
    ]
    for node, error, text in cases:
        hydrated["node_configs"][1] = node
        async with store.begin() as tx:
            with pytest.raises(error, match=text) as caught:
                await expand_for_run(tx, caller, hydrated)
        assert "super node 'intake'" in caught.value.args[0]


async def test_other_teams_children_are_not_found(store: Store, caller: Caller) -> None:
    child_id = await create(store, caller, child_body())
    stranger = Caller(team_id=new_object_id(), user_id="v")
    hydrated = parent_body(sn(super_workflow_id=child_id))
    async with store.begin() as tx:
        with pytest.raises(NotFound):
            await expand_for_run(tx, stranger, hydrated)


async def test_nested_children_and_cycles(store: Store, caller: Caller) -> None:
    leaf_id = await create(store, caller, child_body())
    middle = body(
        "Middle",
        [say("m", is_start=True), sn("inner", super_workflow_id=leaf_id)],
        [edge("m_inner", "m", "inner")],
    )
    middle_id = await create(store, caller, middle)
    parent_id = await create(
        store, caller, parent_body(sn(super_workflow_id=middle_id))
    )
    hydrated = await snapshot(store, caller, parent_id)
    async with store.begin() as tx:
        result = await expand(tx, caller, hydrated, workflow_id=parent_id)
    assert "intake__inner__ask_reason" in ids(result.hydrated)
    assert result.origins["intake__inner__ask_id"] == "intake__inner"

    # Make the leaf embed the parent: parent -> middle -> leaf -> parent.
    looping = child_body()
    looping["node_configs"].append(sn("back", super_workflow_id=parent_id))
    await versions.replace_config(store, caller, leaf_id, 0, {"config": looping})
    async with store.begin() as tx:
        with pytest.raises(GraphInvalid, match="cycle of workflows") as caught:
            await expand_for_run(tx, caller, hydrated, workflow_id=parent_id)
    assert caught.value.details[0]["code"] == "super_node_expansion"


async def test_snapshot_without_super_nodes_is_returned_as_is(
    store: Store, caller: Caller
) -> None:
    hydrated = child_body()
    async with store.begin() as tx:
        assert await expand_for_run(tx, caller, hydrated) is hydrated
