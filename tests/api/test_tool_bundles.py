"""Tool bundles: export redacts secrets, import re-supplies them, guards code."""

from typing import Any

from tests.api.conftest import Team

API_TOOL = {
    "type": "external_api",
    "name": "crm_lookup",
    "api_endpoint": "https://crm.example.test/people",
    "api_method": "GET",
    "api_headers": {
        "Authorization": "Bearer sk-live-123456789",
        "X-Tenant": "{{global.tenant}}",
        "X-Api-Token": "{{global.crm_token}}",
    },
}
CODE_TOOL = {
    "type": "inline_python",
    "name": "twice",
    "code": "def twice(x):\n    return x * 2\n",
}


async def _save(team: Team, config: dict[str, Any]) -> str:
    response = await team.client.post("/v1/tools", json=config)
    assert response.status_code == 200, response.text
    return str(response.json()["tool"]["_id"])


async def _tools(team: Team) -> int:
    return int((await team.client.get("/v1/tools")).json()["total"])


async def test_export_redacts_literal_secrets_and_lists_them(team: Team):
    tool_id = await _save(team, API_TOOL)
    response = await team.client.get(f"/v1/tools/{tool_id}/export")
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["export_format"] == 1 and bundle["tool_type"] == "external_api"
    assert bundle["source_tool_id"] == tool_id
    assert bundle["source_tool_name"] == "crm_lookup"
    assert bundle["redactions"] == ["api_headers.Authorization"]
    headers = bundle["tool_config"]["api_headers"]
    assert headers["Authorization"] == "[REDACTED]"
    assert headers["X-Api-Token"] == "{{global.crm_token}}"
    assert "sk-live" not in response.text


async def test_import_into_another_team_with_the_secret_re_supplied(
    team: Team, other_team: Team
):
    bundle = (
        await team.client.get(f"/v1/tools/{await _save(team, API_TOOL)}/export")
    ).json()
    response = await other_team.client.post(
        "/v1/tools/import",
        json={
            "bundle": bundle,
            "name_override": "their_lookup",
            "secret_overrides": {"api_headers.Authorization": "Bearer theirs-0001"},
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    tool = body["tool"]
    assert tool["team_id"] == other_team.team_id
    assert tool["tool_config"]["name"] == "their_lookup"
    assert body["warnings"] == []
    assert await _tools(other_team) == 1


async def test_a_secret_not_re_supplied_is_removed_with_a_warning(team: Team):
    bundle = (
        await team.client.get(f"/v1/tools/{await _save(team, API_TOOL)}/export")
    ).json()
    body = (await team.client.post("/v1/tools/import", json={"bundle": bundle})).json()
    assert "Authorization" not in body["tool"]["tool_config"]["api_headers"]
    assert "api_headers.Authorization" in body["warnings"][0]


async def test_inline_python_needs_confirm_executable(team: Team):
    bundle = (
        await team.client.get(f"/v1/tools/{await _save(team, CODE_TOOL)}/export")
    ).json()
    refused = await team.client.post("/v1/tools/import", json={"bundle": bundle})
    assert refused.status_code == 422
    assert refused.json()["code"] == "executable_not_confirmed"
    assert "confirm_executable" in refused.json()["message"]
    assert await _tools(team) == 1
    ok = await team.client.post(
        "/v1/tools/import", json={"bundle": bundle, "confirm_executable": True}
    )
    assert ok.status_code == 200 and await _tools(team) == 2


async def test_bad_imports_are_422_naming_the_field_and_store_nothing(team: Team):
    bundle = (
        await team.client.get(f"/v1/tools/{await _save(team, API_TOOL)}/export")
    ).json()
    cases = [
        ({"bundle": "x"}, "bundle"),
        ({"bundle": {**bundle, "export_format": 9}}, "bundle.export_format"),
        ({"bundle": {**bundle, "tool_config": None}}, "bundle.tool_config"),
        (
            {"bundle": bundle, "secret_overrides": {"api_key": "x"}},
            "secret_overrides.api_key",
        ),
        ({"bundle": bundle, "confirm_executable": "yes"}, "confirm_executable"),
        ({"bundle": bundle, "name_override": ""}, "name_override"),
        ({"bundle": bundle, "extra": 1}, "extra"),
        (
            {"bundle": {**bundle, "tool_config": {**API_TOOL, "api_headers": "x"}}},
            "api_headers",
        ),
    ]
    for body, field in cases:
        response = await team.client.post("/v1/tools/import", json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in response.text
    assert await _tools(team) == 1


async def test_another_teams_tool_cannot_be_exported(team: Team, other_team: Team):
    tool_id = await _save(team, API_TOOL)
    response = await other_team.client.get(f"/v1/tools/{tool_id}/export")
    assert response.status_code == 404
