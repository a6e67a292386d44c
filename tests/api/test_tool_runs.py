"""Tool test-execution: saved and inline tools, failures as data, the confirm rule."""

import json
from typing import Any

import httpx

from tests.api.conftest import Team
from threadline.service.definitions.tool_runs import side_effect_of
from threadline.service.runtime import Runtime

RESULT_KEYS = {
    "success",
    "result",
    "error",
    "latency_ms",
    "error_type",
    "error_code",
    "dry_run",
    "side_effect",
}


def inbuilt(tool_id: str, **extra: Any) -> dict[str, Any]:
    return {"type": "inbuilt_function", "tool_id": tool_id, "name": tool_id, **extra}


async def save_tool(team: Team, config: dict[str, Any]) -> str:
    response = await team.client.post("/v1/tools", json=config)
    assert response.status_code == 200, response.text
    return str(response.json()["tool"]["_id"])


async def run_saved(team: Team, tool_id: str, body: Any) -> dict[str, Any]:
    response = await team.client.post(f"/v1/tools/{tool_id}/execute", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert set(result) >= RESULT_KEYS
    return result


async def run_inline(team: Team, body: Any) -> dict[str, Any]:
    response = await team.client.post("/v1/tools/execute", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert set(result) >= RESULT_KEYS
    return result


async def test_a_saved_inbuilt_tool_runs_and_returns_its_result(team: Team):
    tool_id = await save_tool(team, inbuilt("math_add"))
    result = await run_saved(team, tool_id, {"args": {"a": 2, "b": 3.5}})
    assert result["success"] is True and result["result"] == 5.5
    assert result["error"] is None and result["error_type"] is None
    assert result["dry_run"] is False and result["side_effect"] == "none"
    assert result["latency_ms"] >= 0


async def test_a_tool_failure_is_success_false_not_an_http_error(team: Team):
    tool_id = await save_tool(team, inbuilt("math_divide"))
    result = await run_saved(team, tool_id, {"args": {"a": 1, "b": 0}})
    assert result["success"] is False and result["result"] is None
    assert "division by zero" in result["error"]
    assert result["error_type"] == "runtime_error" and result["error_code"] is None
    missing = await run_saved(team, tool_id, {"args": {"a": 1}})
    assert missing["success"] is False
    assert missing["error_type"] == "invalid_arguments"


async def test_variable_bindings_and_result_mappings_apply(team: Team):
    config = inbuilt(
        "math_multiply",
        variable_arguments=[
            {"argument_name": "b", "source": "dynamic", "variable_path": "factor"}
        ],
        result_variable_mappings=[
            {"target_variable_name": "product", "scope": "workflow"}
        ],
    )
    result = await run_inline(
        team,
        {
            "tool_config": config,
            "args": {"a": 4},
            "dynamic_variables": {"factor": 2.5},
        },
    )
    assert result["success"] is True and result["result"] == 10.0
    assert result["workflow_variables"] == {"product": 10.0}


async def test_another_teams_tool_is_not_found(team: Team, other_team: Team):
    foreign = await save_tool(other_team, inbuilt("math_add"))
    response = await team.client.post(
        f"/v1/tools/{foreign}/execute", json={"args": {"a": 1, "b": 2}}
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    missing = await team.client.post(
        "/v1/tools/000000000000000000000000/execute", json={"args": {}}
    )
    assert missing.status_code == 404


async def test_an_invalid_inline_config_or_body_is_422(team: Team):
    bad_binding = {
        "tool_config": inbuilt(
            "math_add",
            variable_arguments=[{"argument_name": "a", "source": "runtime"}],
        ),
        "args": {},
    }
    response = await team.client.post("/v1/tools/execute", json=bad_binding)
    assert response.status_code == 422, response.text
    assert "tool_config" in response.json()["message"]
    bodies: list[dict[str, Any]] = [
        {"args": {}},
        {"tool_config": inbuilt("math_add"), "args": [1, 2]},
        {"tool_config": inbuilt("math_add"), "confirm": "yes"},
        {"tool_config": inbuilt("math_add"), "argz": {}},
    ]
    for body in bodies:
        response = await team.client.post("/v1/tools/execute", json=body)
        assert response.status_code == 422, (body, response.text)


async def test_inline_python_runs_in_the_sandbox_without_confirmation(team: Team):
    config = {
        "type": "inline_python",
        "name": "greet",
        "code": "def greet(name):\n    return {'greeting': 'Hi ' + name.upper()}\n",
    }
    ran = await run_inline(team, {"tool_config": config, "args": {"name": "ann"}})
    assert ran["dry_run"] is False and ran["success"] is True, ran
    assert ran["side_effect"] == "unknown"
    assert ran["result"] == {"greeting": "Hi ANN"}
    assert isinstance(ran["latency_ms"], int)


async def test_a_tool_asking_for_the_gate_runs_only_when_confirmed(team: Team):
    config = {
        "type": "inline_python",
        "name": "greet",
        "confirm_test_runs": True,
        "code": "def greet(name):\n    return {'greeting': 'Hi ' + name.upper()}\n",
        "expand_result_into_runtime_variables": True,
    }
    dry = await run_inline(team, {"tool_config": config, "args": {"name": "ann"}})
    assert dry["dry_run"] is True and dry["success"] is False
    assert dry["side_effect"] == "unknown"
    assert dry["error_type"] == "confirmation_required"
    assert '"confirm": true' in dry["error"]
    assert "confirm_test_runs" in dry["error"]
    assert dry["result"]["args"] == {"name": "ann"}
    ran = await run_inline(
        team, {"tool_config": config, "args": {"name": "ann"}, "confirm": True}
    )
    assert ran["dry_run"] is False and ran["success"] is True, ran
    assert ran["result"] == {"greeting": "Hi ANN"}
    assert ran["variables"] == {"greeting": "Hi ANN"}
    escape = {
        "type": "inline_python",
        "name": "peek",
        "code": "def peek():\n    import os\n    return os.listdir('/')\n",
    }
    blocked = await run_inline(team, {"tool_config": escape, "confirm": True})
    assert blocked["success"] is False and blocked["error_type"] == "forbidden"


async def test_a_declared_side_effect_wins_over_the_inferred_one(team: Team):
    pure = {
        "type": "inline_python",
        "name": "twice",
        "side_effect": "none",
        "code": "def twice(x):\n    return x * 2\n",
    }
    result = await run_inline(team, {"tool_config": pure, "args": {"x": 21}})
    assert result["dry_run"] is False and result["result"] == 42
    sends = inbuilt("math_add", side_effect="sends", confirm_test_runs=True)
    tool_id = await save_tool(team, sends)
    dry = await run_saved(team, tool_id, {"args": {"a": 1, "b": 2}})
    assert dry["dry_run"] is True and dry["side_effect"] == "sends"


async def test_external_api_posts_only_when_confirmed_if_gated(
    team: Team, runtime: Runtime
):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/down":
            return httpx.Response(503, json={"error": "maintenance"})
        return httpx.Response(200, json={"id": 7, "echo": json.loads(request.content)})

    runtime.http_transport = httpx.MockTransport(handler)
    runtime.http_allow_private = True
    config = {
        "type": "external_api",
        "name": "create_ticket",
        "api_endpoint": "http://crm.example.test/tickets",
        "api_method": "POST",
        "api_body": {"subject": "{subject}"},
        "confirm_test_runs": True,
    }
    tool_id = await save_tool(team, config)
    dry = await run_saved(team, tool_id, {"args": {"subject": "Refund"}})
    assert dry["dry_run"] is True and dry["side_effect"] == "writes"
    assert dry["result"]["api_method"] == "POST"
    assert seen == []
    posted = await run_saved(
        team, tool_id, {"args": {"subject": "Refund"}, "confirm": True}
    )
    assert posted["success"] is True and posted["dry_run"] is False
    assert posted["result"] == {"id": 7, "echo": {"subject": "Refund"}}
    assert len(seen) == 1 and seen[0].method == "POST"
    down = {**config, "api_endpoint": "http://crm.example.test/down"}
    failed = await run_inline(
        team, {"tool_config": down, "args": {"subject": "x"}, "confirm": True}
    )
    assert failed["success"] is False and failed["error_type"] == "http_error"
    assert failed["error_code"] == "http_503"
    get = {**config, "api_method": "GET", "api_body": None}
    read = await run_inline(team, {"tool_config": get})
    assert read["side_effect"] == "reads" and read["dry_run"] is False


def test_side_effects_are_inferred_from_the_type():
    assert side_effect_of({"type": "inbuilt_function", "tool_id": "math_add"}) == "none"
    assert (
        side_effect_of({"type": "inbuilt_function", "configurable_key": "call_forward"})
        == "sends"
    )
    assert side_effect_of({"type": "knowledge_base"}) == "reads"
    assert side_effect_of({"type": "external_api"}) == "reads"
    assert side_effect_of({"type": "external_api", "api_method": "DELETE"}) == "writes"
    assert side_effect_of({"type": "inline_python"}) == "unknown"
    assert side_effect_of({"type": "mystery"}) == "unknown"


async def test_execute_needs_an_api_key(app_client: httpx.AsyncClient):
    response = await app_client.post(
        "/v1/tools/execute", json={"tool_config": inbuilt("math_add")}
    )
    assert response.status_code == 401


async def test_a_saved_tool_runs_without_a_body(team: Team):
    tool_id = await save_tool(team, inbuilt("text_length"))
    response = await team.client.post(f"/v1/tools/{tool_id}/execute")
    assert response.status_code == 200, response.text
    assert response.json()["error_type"] == "invalid_arguments"


async def test_an_ungated_post_runs_at_once(team: Team, runtime: Runtime):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": 9})

    runtime.http_transport = httpx.MockTransport(handler)
    runtime.http_allow_private = True
    config = {
        "type": "external_api",
        "name": "create_ticket",
        "api_endpoint": "http://crm.example.test/tickets",
        "api_method": "POST",
        "api_body": {"subject": "{subject}"},
    }
    ran = await run_inline(team, {"tool_config": config, "args": {"subject": "x"}})
    assert ran["success"] is True and ran["dry_run"] is False
    assert ran["side_effect"] == "writes" and len(seen) == 1


async def test_a_bad_gate_value_is_refused_naming_it(team: Team):
    config = inbuilt("math_add", confirm_test_runs={"no": 1})
    response = await team.client.post("/v1/tools", json=config)
    assert response.status_code == 422 and "confirm_test_runs" in response.text
    assert (await team.client.get("/v1/tools")).json()["total"] == 0
