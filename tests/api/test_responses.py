"""The hot routes' responses: encoded once by orjson, declared in the OpenAPI document
as before, and the same JSON FastAPI's own encoder sends."""

import json
import math
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import jsonschema_rs
import pytest
from pydantic import TypeAdapter

from tests.api.conftest import Team
from tests.factories import static_node
from threadline.api.app import create_app
from threadline.api.responses import JsonBytes, encode
from threadline.settings import Settings

SCHEMA = create_app(Settings(database_url="sqlite+aiosqlite://")).openapi()
START = {"command": "start", "thread_to_node_inputs": {"0": {"node_run_inputs": []}}}
HOT = [
    ("post", "/v1/workflows/{workflow_id}/execute"),
    ("post", "/v1/workflows/{workflow_id}/runs/{run_id}/pump-companions"),
    ("post", "/v1/workflow-runs"),
    ("get", "/v1/workflow-runs"),
    ("get", "/v1/workflow-runs/{run_id}"),
]


class Colour(Enum):
    RED = "red"


VALUES: list[Any] = [
    {"at": datetime(2026, 12, 6, 16, 40, 1, 250, tzinfo=UTC)},
    {"naive": datetime(2026, 12, 6, 16, 40)},  # noqa: DTZ001  (naive on purpose)
    {1: "one", 2: "two"},
    {"tags": ("a", "b"), "ratio": 0.1, "big": 2**63 - 1, "text": "é\u2028"},
    {"nan": math.nan, "inf": math.inf},
    {"huge": 2**70},
    {"colour": Colour.RED},
]


@pytest.mark.parametrize("value", VALUES, ids=[str(list(v)) for v in VALUES])
def test_encoding_matches_fastapis_own_encoder(value: dict[str, Any]):
    expected = TypeAdapter(Any).dump_json(value)
    assert json.loads(encode(value)) == json.loads(expected)


def test_sets_become_lists():
    assert json.loads(encode({"ids": {"x"}})) == {"ids": ["x"]}


def test_a_response_is_json():
    response = JsonBytes({"a": [1, 2]}, status_code=201)
    assert response.body == b'{"a":[1,2]}'
    assert response.headers["content-type"] == "application/json"
    assert response.status_code == 201


@pytest.mark.parametrize(("method", "path"), HOT)
def test_hot_routes_still_declare_their_json_answer(method: str, path: str):
    ok = SCHEMA["paths"][path][method]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["type"] == "object"


async def test_execute_and_run_answers_match_their_declared_schema(team: Team):
    made = await team.client.post(
        "/v1/workflows",
        json={
            "name": "Hi",
            "node_configs": [static_node("node_say", "Hello", is_start=True)],
            "edge_configs": [],
        },
    )
    wid = made.json()["workflow"]["_id"]
    executed = await team.client.post(
        f"/v1/workflows/{wid}/execute", json={"run_input": START}
    )
    assert executed.status_code == 200, executed.text
    assert executed.headers["content-type"] == "application/json"
    run_id = executed.json()["run_id"]
    said = [
        e["content"]
        for e in executed.json()["events"]
        if e["type"] == "assistant_response"
    ]
    assert said == ["Hello"]
    record = await team.client.get(f"/v1/workflow-runs/{run_id}")
    listed = await team.client.get("/v1/workflow-runs")
    for (method, path), response in (
        (HOT[0], executed),
        (HOT[4], record),
        (HOT[3], listed),
    ):
        schema = SCHEMA["paths"][path][method]["responses"]["200"]["content"]
        validator = jsonschema_rs.validator_for(
            {**schema["application/json"]["schema"], "components": SCHEMA["components"]}
        )
        assert response.status_code == 200
        assert validator.is_valid(response.json())
    assert record.json()["workflow_run"]["_id"] == run_id
    assert listed.json()["workflow_runs"][0]["_id"] == run_id
