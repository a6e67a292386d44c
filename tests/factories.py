"""Tiny builders for test data (no factory library)."""

from typing import Any


def say_node(
    logical_id: str, *, is_start: bool = False, prompt: str = "Be helpful."
) -> dict[str, Any]:
    return {
        "type": "say_llm",
        "logical_id": logical_id,
        "name": logical_id.replace("_", " ").title(),
        "is_start": is_start,
        "main_response_config": {"prompt": prompt},
    }


def moving_say_node(logical_id: str, llms_config: Any) -> dict[str, Any]:
    """A ``say_llm`` node on ``llms_config`` that speaks and moves on (it waits
    for no user message and does not loop on itself)."""
    return {
        "type": "say_llm",
        "logical_id": logical_id,
        "name": logical_id,
        "wait_for_user_message": False,
        "self_loop": False,
        "llms_config": llms_config,
        "main_response_config": {"prompt": "Answer briefly."},
    }


def static_node(
    logical_id: str, message: str, *, is_start: bool = False
) -> dict[str, Any]:
    return {
        "type": "say_static",
        "logical_id": logical_id,
        "name": logical_id,
        "is_start": is_start,
        "static_messages_config": {"static_messages": [message]},
    }


def edge(
    logical_id: str, source: str, destination: str, **extra: Any
) -> dict[str, Any]:
    return {
        "logical_id": logical_id,
        "name": logical_id,
        "source_node_logical_id": source,
        "destination_node_logical_id": destination,
        **extra,
    }


def hydrated_workflow(name: str = "Clinic Assistant") -> dict[str, Any]:
    """A three-node greeting -> assistant -> goodbye workflow."""
    return {
        "name": name,
        "description": "Greets, helps, says goodbye",
        "workflow_config": {
            "name": name,
            "category": "User Created",
            "miscellaneous": {"default_dynamic_variables": {"clinic": "Northside"}},
        },
        "node_configs": [
            static_node("node_greet", "Welcome to {{clinic}}!", is_start=True),
            say_node("node_assist", prompt="Help {{patient_name}} with [[topic]]."),
            static_node("node_bye", "Goodbye!"),
        ],
        "edge_configs": [
            edge("edge_greet_assist", "node_greet", "node_assist"),
            edge(
                "edge_assist_bye",
                "node_assist",
                "node_bye",
                type="conditional",
                condition={
                    "condition_freeform": "The user wants to end the conversation"
                },
            ),
        ],
    }
