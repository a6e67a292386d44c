"""A super node's field_values reference the caller's variables, through the SDK."""

from typing import Any

import pytest

from tests.api.conftest import Team
from tests.api.test_reuse import child_workflow, parent_workflow

interactly = pytest.importorskip("interactly")


async def test_the_guides_field_value_reference_reaches_the_child(
    sdk: Any, team: Team
) -> None:
    child = await child_workflow(team)  # node_a says "child says {{topic}}"
    interface = {
        "field_values": [
            {"name": "topic", "type": "string", "map_to": "dynamic_variable:topic"}
        ]
    }
    await sdk.super_nodes.publish(child, interface=interface)
    parent = await parent_workflow(
        team,
        child,
        super_node_interface=None,
        field_values={"topic": "dynamic_variable:caller_topic"},
    )
    turn = await sdk.runs.execute(parent, dynamic_variables={"caller_topic": "refunds"})
    said = [e["content"] for e in turn.events if e["type"] == "assistant_response"]
    assert "child says refunds" in said
