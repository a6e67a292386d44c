"""A workflow naming inbuilt functions that do not exist is saved, with warnings."""

from typing import Any

from tests.api.conftest import Team
from tests.factories import say_node
from threadline.service.definitions.references import Known, reference_warnings


def _workflow(tools: list[dict[str, Any]]) -> dict[str, Any]:
    node = say_node("node_chat", is_start=True)
    node["tools_config"] = {"tools": tools}
    return {
        "name": "Uses tools",
        "node_configs": [
            node,
            {
                "type": "tool_node",
                "logical_id": "node_tool",
                "tool_config": {"type": "inbuilt_function", "tool_id": "math_ad"},
            },
        ],
        "edge_configs": [],
    }


async def test_unknown_inbuilt_ids_warn_naming_node_and_field(team: Team):
    tools = [
        {"type": "inbuilt_function", "tool_id": "web_serch"},
        {"type": "inbuilt_function", "tool_id": "math_add"},
        {"type": "inbuilt_function", "configurable_key": "call_fwd"},
    ]
    response = await team.client.post("/v1/workflows", json=_workflow(tools))
    assert response.status_code == 200, response.text
    found = {
        (w["node_logical_id"], w["field"], w["code"])
        for w in response.json()["warnings"]
        if w["code"].startswith("unknown_")
    }
    assert found == {
        ("node_chat", "tools_config.tools.0.tool_id", "unknown_inbuilt_tool"),
        (
            "node_chat",
            "tools_config.tools.2.configurable_key",
            "unknown_configurable_inbuilt_tool",
        ),
        ("node_tool", "tool_config.tool_id", "unknown_inbuilt_tool"),
    }
    message = next(
        w["message"] for w in response.json()["warnings"] if "web_serch" in w["message"]
    )
    assert message.startswith("node_chat: tools_config.tools.0.tool_id 'web_serch'")


async def test_known_ids_and_saved_tool_references_do_not_warn(team: Team):
    tools = [
        {"type": "inbuilt_function", "tool_id": "web_search"},
        {"type": "inbuilt_function", "tool_id": "5eb7cf5a86d9755df3a6c593"},
        {"type": "inbuilt_function", "configurable_key": "call_forward"},
    ]
    body = _workflow(tools)
    body["node_configs"][1]["tool_config"]["tool_id"] = "math_add"
    response = await team.client.post("/v1/workflows", json=body)
    assert not [
        w for w in response.json()["warnings"] if w["code"].startswith("unknown")
    ]


async def test_updating_a_version_config_answers_its_warnings(team: Team):
    created = (await team.client.post("/v1/workflows", json=_workflow([]))).json()
    wid = created["workflow"]["_id"]
    body = _workflow([{"type": "inbuilt_function", "tool_id": "nope"}])
    response = await team.client.patch(
        f"/v1/workflows/{wid}/versions/0/config", json={"config": body}
    )
    assert response.status_code == 200, response.text
    fields = {w["field"] for w in response.json()["warnings"]}
    assert {"tools_config.tools.0.tool_id", "tool_config.tool_id"} <= fields


def test_knowledge_base_ids_warn_only_when_the_team_list_is_known():
    hydrated = {
        "node_configs": [
            {
                "logical_id": "node_kb",
                "tool_config": {
                    "type": "knowledge_base",
                    "target_knowledge_base_ids": ["kb1", "kb2"],
                },
            }
        ]
    }
    assert reference_warnings(hydrated) == []
    warned = reference_warnings(hydrated, Known(knowledge_base_ids=frozenset({"kb1"})))
    assert [w["field"] for w in warned] == ["tool_config.target_knowledge_base_ids.1"]
