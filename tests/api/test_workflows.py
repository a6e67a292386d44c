"""Workflows: create (plain and hydrated), read, list, update, delete, reuse."""

from typing import Any

from tests.api.conftest import Team
from tests.factories import hydrated_workflow, static_node


async def create(team: Team, body: dict[str, Any]) -> dict[str, Any]:
    response = await team.client.post("/v1/workflows", json=body)
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


async def hydrated(team: Team, workflow_id: str) -> dict[str, Any]:
    response = await team.client.get(
        f"/v1/workflows/{workflow_id}", params={"fully_hydrate": True}
    )
    assert response.status_code == 200, response.text
    config: dict[str, Any] = response.json()["workflow"]["workflow_config"]
    return config


async def test_a_plain_create_returns_the_envelope_with_version_zero_active(team: Team):
    body = await create(
        team, {"name": "Intake", "description": "d", "config": {"category": "Ops"}}
    )
    doc = body["workflow"]
    assert body["execution_url"].endswith(f"/v1/workflows/{doc['_id']}/execute")
    assert doc["team_id"] == team.team_id and doc["created_by"] == team.user_id
    assert doc["name"] == "Intake" and doc["active_version_number"] == 0
    assert doc["workflow_config"]["category"] == "Ops"
    assert doc["workflow_config"]["name"] == "Intake"
    assert [v["version_number"] for v in doc["versions"]] == [0]
    assert doc["versions"][0]["version_name"] == "Initial Version"


async def test_a_hydrated_workflow_comes_back_with_the_same_nodes_and_edges(team: Team):
    sent = hydrated_workflow()
    doc = (await create(team, sent))["workflow"]
    back = await hydrated(team, doc["_id"])
    assert [n["logical_id"] for n in back["node_configs"]] == [
        "node_greet",
        "node_assist",
        "node_bye",
    ]
    assert [e["logical_id"] for e in back["edge_configs"]] == [
        "edge_greet_assist",
        "edge_assist_bye",
    ]
    assert back["edge_configs"][0]["type"] == "direct"
    assert back["edge_configs"][1]["condition"]["condition_freeform"].startswith(
        "The user wants"
    )
    assert (
        back["node_configs"][1]["main_response_config"]["prompt"]
        == "Help {{patient_name}} with [[topic]]."
    )
    assert back["node_configs"][1]["self_loop"] is True  # say_llm default filled in
    assert all(n["workflow_id"] == doc["_id"] for n in back["node_configs"])
    assert (
        len(back["workflow_config"]["nodes"]) == 3
        and len(back["workflow_config"]["edges"]) == 2
    )
    assert (
        back["workflow_config"]["miscellaneous"]
        == sent["workflow_config"]["miscellaneous"]
    )


async def test_unknown_fields_survive_a_round_trip(team: Team):
    sent = hydrated_workflow()
    sent["workflow_config"]["future_setting"] = {"x": [1, 2]}
    sent["node_configs"][1]["future_field"] = "kept"
    sent["node_configs"][1]["main_response_config"]["tone"] = "warm"
    sent["edge_configs"][0]["future_edge_field"] = 7
    doc = (await create(team, sent))["workflow"]
    back = await hydrated(team, doc["_id"])
    assert back["workflow_config"]["future_setting"] == {"x": [1, 2]}
    assert back["node_configs"][1]["future_field"] == "kept"
    assert back["node_configs"][1]["main_response_config"]["tone"] == "warm"
    assert back["edge_configs"][0]["future_edge_field"] == 7


async def test_a_hydrated_config_can_be_reuploaded_unchanged(team: Team):
    first = (await create(team, hydrated_workflow()))["workflow"]
    exported = await hydrated(team, first["_id"])
    second = (await create(team, {"name": "copy", **exported}))["workflow"]
    again = await hydrated(team, second["_id"])
    strip = {"workflow_id", "version_number"}
    assert [
        {k: v for k, v in n.items() if k not in strip} for n in again["node_configs"]
    ] == [
        {k: v for k, v in n.items() if k not in strip} for n in exported["node_configs"]
    ]


async def test_list_finds_by_search_and_pages_with_a_total(team: Team):
    for name in ("Alpha intake", "Beta billing", "Gamma intake"):
        await create(team, {"name": name})
    found = (await team.client.get("/v1/workflows", params={"search": "INTAKE"})).json()
    assert found["total"] == 2
    assert {w["name"] for w in found["workflows"]} == {"Alpha intake", "Gamma intake"}
    page = (
        await team.client.get("/v1/workflows", params={"size": 2, "page": 2})
    ).json()
    assert page["total"] == 3 and len(page["workflows"]) == 1


async def test_update_changes_only_the_given_fields(team: Team):
    doc = (await create(team, {"name": "Old", "description": "keep me"}))["workflow"]
    response = await team.client.patch(
        f"/v1/workflows/{doc['_id']}", json={"name": "New"}
    )
    assert response.status_code == 200
    updated = response.json()["workflow"]
    assert updated["name"] == "New" and updated["description"] == "keep me"
    assert updated["workflow_config"]["name"] == "New"


async def test_update_refuses_unknown_or_empty_fields(team: Team):
    doc = (await create(team, {"name": "Old"}))["workflow"]
    for body in ({"name": ""}, {"colour": "red"}):
        response = await team.client.patch(f"/v1/workflows/{doc['_id']}", json=body)
        assert response.status_code == 422
    assert (await team.client.get(f"/v1/workflows/{doc['_id']}")).json()["workflow"][
        "name"
    ] == "Old"


async def test_delete_removes_the_workflow_its_versions_nodes_and_edges(team: Team):
    doc = (await create(team, hydrated_workflow()))["workflow"]
    wid = doc["_id"]
    assert (await team.client.delete(f"/v1/workflows/{wid}")).status_code == 204
    assert (await team.client.get(f"/v1/workflows/{wid}")).status_code == 404
    nodes = (await team.client.get("/v1/nodes", params={"workflow_id": wid})).json()
    edges = (await team.client.get("/v1/edges", params={"workflow_id": wid})).json()
    assert nodes["total"] == 0 and edges["total"] == 0
    assert (await team.client.delete(f"/v1/workflows/{wid}")).status_code == 404


async def test_another_team_gets_404_for_every_operation(team: Team, other_team: Team):
    wid = (await create(team, hydrated_workflow()))["workflow"]["_id"]
    intruder = other_team.client
    assert (await intruder.get(f"/v1/workflows/{wid}")).status_code == 404
    assert (
        await intruder.patch(f"/v1/workflows/{wid}", json={"name": "x"})
    ).status_code == 404
    assert (await intruder.delete(f"/v1/workflows/{wid}")).status_code == 404
    assert (
        await intruder.post(f"/v1/workflows/{wid}/clone", json={})
    ).status_code == 404
    assert (
        await intruder.post(f"/v1/workflows/{wid}/versions", json={})
    ).status_code == 404
    assert (await intruder.get("/v1/workflows")).json()["total"] == 0
    assert (await team.client.get(f"/v1/workflows/{wid}")).json()["workflow"][
        "name"
    ] == "Clinic Assistant"


async def test_malformed_and_unknown_ids_get_clear_errors(team: Team):
    bad = await team.client.get("/v1/workflows/not-an-id")
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    assert "workflow_id" in bad.json()["message"]
    missing = await team.client.get("/v1/workflows/5eb7cf5a86d9755df3a6c593")
    assert (
        missing.status_code == 404
        and "5eb7cf5a86d9755df3a6c593" in missing.json()["message"]
    )


async def test_an_invalid_graph_is_refused_with_every_problem_and_nothing_is_stored(
    team: Team,
):
    sent = hydrated_workflow()
    sent["node_configs"][2]["is_start"] = True
    sent["edge_configs"].append(
        {
            "logical_id": "edge_ghost",
            "source_node_logical_id": "node_bye",
            "destination_node_logical_id": "node_ghost",
        }
    )
    response = await team.client.post("/v1/workflows", json=sent)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "workflow_invalid"
    codes = {p["code"] for p in body["errors"]}
    assert {"multiple_start_nodes", "unknown_node"} <= codes
    assert "node_ghost" in body["message"] and "node_bye" in body["message"]
    assert (await team.client.get("/v1/workflows")).json()["total"] == 0


async def test_an_unknown_node_type_is_refused_naming_the_field(team: Team):
    sent = hydrated_workflow()
    sent["node_configs"].append({"type": "teleport", "logical_id": "node_x"})
    response = await team.client.post("/v1/workflows", json=sent)
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_node_type"
    assert "node_configs.3.type" in response.json()["message"]
    assert (await team.client.get("/v1/workflows")).json()["total"] == 0


async def test_a_body_that_is_not_an_object_or_lacks_a_name_is_refused(team: Team):
    for body in ([1, 2], {"description": "no name"}):
        response = await team.client.post("/v1/workflows", json=body)
        assert response.status_code == 422, response.text
    assert (
        await team.client.post(
            "/v1/workflows",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
    ).status_code == 422


async def test_an_oversized_body_is_refused_with_413(team: Team):
    sent = hydrated_workflow()
    sent["description"] = "x" * 300_000
    response = await team.client.post("/v1/workflows", json=sent)
    assert (
        response.status_code == 413 and response.json()["code"] == "payload_too_large"
    )
    assert (await team.client.get("/v1/workflows")).json()["total"] == 0


async def test_the_gateway_prefix_serves_the_same_api(team: Team):
    doc = (await create(team, {"name": "Gateway"}))["workflow"]
    response = await team.client.get(f"/workflows/v1/workflows/{doc['_id']}")
    assert response.status_code == 200
    assert response.json()["execution_url"].endswith(
        f"/workflows/v1/workflows/{doc['_id']}/execute"
    )


async def test_clone_copies_every_version_with_fresh_node_ids(team: Team):
    doc = (await create(team, hydrated_workflow()))["workflow"]
    await team.client.post(
        f"/v1/workflows/{doc['_id']}/versions", json={"version_name": "v1"}
    )
    response = await team.client.post(f"/v1/workflows/{doc['_id']}/clone", json={})
    assert response.status_code == 200
    clone = response.json()["workflow"]
    assert clone["name"] == "Clinic Assistant (copy)" and clone["_id"] != doc["_id"]
    assert [v["version_number"] for v in clone["versions"]] == [0, 1]
    original, copy = (
        await hydrated(team, doc["_id"]),
        await hydrated(team, clone["_id"]),
    )
    assert [n["logical_id"] for n in copy["node_configs"]] == [
        n["logical_id"] for n in original["node_configs"]
    ]
    assert set(copy["workflow_config"]["nodes"]).isdisjoint(
        original["workflow_config"]["nodes"]
    )


async def test_clone_of_selected_versions_needs_a_valid_selection(team: Team):
    doc = (await create(team, hydrated_workflow()))["workflow"]
    url = f"/v1/workflows/{doc['_id']}/clone"
    bad = await team.client.post(
        url, json={"clone_all_versions": False, "version_numbers_to_clone": [5]}
    )
    assert bad.status_code == 422 and "5" in bad.json()["message"]
    ok = await team.client.post(
        url,
        json={
            "clone_all_versions": False,
            "version_numbers_to_clone": [0],
            "name": "Only draft",
        },
    )
    assert ok.status_code == 200 and ok.json()["workflow"]["name"] == "Only draft"


async def test_concurrency_limit_is_set_and_shown_on_the_workflow(team: Team):
    wid = (await create(team, {"name": "Busy"}))["workflow"]["_id"]
    response = await team.client.patch(
        f"/v1/workflows/{wid}/concurrency", json={"max_concurrent_runs": 3}
    )
    assert response.json() == {
        "workflow_id": wid,
        "max_concurrent_runs": 3,
        "message": "max_concurrent_runs set to 3",
    }
    assert (await team.client.get(f"/v1/workflows/{wid}")).json()["workflow"][
        "max_concurrent_runs"
    ] == 3
    bad = await team.client.patch(
        f"/v1/workflows/{wid}/concurrency", json={"max_concurrent_runs": 0}
    )
    assert bad.status_code == 422 and "max_concurrent_runs" in bad.json()["message"]


async def test_favorites_are_idempotent_and_shown(team: Team):
    wid = (await create(team, {"name": "Fav"}))["workflow"]["_id"]
    for _ in range(2):
        assert (await team.client.post(f"/v1/workflows/{wid}/favorite")).json()[
            "is_favorite"
        ] is True
    assert (await team.client.get(f"/v1/workflows/{wid}")).json()["workflow"][
        "is_favorite"
    ] is True
    assert (await team.client.delete(f"/v1/workflows/{wid}/favorite")).json()[
        "is_favorite"
    ] is False
    assert (await team.client.get(f"/v1/workflows/{wid}")).json()["workflow"][
        "is_favorite"
    ] is False


async def test_export_then_import_recreates_the_selected_versions(team: Team):
    doc = (await create(team, hydrated_workflow()))["workflow"]
    wid = doc["_id"]
    await team.client.post(
        f"/v1/workflows/{wid}/versions",
        json={"version_name": "Release", "mark_as_active": True},
    )
    bundle = (
        await team.client.get(
            f"/v1/workflows/{wid}/export",
            params={"version_numbers": [0, 1], "active_version_number": 1},
        )
    ).json()
    assert [v["version_number"] for v in bundle["versions"]] == [0, 1]
    response = await team.client.post(
        "/v1/workflows/import/bundle",
        json={
            "bundle": bundle,
            "versions_to_import": [0, 1],
            "active_version_number": 1,
            "workflow_name": "Imported",
        },
    )
    assert response.status_code == 200, response.text
    imported = response.json()["workflow"]
    assert imported["name"] == "Imported" and imported["active_version_number"] == 1
    back = await hydrated(team, imported["_id"])
    assert [n["logical_id"] for n in back["node_configs"]] == [
        "node_greet",
        "node_assist",
        "node_bye",
    ]


async def test_import_refuses_a_bundle_without_versions(team: Team):
    response = await team.client.post(
        "/v1/workflows/import/bundle", json={"bundle": {"nope": 1}}
    )
    assert response.status_code == 422 and "bundle" in response.json()["message"]


async def test_dynamic_variables_lists_each_placeholder_with_its_default(team: Team):
    wid = (await create(team, hydrated_workflow()))["workflow"]["_id"]
    body = (await team.client.get(f"/v1/workflows/dynamic-variables/{wid}")).json()
    by_name = {v["name"]: v for v in body["dynamic_variables"]}
    assert set(by_name) == {"clinic", "patient_name"}
    assert by_name["clinic"]["default_value"] == "Northside"
    assert by_name["patient_name"]["default_value"] is None


async def test_schemas_and_categories_are_served(team: Team):
    schema = (await team.client.get("/v1/workflows/schema")).json()
    assert {"llms_config", "category", "evaluation_config"} <= set(schema["properties"])
    gnc = (await team.client.get("/v1/workflows/schemas/global-node-config")).json()
    assert "is_global" in gnc["properties"]
    await create(team, {"name": "c", "config": {"category": "Dental"}})
    categories = (await team.client.get("/v1/workflow-categories")).json()["categories"]
    assert "User Created" in categories and "Dental" in categories


async def test_a_workflow_with_only_a_start_node_can_be_created(team: Team):
    body = {
        "name": "Solo",
        "workflow_config": {},
        "node_configs": [static_node("node_a", "hi", is_start=True)],
        "edge_configs": [],
    }
    doc = (await create(team, body))["workflow"]
    assert len((await hydrated(team, doc["_id"]))["node_configs"]) == 1
