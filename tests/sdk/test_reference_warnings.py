"""Save-time warnings through the SDK: an unknown inbuilt id is named, never blocks."""

from typing import Any

import pytest

interactly = pytest.importorskip("interactly")


async def test_an_unknown_inbuilt_id_is_saved_with_a_warning(sdk: Any):
    body = {
        "name": "Search",
        "node_configs": [
            {
                "type": "say_llm",
                "logical_id": "node_chat",
                "is_start": True,
                "main_response_config": {"prompt": "Help."},
                "tools_config": {
                    "tools": [{"type": "inbuilt_function", "tool_id": "web_serch"}]
                },
            }
        ],
        "edge_configs": [],
    }
    answer = await sdk.post("/v1/workflows", body=body, cast_to=dict)
    warned = [w for w in answer["warnings"] if w["code"] == "unknown_inbuilt_tool"]
    assert [(w["node_logical_id"], w["field"]) for w in warned] == [
        ("node_chat", "tools_config.tools.0.tool_id")
    ]
    saved = await sdk.workflows.get(answer["workflow"]["_id"])
    assert saved.id == answer["workflow"]["_id"]
