"""Nodes, edges and tools as standalone resources, plus their catalogues."""

import json

from tests.api.conftest import SECRET_KEY, Team
from tests.factories import say_node
from threadline.service.team.sealing import open_value


async def new_workflow(team: Team) -> str:
    response = await team.client.post("/v1/workflows", json={"name": "Parts"})
    return str(response.json()["workflow"]["_id"])


async def test_a_node_is_created_read_updated_and_deleted(team: Team):
    wid = await new_workflow(team)
    created = await team.client.post(
        "/v1/nodes", json={**say_node("node_a", is_start=True), "workflow_id": wid}
    )
    assert created.status_code == 200, created.text
    node = created.json()["node"]
    assert (
        node["node_config"]["version_number"] == 0 and node["team_id"] == team.team_id
    )
    assert node["node_config"]["wait_for_user_message"] is True
    nid = node["_id"]
    assert (await team.client.get(f"/v1/nodes/{nid}")).json()["node"]["_id"] == nid
    patched = (
        await team.client.patch(f"/v1/nodes/{nid}", json={"name": "Renamed"})
    ).json()["node"]
    assert patched["node_config"]["name"] == "Renamed"
    assert patched["node_config"]["main_response_config"]["prompt"] == "Be helpful."
    assert patched["created_at"] == node["created_at"]
    assert (await team.client.delete(f"/v1/nodes/{nid}")).status_code == 204
    assert (await team.client.get(f"/v1/nodes/{nid}")).status_code == 404


async def test_a_node_appears_in_its_workflows_hydrated_config(team: Team):
    wid = await new_workflow(team)
    await team.client.post(
        "/v1/nodes", json={**say_node("node_a", is_start=True), "workflow_id": wid}
    )
    doc = (
        await team.client.get(f"/v1/workflows/{wid}", params={"fully_hydrate": True})
    ).json()
    assert [
        n["logical_id"] for n in doc["workflow"]["workflow_config"]["node_configs"]
    ] == ["node_a"]


async def test_nodes_are_filtered_by_type_and_workflow(team: Team):
    wid = await new_workflow(team)
    await team.client.post("/v1/nodes", json={**say_node("node_a"), "workflow_id": wid})
    await team.client.post(
        "/v1/nodes", json={"type": "no_op", "logical_id": "node_b", "workflow_id": wid}
    )
    await team.client.post(
        "/v1/nodes", json={"type": "no_op", "logical_id": "node_free"}
    )
    by_type = (await team.client.get("/v1/nodes", params={"type": "no_op"})).json()
    assert by_type["total"] == 2
    in_wf = (await team.client.get("/v1/nodes", params={"workflow_id": wid})).json()
    assert {n["node_config"]["logical_id"] for n in in_wf["nodes"]} == {
        "node_a",
        "node_b",
    }


async def test_a_duplicate_logical_id_in_one_version_is_a_conflict(team: Team):
    wid = await new_workflow(team)
    body = {**say_node("node_a"), "workflow_id": wid}
    assert (await team.client.post("/v1/nodes", json=body)).status_code == 200
    again = await team.client.post("/v1/nodes", json=body)
    assert again.status_code == 409 and "node_a" in again.json()["message"]


async def test_bad_nodes_are_refused_and_nothing_is_stored(team: Team):
    wid = await new_workflow(team)
    cases = [
        ({"type": "teleport"}, 422),
        (
            {
                "type": "say_llm",
                "self_loop_config": {"enabled": True, "max_retries": 1000},
            },
            422,
        ),
        ({"type": "no_op", "workflow_id": "zzz"}, 422),
        ({"type": "no_op", "workflow_id": "5eb7cf5a86d9755df3a6c593"}, 404),
        ({"type": "no_op", "workflow_id": wid, "version_number": 9}, 404),
        ("just a string", 422),
    ]
    for body, status in cases:
        response = await team.client.post("/v1/nodes", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["message"]
    assert (await team.client.get("/v1/nodes")).json()["total"] == 0


async def test_an_invalid_partial_update_leaves_the_node_unchanged(team: Team):
    nid = (
        await team.client.post(
            "/v1/nodes", json={"type": "no_op", "logical_id": "node_a"}
        )
    ).json()["node"]["_id"]
    bad = await team.client.patch(f"/v1/nodes/{nid}", json={"type": "teleport"})
    assert bad.status_code == 422
    assert (await team.client.get(f"/v1/nodes/{nid}")).json()["node"]["node_config"][
        "type"
    ] == "no_op"


async def test_edges_default_to_direct_and_keep_conditions(team: Team):
    direct = (
        await team.client.post(
            "/v1/edges",
            json={"source_node_logical_id": "a", "destination_node_logical_id": "b"},
        )
    ).json()["edge"]
    assert direct["edge_config"]["type"] == "direct"
    assert direct["edge_config"]["logical_id"].startswith("edge_")
    cond = {
        "type": "conditional",
        "source_node_logical_id": "a",
        "destination_node_logical_id": "b",
        "condition": {"condition_expression": "isPresent([[name]])"},
    }
    created = (await team.client.post("/v1/edges", json=cond)).json()["edge"]
    assert (
        created["edge_config"]["condition"]["condition_expression"]
        == "isPresent([[name]])"
    )
    listed = (await team.client.get("/v1/edges", params={"type": "conditional"})).json()
    assert listed["total"] == 1


async def test_tools_are_stored_and_listed_by_type(team: Team):
    tool = {
        "type": "inline_python",
        "name": "double",
        "code": "def double(x: float) -> float:\n    return x * 2",
    }
    created = await team.client.post("/v1/tools", json=tool)
    assert created.status_code == 200, created.text
    body = created.json()["tool"]
    assert body["tool_config"]["result_runtime_variable_name"] == "tool_result"
    assert (
        await team.client.get("/v1/tools", params={"type": "inline_python"})
    ).json()["total"] == 1
    assert (await team.client.get("/v1/tools", params={"type": "external_api"})).json()[
        "total"
    ] == 0


async def test_parts_of_another_team_are_invisible(team: Team, other_team: Team):
    nid = (await team.client.post("/v1/nodes", json={"type": "no_op"})).json()["node"][
        "_id"
    ]
    intruder = other_team.client
    assert (await intruder.get(f"/v1/nodes/{nid}")).status_code == 404
    assert (
        await intruder.patch(f"/v1/nodes/{nid}", json={"name": "x"})
    ).status_code == 404
    assert (await intruder.delete(f"/v1/nodes/{nid}")).status_code == 404
    assert (await intruder.get("/v1/nodes")).json()["total"] == 0
    wid = await new_workflow(team)
    stolen = await intruder.post(
        "/v1/nodes", json={"type": "no_op", "workflow_id": wid}
    )
    assert stolen.status_code == 404


async def test_catalogues_list_every_type_with_schemas(team: Team):
    types = (await team.client.get("/v1/nodes/types")).json()["node_types"]
    assert len(types) == 19
    say = next(t for t in types if t["type"] == "say_llm")
    assert say["primary_category"] and say["secondary_category"]
    schema = (await team.client.get("/v1/nodes/schema/http_request")).json()
    assert "url" in schema["config_schema"]["properties"]
    assert {"run_input_schema", "run_output_schema"} <= set(schema)
    assert (await team.client.get("/v1/nodes/schema/teleport")).status_code == 404
    assert (await team.client.get("/v1/edges/types")).json()["edge_types"] == [
        "direct",
        "conditional",
        "companion",
    ]
    assert (
        "condition"
        in (await team.client.get("/v1/edges/schema/conditional")).json()[
            "config_schema"
        ]["properties"]
    )
    assert (await team.client.get("/v1/tools/types")).json()["tool_types"] == [
        "inbuilt_function",
        "inline_python",
        "external_api",
        "knowledge_base",
    ]
    assert (
        "code"
        in (await team.client.get("/v1/tools/schema/inline_python")).json()[
            "config_schema"
        ]["properties"]
    )
    inbuilt = (await team.client.get("/v1/tools/inbuilt")).json()["inbuilt_tools"]
    assert any(t["tool_id"] == "math_add" for t in inbuilt)
    configurable = (await team.client.get("/v1/tools/configurable-inbuilt")).json()[
        "configurable_inbuilt_tools"
    ]
    assert configurable[0]["key"] == "call_forward"
    assert (
        await team.client.get("/v1/tools/configurable-inbuilt/call_forward")
    ).json()["key"] == "call_forward"
    assert (
        await team.client.get("/v1/tools/configurable-inbuilt/nope")
    ).status_code == 404


async def test_api_keys_in_node_configs_are_masked_and_kept_when_sent_back(
    team: Team, store
):
    secret = "sk-node-own-key-5566778899"
    node = {
        **say_node("node_k"),
        "llms_config": {"type": "openai_llm", "model": "m", "api_key": secret},
    }
    wid = await new_workflow(team)
    created = await team.client.post("/v1/nodes", json={**node, "workflow_id": wid})
    assert secret not in created.text
    nid = created.json()["node"]["_id"]
    shown = created.json()["node"]["node_config"]["llms_config"]["api_key"]
    assert shown.endswith("8899") and shown.startswith("****")
    hydrated = await team.client.get(
        f"/v1/workflows/{wid}", params={"fully_hydrate": True}
    )
    assert secret not in hydrated.text
    exported = await team.client.get(f"/v1/workflows/{wid}/export")
    assert secret not in exported.text
    config = created.json()["node"]["node_config"]
    patched = await team.client.patch(
        f"/v1/nodes/{nid}",
        json={"llms_config": config["llms_config"], "name": "Renamed"},
    )
    assert patched.status_code == 200, patched.text
    async with store.begin() as tx:
        doc = await tx.documents("nodes").get(team.team_id, nid)
    # Kept, and sealed at rest (service.team.sealing): encrypted, not in clear.
    assert doc is not None and secret not in json.dumps(doc.body)
    stored = doc.body["llms_config"]["api_key"]
    assert open_value(stored, SECRET_KEY) == secret
    assert doc.body["name"] == "Renamed"
