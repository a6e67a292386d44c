"""Bad input gets a 4xx naming the field, never a 500, and changes nothing.

Deep JSON, lone surrogates and NULs in request bodies and WebSocket frames, and
condition expressions nested past the parser's limit.
"""

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.conftest import Team, make_team
from tests.api.test_stream import make_app, socket, team_on, teardown_turns
from tests.factories import edge, static_node
from threadline.api.app import bootstrap, create_app
from threadline.providers.fake import ScriptedLLM
from threadline.service.runtime import Runtime
from threadline.settings import Settings
from threadline.store import Store

START = {"command": "start", "thread_to_node_inputs": {"0": {"node_run_inputs": []}}}


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


def greeter(name: str = "Greeter") -> dict[str, Any]:
    return {
        "name": name,
        "workflow_config": {},
        "node_configs": [
            static_node("node_hi", "Hello!", is_start=True),
            {"type": "say_llm", "logical_id": "node_chat"},
        ],
        "edge_configs": [edge("edge_hi", "node_hi", "node_chat")],
    }


async def post_raw(team: Team, url: str, text: str) -> Any:
    """POST JSON text as is: lone surrogates travel as ``\\ud800`` escapes."""
    return await team.client.post(
        url, content=text.encode(), headers={"content-type": "application/json"}
    )


async def workflow_count(team: Team) -> int:
    total: int = (await team.client.get("/v1/workflows")).json()["total"]
    return total


@pytest.mark.parametrize("depth", [65, 300, 999])
async def test_a_body_nested_deeper_than_the_limit_is_a_422_and_stores_nothing(
    team: Team, depth: int
):
    deep = '{"a": ' * depth + '"leaf"' + "}" * depth
    text = (
        json.dumps(greeter())[:-1]
        + f', "workflow_config": {{"miscellaneous": {deep}}}}}'
    )
    response = await post_raw(team, "/v1/workflows", text)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["code"] == "json_too_deep"
    if depth < 500:  # deeper still, the decoder itself gives up: "body"
        field = error["errors"][0]["field"]
        assert field.startswith("workflow_config.miscellaneous.a")
    assert await workflow_count(team) == 0


async def test_a_body_nested_past_the_decoder_is_a_422(team: Team):
    text = '{"name": "x", "workflow_config": ' + "[" * 5000 + "]" * 5000 + "}"
    response = await post_raw(team, "/v1/workflows", text)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "json_too_deep"


async def test_the_json_depth_limit_is_the_operators(
    store: Store, runtime: Runtime, database_url: str
):
    settings = Settings(database_url=database_url, max_json_depth=6)
    app = create_app(settings, store=store, runtime=runtime)
    await bootstrap(store, settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        team = await make_team(store, client)
        body = greeter()
        body["workflow_config"] = {"miscellaneous": nested(5)}
        response = await client.post("/v1/workflows", json=body)
        assert (
            response.status_code == 422 and response.json()["code"] == "json_too_deep"
        )
        body["workflow_config"] = {"miscellaneous": nested(4)}
        assert (await client.post("/v1/workflows", json=body)).status_code == 200
        assert team.team_id


@pytest.mark.parametrize("text", ["Greeter \ud800", "Greeter \udfff!", "Nul\x00"])
async def test_bad_text_in_a_name_is_a_422_naming_the_field(team: Team, text: str):
    response = await post_raw(team, "/v1/workflows", json.dumps(greeter(text)))
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["code"] == "invalid_text"
    assert error["errors"][0]["field"] == "name"
    assert await workflow_count(team) == 0


async def test_a_surrogate_pair_is_fine(team: Team):
    response = await team.client.post("/v1/workflows", json=greeter("Greeter 😀"))
    assert response.status_code == 200, response.text
    assert response.json()["workflow"]["name"] == "Greeter 😀"


async def test_a_lone_surrogate_in_a_key_is_a_422(team: Team):
    text = json.dumps(greeter())[:-1] + ', "\\ud800": 1}'
    response = await post_raw(team, "/v1/workflows", text)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_text"
    assert response.json()["errors"][0]["field"] == "\\ud800"


async def _started_run(team: Team) -> tuple[str, str]:
    created = await team.client.post("/v1/workflows", json=greeter())
    workflow_id = created.json()["workflow"]["_id"]
    run = await team.client.post(
        f"/v1/workflows/{workflow_id}/execute", json={"run_input": START}
    )
    assert run.status_code == 200, run.text
    return workflow_id, run.json()["run_id"]


async def test_a_lone_surrogate_in_run_input_and_message_is_a_422_and_the_run_is_kept(
    team: Team,
):
    workflow_id, run_id = await _started_run(team)
    before = (await team.client.get(f"/v1/workflow-runs/{run_id}")).json()
    message = {"type": "human", "content": "I need \ud83d an appointment"}
    data = {
        "command": "data",
        "thread_to_node_inputs": {
            "0": {"node_run_inputs": [{"type": "llm", "messages": [message]}]}
        },
    }
    url = f"/v1/workflows/{workflow_id}/execute"
    body = json.dumps({"run_id": run_id, "run_input": data})
    response = await post_raw(team, url, body)
    assert response.status_code == 422, response.text
    field = response.json()["errors"][0]["field"]
    assert field.endswith("messages.0.content")
    start = {**START, "dynamic_variables": {"name": "Ann \udc00"}}
    response = await post_raw(team, url, json.dumps({"run_input": start}))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "run_input.dynamic_variables.name"
    after = (await team.client.get(f"/v1/workflow-runs/{run_id}")).json()
    assert after == before
    runs = (await team.client.get("/v1/workflow-runs")).json()
    assert runs["total"] == 1


@pytest.mark.parametrize(
    "expression",
    [
        "(" * 1000 + "true" + ")" * 1000,
        "NOT " * 1000 + "true",
        "isPresent(" * 400 + "[[x]]" + ")" * 400,
    ],
)
async def test_a_condition_expression_nested_too_deep_is_a_400_naming_the_edge(
    team: Team, expression: str
):
    body = greeter()
    body["edge_configs"][0] |= {
        "type": "conditional",
        "condition": {"condition_expression": expression},
    }
    response = await team.client.post("/v1/workflows", json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == "workflow_invalid"
    assert "nested deeper than" in error["message"]
    assert "edge_hi" in json.dumps(error["errors"])
    assert await workflow_count(team) == 0


__all__ = ["make_app", "teardown_turns"]  # fixtures used here


@pytest.mark.usefixtures("teardown_turns")
async def test_bad_frames_on_the_websocket_close_it_1007_naming_the_field(
    make_app: Callable[[Any], FastAPI], store: Store, settings: Settings
):
    app = make_app(ScriptedLLM())
    team = await team_on(app, store, settings)
    frames = [
        json.dumps({**START, "dynamic_variables": {"name": "\ud800"}}),
        json.dumps({**START, "dynamic_variables": nested(100)}),
        json.dumps({**START, "dynamic_variables": {"n": 10**30}}),
    ]
    for frame in frames:
        async with socket(app, team) as ws:
            await ws.send(frame)
            closed = await ws.closed()
            assert closed.code == 1007, closed
            assert "dynamic_variables" in closed.reason
            assert len(closed.reason.encode()) <= 123
    assert (await team.client.get("/v1/workflow-runs")).json()["total"] == 0


async def test_a_graph_part_of_the_wrong_type_is_a_422_naming_it(team: Team):
    cases = [
        ({"name": "W", "node_configs": 3}, "node_configs"),
        ({"name": "W", "node_configs": "abc"}, "node_configs"),
        ({"name": "W", "node_configs": [], "edge_configs": {}}, "edge_configs"),
        (
            {"name": "W", "node_configs": [], "dynamic_variables": 3},
            "dynamic_variables",
        ),
        ({"name": "W", "config": {"node_configs": 3}}, "config.node_configs"),
    ]
    for body, field in cases:
        response = await team.client.post("/v1/workflows", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["message"].startswith(f"{field}:")
    assert (await team.client.get("/v1/workflows")).json()["total"] == 0


async def test_a_run_id_with_a_trailing_newline_is_refused_naming_the_field(team: Team):
    workflow_id, run_id = await _started_run(team)
    before = (await team.client.get(f"/v1/workflow-runs/{run_id}")).json()
    data = {"command": "data", "thread_to_node_inputs": {"0": {"node_run_inputs": []}}}
    response = await team.client.post(
        f"/v1/workflows/{workflow_id}/execute",
        json={"run_id": run_id + "\n", "run_input": data},
    )
    assert response.status_code == 422, response.text
    assert "run_id" in response.text
    after = (await team.client.get(f"/v1/workflow-runs/{run_id}")).json()
    assert after == before
