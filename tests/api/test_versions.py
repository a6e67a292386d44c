"""Versions: snapshots that do not move under edits, activation, diff, active list."""

from typing import Any

from tests.api.conftest import Team
from tests.factories import hydrated_workflow


async def make(team: Team) -> str:
    response = await team.client.post("/v1/workflows", json=hydrated_workflow())
    assert response.status_code == 200, response.text
    return str(response.json()["workflow"]["_id"])


async def version_nodes(team: Team, wid: str, number: int) -> list[dict[str, Any]]:
    response = await team.client.get(
        "/v1/nodes", params={"workflow_id": wid, "version_number": number}
    )
    return list(response.json()["nodes"])


async def test_a_new_version_is_a_snapshot_that_edits_to_the_draft_do_not_change(
    team: Team,
):
    wid = await make(team)
    response = await team.client.post(
        f"/v1/workflows/{wid}/versions", json={"version_name": "Launch"}
    )
    assert response.status_code == 200
    body = response.json()
    assert (
        body["version"]["version_number"] == 1
        and body["version"]["version_name"] == "Launch"
    )
    assert body["parent_active_version"] == 0 and body["version"]["is_active"] is False
    draft_greet = next(
        n
        for n in await version_nodes(team, wid, 0)
        if n["node_config"]["logical_id"] == "node_greet"
    )
    patch = {"static_messages_config": {"static_messages": ["Edited!"]}}
    assert (
        await team.client.patch(f"/v1/nodes/{draft_greet['_id']}", json=patch)
    ).status_code == 200
    snapshot = next(
        n
        for n in await version_nodes(team, wid, 1)
        if n["node_config"]["logical_id"] == "node_greet"
    )
    assert snapshot["node_config"]["static_messages_config"]["static_messages"] == [
        "Welcome to {{clinic}}!"
    ]
    assert snapshot["_id"] != draft_greet["_id"]


async def test_versions_are_listed_renamed_and_fetched(team: Team):
    wid = await make(team)
    await team.client.post(f"/v1/workflows/{wid}/versions", json={})
    listed = (await team.client.get(f"/v1/workflows/{wid}/versions")).json()
    assert [v["version_number"] for v in listed["versions"]] == [0, 1]
    assert listed["versions"][1]["version_name"] == "Version 1"
    renamed = await team.client.patch(
        f"/v1/workflows/{wid}/versions/1", json={"version_name": "Spring"}
    )
    assert renamed.json()["version"]["version_name"] == "Spring"
    blank = await team.client.patch(
        f"/v1/workflows/{wid}/versions/1", json={"version_name": " "}
    )
    assert blank.status_code == 422
    assert (await team.client.get(f"/v1/workflows/{wid}/versions/7")).status_code == 404


async def test_activate_switches_the_active_version_and_returns_it_hydrated(team: Team):
    wid = await make(team)
    await team.client.post(f"/v1/workflows/{wid}/versions", json={"version_name": "v1"})
    response = await team.client.post(f"/v1/workflows/{wid}/versions/1/activate")
    assert response.status_code == 200
    doc = response.json()["workflow"]
    assert doc["active_version_number"] == 1
    assert len(doc["workflow_config"]["node_configs"]) == 3
    assert [v["is_active"] for v in doc["versions"]] == [False, True]


async def test_activating_an_invalid_version_is_refused_and_changes_nothing(team: Team):
    wid = await make(team)
    await team.client.post(f"/v1/workflows/{wid}/versions", json={})
    start = next(
        n for n in await version_nodes(team, wid, 1) if n["node_config"]["is_start"]
    )
    await team.client.patch(f"/v1/nodes/{start['_id']}", json={"is_start": False})
    response = await team.client.post(f"/v1/workflows/{wid}/versions/1/activate")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "no_start_node"
    assert (await team.client.get(f"/v1/workflows/{wid}")).json()["workflow"][
        "active_version_number"
    ] == 0


async def test_version_zero_and_the_active_version_cannot_be_deleted(team: Team):
    wid = await make(team)
    await team.client.post(
        f"/v1/workflows/{wid}/versions", json={"mark_as_active": True}
    )
    assert (
        await team.client.delete(f"/v1/workflows/{wid}/versions/0")
    ).status_code == 409
    assert (
        await team.client.delete(f"/v1/workflows/{wid}/versions/1")
    ).status_code == 409
    await team.client.post(f"/v1/workflows/{wid}/versions/0/activate")
    assert (
        await team.client.delete(f"/v1/workflows/{wid}/versions/1")
    ).status_code == 204
    assert await version_nodes(team, wid, 1) == []


async def test_replacing_a_version_config_with_a_hydrated_one_replaces_its_graph(
    team: Team,
):
    wid = await make(team)
    new = hydrated_workflow()
    new["node_configs"] = new["node_configs"][:2]
    new["edge_configs"] = new["edge_configs"][:1]
    response = await team.client.patch(
        f"/v1/workflows/{wid}/versions/0/config", json={"config": new}
    )
    assert response.status_code == 200, response.text
    assert len(await version_nodes(team, wid, 0)) == 2
    plain = await team.client.patch(
        f"/v1/workflows/{wid}/versions/0/config",
        json={"config": {"category": "Triage"}},
    )
    assert plain.json()["version"]["workflow_config"]["category"] == "Triage"
    assert len(await version_nodes(team, wid, 0)) == 2


async def test_diff_reports_added_removed_and_modified_parts(team: Team):
    wid = await make(team)
    await team.client.post(f"/v1/workflows/{wid}/versions", json={})
    nodes = await version_nodes(team, wid, 1)
    bye = next(n for n in nodes if n["node_config"]["logical_id"] == "node_bye")
    await team.client.patch(f"/v1/nodes/{bye['_id']}", json={"name": "Farewell"})
    await team.client.post(
        "/v1/nodes",
        json={
            "type": "no_op",
            "logical_id": "node_extra",
            "workflow_id": wid,
            "version_number": 1,
        },
    )
    diff = (await team.client.get(f"/v1/workflows/{wid}/versions/0/diff/1")).json()
    status = {n["logical_id"]: n["status"] for n in diff["nodes"]}
    assert status == {"node_bye": "modified", "node_extra": "added"}
    change = next(n for n in diff["nodes"] if n["logical_id"] == "node_bye")["changes"]
    assert {"path": "name", "old_value": "node_bye", "new_value": "Farewell"} in change
    assert (
        diff["summary"]["nodes_added"] == 1 and diff["summary"]["nodes_modified"] == 1
    )


async def test_active_versions_are_listed_across_workflows_with_filters(team: Team):
    first, second = await make(team), await make(team)
    await team.client.post(f"/v1/workflows/{second}/favorite")
    everything = (await team.client.get("/v1/workflows/versions/active")).json()
    assert everything["total"] == 2
    favorites = (
        await team.client.get(
            "/v1/workflows/versions/active", params={"favorites": True}
        )
    ).json()
    assert [v["workflow_id"] for v in favorites["versions"]] == [second]
    none = (
        await team.client.get(
            "/v1/workflows/versions/active", params={"category": "Nope"}
        )
    ).json()
    assert none["total"] == 0
    assert first != second
