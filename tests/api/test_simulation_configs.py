"""Simulation configs over HTTP: CRUD, schema, ceilings, bad input changes nothing."""

from typing import Any

import pytest

from tests.api.conftest import Team
from tests.factories import static_node

MISSING = "5eb7cf5a86d9755df3a6c593"


async def workflow(team: Team, name: str = "Assistant") -> str:
    body = {
        "name": name,
        "workflow_config": {},
        "node_configs": [static_node("node_hi", "Hi", is_start=True)],
        "edge_configs": [],
    }
    response = await team.client.post("/v1/workflows", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["workflow"]["_id"])


def config(selected: str, counter: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "Pizza order",
        "description": "Order bot against a hungry customer",
        "selected_workflow": {"workflow_id": selected},
        "counter_workflow": {"workflow_id": counter},
        "number_of_simulations": 3,
        **extra,
    }


async def create(team: Team, body: Any) -> dict[str, Any]:
    response = await team.client.post("/v1/simulations", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["simulation"]
    return result


async def count(team: Team) -> int:
    listed = (await team.client.get("/v1/simulations")).json()
    return int(listed["total"])


async def test_create_get_list_update_delete(team: Team):
    selected, counter = await workflow(team), await workflow(team, "Customer")
    sim = await create(team, config(selected, counter))
    assert sim["id"] == sim["_id"]
    assert sim["status"] == "pending"
    assert sim["simulation_config"]["name"] == "Pizza order"
    assert sim["simulation_config"]["number_of_simulations"] == 3
    assert sim["simulation_config"]["counter_workflow"]["name"] == "Customer"
    assert sim["simulation_config"]["logical_id"].startswith("simulation_")

    got = (await team.client.get(f"/v1/simulations/{sim['id']}")).json()
    assert got["simulation"]["simulation_config"] == sim["simulation_config"]

    listed = (
        await team.client.get("/v1/simulations", params={"search": "PIZZA"})
    ).json()
    assert [s["id"] for s in listed["simulations"]] == [sim["id"]]
    assert listed["total"] == 1
    none = (await team.client.get("/v1/simulations", params={"search": "xyz"})).json()
    assert none["simulations"] == []

    patched = await team.client.patch(
        f"/v1/simulations/{sim['id']}",
        json={"description": "Updated", "status": "inactive"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["simulation"]["status"] == "inactive"
    assert patched.json()["simulation"]["simulation_config"]["description"] == "Updated"

    deleted = await team.client.delete(f"/v1/simulations/{sim['id']}")
    assert deleted.status_code == 200
    assert "message" in deleted.json()
    gone = await team.client.get(f"/v1/simulations/{sim['id']}")
    assert gone.status_code == 404
    assert gone.json()["code"] == "not_found"


async def test_the_schema_describes_the_config(team: Team):
    response = await team.client.get("/v1/simulations/schema")
    assert response.status_code == 200
    properties = response.json()["config_schema"]["properties"]
    assert {"selected_workflow", "counter_workflow", "number_of_simulations"} <= set(
        properties
    )


async def test_a_patch_of_an_unchangeable_field_is_refused(team: Team):
    selected = await workflow(team)
    sim = await create(team, config(selected, selected))
    response = await team.client.patch(
        f"/v1/simulations/{sim['id']}", json={"number_of_simulations": 9}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "immutable_field"
    assert "number_of_simulations" in response.json()["message"]
    got = (await team.client.get(f"/v1/simulations/{sim['id']}")).json()
    assert got["simulation"]["simulation_config"]["number_of_simulations"] == 3


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        (
            {"selected_workflow": {"workflow_id": MISSING}},
            "workflow_not_found",
            "selected_workflow.workflow_id",
        ),
        (
            {"counter_workflow": {"workflow_id": MISSING}},
            "workflow_not_found",
            "counter_workflow.workflow_id",
        ),
        ({"counter_workflow": {}}, "validation_error", "counter_workflow.workflow_id"),
        ({"number_of_simulations": 0}, "validation_error", "number_of_simulations"),
        ({"number_of_simulations": 101}, "over_limit", "number_of_simulations"),
        ({"max_turns": 51}, "over_limit", "max_turns"),
        ({"max_concurrent_runs": 11}, "over_limit", "max_concurrent_runs"),
        ({"timeout_seconds": 3601}, "over_limit", "timeout_seconds"),
        ({"max_events": -1}, "validation_error", "max_events"),
        ({"status": "bogus"}, "validation_error", "status"),
        (
            {"selected_workflow": {"workflow_id": "nope"}},
            "validation_error",
            "selected_workflow.workflow_id",
        ),
    ],
)
async def test_bad_configs_are_refused_and_nothing_is_stored(
    team: Team, change: dict[str, Any], code: str, field: str
):
    selected = await workflow(team)
    response = await team.client.post(
        "/v1/simulations", json={**config(selected, selected), **change}
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert field in response.json()["message"]
    assert await count(team) == 0


async def test_a_pinned_version_must_exist(team: Team):
    selected = await workflow(team)
    body = config(selected, selected)
    body["selected_workflow"]["version_number"] = 7
    response = await team.client.post("/v1/simulations", json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "version_not_found"
    assert await count(team) == 0


async def test_a_body_that_is_not_an_object_is_refused(team: Team):
    response = await team.client.post("/v1/simulations", json=[1, 2])
    assert response.status_code == 422
    assert await count(team) == 0


async def test_other_teams_see_neither_the_config_nor_their_workflows(
    team: Team, other_team: Team
):
    selected = await workflow(team)
    sim = await create(team, config(selected, selected))
    for method in ("get", "delete"):
        response = await getattr(other_team.client, method)(
            f"/v1/simulations/{sim['id']}"
        )
        assert response.status_code == 404
    patched = await other_team.client.patch(
        f"/v1/simulations/{sim['id']}", json={"description": "theirs"}
    )
    assert patched.status_code == 404
    assert (await other_team.client.get("/v1/simulations")).json()["total"] == 0
    theirs = await other_team.client.post(
        "/v1/simulations", json=config(selected, selected)
    )
    assert theirs.status_code == 422
    assert theirs.json()["code"] == "workflow_not_found"
    got = (await team.client.get(f"/v1/simulations/{sim['id']}")).json()
    assert got["simulation"]["simulation_config"]["description"] != "theirs"


async def test_a_malformed_id_is_a_client_error(team: Team):
    response = await team.client.get("/v1/simulations/not-an-id")
    assert response.status_code == 422
