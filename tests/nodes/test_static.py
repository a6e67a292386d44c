from tests.nodes.helpers import JsonDict, make_ports, make_task
from threadline.nodes.static import execute_say_static


def static_node(messages: list[str], mode: str = "random") -> JsonDict:
    return {
        "type": "say_static",
        "static_messages_config": {
            "static_messages": messages,
            "static_messages_selection_mode": mode,
        },
    }


async def test_say_static_speaks_the_rendered_message() -> None:
    task = make_task(
        static_node(["Bye {{name}}, ref [[ref]]"]),
        dynamic={"name": "Ann"},
        runtime={"ref": 42},
    )
    result = await execute_say_static(task, make_ports())
    assert result.events == [
        {"type": "say_static", "message": "Bye Ann, ref 42"},
        {
            "type": "assistant_response",
            "content": "Bye Ann, ref 42",
            "response_metadata": {"message_type": "static"},
            "llm_usage_info": None,
        },
    ]
    assert result.history == [{"type": "ai", "content": "Bye Ann, ref 42"}]
    assert result.error is None


async def test_sequence_mode_cycles_by_node_run_id() -> None:
    node = static_node(["one", "two", "three"], "sequence")
    spoken = []
    for run_id in range(1, 5):
        result = await execute_say_static(
            make_task(node, node_run_id=run_id), make_ports()
        )
        spoken.append(result.history[0]["content"])
    assert spoken == ["one", "two", "three", "one"]


async def test_random_mode_is_stable_for_a_replayed_run() -> None:
    node = static_node([f"m{i}" for i in range(20)])
    first = await execute_say_static(make_task(node, node_run_id=3), make_ports())
    again = await execute_say_static(make_task(node, node_run_id=3), make_ports())
    assert first.events == again.events


async def test_random_mode_varies_across_runs() -> None:
    node = static_node([f"m{i}" for i in range(20)])
    spoken = set()
    for run_id in range(1, 11):
        result = await execute_say_static(
            make_task(node, node_run_id=run_id), make_ports()
        )
        spoken.add(result.history[0]["content"])
    assert len(spoken) > 1


async def test_no_messages_warns_and_says_nothing() -> None:
    result = await execute_say_static(make_task(static_node([])), make_ports())
    assert result.history == []
    assert [e["type"] for e in result.events] == ["workflow_warning"]
    assert "no static_messages" in result.events[0]["warning_message"]
    assert result.error is None
