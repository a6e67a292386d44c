"""Integers a client sends never overflow the database: they get a 422, never a 500.

Query and path integers are enumerated from the app's own OpenAPI schema, so a new
route with an unbounded integer parameter fails here. Body integers are bounded by
the JSON guard (``api/json_guard.py``) to the JSON-safe range.
"""

from typing import Any

import pytest

from tests.api.conftest import Team
from tests.factories import hydrated_workflow, static_node
from threadline.api.app import create_app
from threadline.ids import new_object_id
from threadline.settings import Settings

# Over SQLite's 64-bit INTEGER, and over PostgreSQL's 32-bit INTEGER columns.
HUGE = (10**20, 2**31)


def _integer_parameters() -> list[tuple[str, str, str, str]]:
    """(method, path, location, name) of every integer query or path parameter."""
    schema = create_app(Settings(database_url="sqlite+aiosqlite://")).openapi()
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                types = _types(parameter.get("schema", {}))
                if "integer" in types and parameter["in"] in ("query", "path"):
                    found.append(
                        (method.upper(), path, parameter["in"], parameter["name"])
                    )
    return found


def _types(schema: dict[str, Any]) -> set[str]:
    kinds = {schema["type"]} if "type" in schema else set()
    for option in schema.get("anyOf", []):
        kinds |= _types(option)
    if schema.get("type") == "array":
        kinds |= _types(schema.get("items", {}))
    return kinds


INTEGER_PARAMETERS = _integer_parameters()


def _url(path: str, location: str, name: str, value: int) -> tuple[str, dict[str, Any]]:
    """The path with every parameter filled: ``name`` huge, ids and numbers valid."""
    filled = path
    for segment in path.split("/"):
        if segment.startswith("{"):
            key = segment[1:-1]
            if location == "path" and key == name:
                filled = filled.replace(segment, str(value))
            elif key in ("version_number", "v1", "v2", "turn_index"):
                filled = filled.replace(segment, "1")
            elif key == "vendor":
                filled = filled.replace(segment, "openai")
            else:
                filled = filled.replace(segment, new_object_id())
    params = {name: value} if location == "query" else {}
    return filled, params


def test_the_api_has_integer_parameters_to_check():
    names = {name for _, _, _, name in INTEGER_PARAMETERS}
    assert {"page", "size", "version_number", "v2", "turn_index"} <= names


async def test_a_huge_integer_parameter_is_a_422_naming_it(team: Team):
    wrong = []
    for method, path, location, name in INTEGER_PARAMETERS:
        for value in HUGE:
            url, params = _url(path, location, name, value)
            body: dict[str, Any] | None = (
                {} if method in ("POST", "PUT", "PATCH") else None
            )
            response = await team.client.request(method, url, params=params, json=body)
            error = response.json()
            fields = [e["field"] for e in error.get("errors") or []]
            named = any(f == name or f.startswith(f"{name}.") for f in fields)
            if response.status_code != 422 or not named:
                wrong.append((method, url, params, response.status_code, error))
    assert wrong == []


async def test_the_audits_page_overflow_is_a_422(team: Team):
    response = await team.client.get(
        "/v1/workflows", params={"page": "100000000000000000000"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "page"


async def _workflow(team: Team) -> str:
    response = await team.client.post("/v1/workflows", json=hydrated_workflow())
    assert response.status_code == 200, response.text
    workflow_id: str = response.json()["workflow"]["_id"]
    return workflow_id


async def test_a_huge_integer_in_a_body_is_a_422_naming_its_field(team: Team):
    body = hydrated_workflow()
    body["workflow_config"]["miscellaneous"]["retries"] = 10**30
    response = await team.client.post("/v1/workflows", json=body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["code"] == "integer_out_of_range"
    assert error["errors"][0]["field"] == "workflow_config.miscellaneous.retries"
    listed = await team.client.get("/v1/workflows")
    assert listed.json()["total"] == 0


@pytest.mark.parametrize("value", [2**31, 2**53 - 1, -(2**40)])
async def test_a_version_number_in_a_body_beyond_the_column_is_not_found(
    team: Team, value: int
):
    workflow_id = await _workflow(team)
    clone = await team.client.post(
        f"/v1/workflows/{workflow_id}/clone",
        json={"clone_all_versions": False, "version_numbers_to_clone": [value]},
    )
    assert clone.status_code in (404, 422), clone.text
    start = {
        "command": "start",
        "version_number": value,
        "thread_to_node_inputs": {"0": {"node_run_inputs": []}},
    }
    run = await team.client.post(
        f"/v1/workflows/{workflow_id}/execute", json={"run_input": start}
    )
    assert run.status_code in (404, 422), run.text


async def test_a_huge_last_event_id_is_a_422(team: Team):
    body = {
        "name": "hi",
        "workflow_config": {},
        "node_configs": [static_node("node_hi", "Hello", is_start=True)],
        "edge_configs": [],
    }
    created = await team.client.post("/v1/workflows", json=body)
    workflow_id = created.json()["workflow"]["_id"]
    start = {
        "command": "start",
        "thread_to_node_inputs": {"0": {"node_run_inputs": []}},
    }
    run = await team.client.post(
        f"/v1/workflows/{workflow_id}/execute", json={"run_input": start}
    )
    run_id = run.json()["run_id"]
    for header in (f"{run_id}:{10**30}", f"{run_id}:{2**31}"):
        response = await team.client.get(
            f"/v1/workflow-runs/{run_id}/stream", headers={"Last-Event-ID": header}
        )
        assert response.status_code == 422, response.text
        assert response.json()["message"].startswith("Last-Event-ID")
