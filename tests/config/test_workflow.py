"""Workflow configs, the hydrated workflow and its idempotent round trip."""

from typing import Any

from pydantic import SecretStr

from threadline.config import (
    SayLLMNodeConfig,
    SayStaticNodeConfig,
    SuperNodeConfig,
    UnknownNodeConfig,
    WorkerLLMNodeConfig,
    WorkflowConfig,
    WorkflowConfigFullyHydrated,
    dump,
)


def hand_written_workflow() -> dict[str, Any]:
    """A small intake workflow: greet, extract the caller's name, say goodbye."""
    return {
        "workflow_config": {
            "name": "Clinic intake",
            "llms_config": {
                "type": "openai_llm",
                "model": "gpt-4.1-mini",
                "temperature": 0.1,
            },
            "default_prompt_prefix": "You are the front desk of {{clinic_name}}.",
            "miscellaneous": {"consecutive_conditional_edges_max_limit": "3"},
            "guardrail_strikes_config": {"max_guardrail_nodes_before_escalation": 2},
            "mcp_servers": [{"server_url": "https://mcp.example.test/mcp"}],
        },
        "node_configs": [
            {
                "type": "say_llm",
                "logical_id": "node_greet",
                "name": "Greet",
                "is_start": True,
                "main_response_config": {
                    "prompt": "Greet the caller and ask for their name."
                },
            },
            {
                "type": "worker_llm",
                "logical_id": "node_extract",
                "name": "Extract name",
                "wait_for_user_message": False,
                "structured_output_schema": {
                    "name": "Caller",
                    "description": "The caller's details",
                    "input_schema": {
                        "type": "object",
                        "properties": {"full_name": {"type": "string"}},
                    },
                },
            },
            {
                "type": "say_static",
                "logical_id": "node_bye",
                "name": "Goodbye",
                "static_messages_config": {
                    "static_messages": ["Thanks [[full_name]], goodbye!"]
                },
            },
        ],
        "edge_configs": [
            {
                "type": "conditional",
                "logical_id": "edge_named",
                "source_node_logical_id": "node_greet",
                "destination_node_logical_id": "node_extract",
                "condition": {"condition_freeform": "The caller said their name"},
            },
            {
                "logical_id": "edge_done",
                "source_node_logical_id": "node_extract",
                "destination_node_logical_id": "node_bye",
            },
        ],
        "dynamic_variables": {"clinic_name": "Maple Clinic"},
    }


def test_hydrated_workflow_validates_with_typed_members() -> None:
    hydrated = WorkflowConfigFullyHydrated.model_validate(hand_written_workflow())
    kinds = [type(n) for n in hydrated.node_configs]
    assert kinds == [SayLLMNodeConfig, WorkerLLMNodeConfig, SayStaticNodeConfig]
    assert [e.type for e in hydrated.edge_configs] == ["conditional", "direct"]
    assert hydrated.workflow_config is not None
    assert hydrated.workflow_config.llms_config is not None
    assert hydrated.workflow_config.llms_config.type == "openai_llm"


def test_hydrated_workflow_round_trip_is_idempotent() -> None:
    first = dump(WorkflowConfigFullyHydrated.model_validate(hand_written_workflow()))
    second = dump(WorkflowConfigFullyHydrated.model_validate(first))
    assert second == first
    # The dump carries the defaults of the wire contract.
    greet = first["node_configs"][0]
    assert greet["self_loop"] is True
    assert greet["llms_config"]["type"] == "global_default_llm"
    assert first["edge_configs"][1]["type"] == "direct"


def test_unknown_node_inside_workflow_survives() -> None:
    raw = hand_written_workflow()
    raw["node_configs"].append(
        {"type": "ecw_lookup", "logical_id": "node_ecw", "ehr": {"x": 1}}
    )
    hydrated = WorkflowConfigFullyHydrated.model_validate(raw)
    assert isinstance(hydrated.node_configs[-1], UnknownNodeConfig)
    assert dump(hydrated)["node_configs"][-1] == {
        "type": "ecw_lookup",
        "logical_id": "node_ecw",
        "ehr": {"x": 1},
    }


def test_workflow_config_defaults() -> None:
    data = dump(WorkflowConfig())
    assert data["logical_id"].startswith("workflow_")
    assert data["category"] == "User Created"
    assert data["llms_config"]["type"] == "no_llm"
    assert data["global_condition_evaluation_method"] == "tool_call"
    assert data["access_config"] == {"access_level": None, "access_list": None}
    assert data["nodes"] == []
    assert data["edges"] == []
    for key in (
        "evaluation_config",
        "guardrail_strikes_config",
        "tools_config",
        "mcp_servers",
    ):
        assert data[key] is None


def test_misc_flags_accept_strings_and_bools() -> None:
    cfg = WorkflowConfig(
        miscellaneous={"a": "true", "b": False, "c": "OFF", "d": "maybe"}
    )
    assert cfg.misc_flag("a") is True
    assert cfg.misc_flag("b", default=True) is False
    assert cfg.misc_flag("c", default=True) is False
    assert cfg.misc_flag("d", default=True) is True
    assert cfg.misc_flag("missing") is False


def test_secret_variables_never_serialised() -> None:
    raw = hand_written_workflow() | {"secret_variables": {"api_token": "s3cr3t"}}
    hydrated = WorkflowConfigFullyHydrated.model_validate(raw)
    assert hydrated.secret_variables["api_token"].get_secret_value() == "s3cr3t"
    assert "secret_variables" not in dump(hydrated)
    assert "s3cr3t" not in hydrated.model_dump_json()
    assert "s3cr3t" not in repr(hydrated)
    hydrated.secret_variables["other"] = SecretStr("x")
    assert "secret_variables" not in dump(hydrated)


def test_super_node_embeds_a_hydrated_workflow() -> None:
    raw = {
        "type": "super_node",
        "super_workflow_id": "0123456789abcdef01234567",
        "super_node_interface": {
            "input_fields": [
                {
                    "name": "greeting",
                    "mappings": [
                        {
                            "target_type": "dynamic_variable",
                            "target_variable_name": "greeting",
                        }
                    ],
                }
            ]
        },
        "encapsulated_workflow_config": hand_written_workflow(),
    }
    node = SuperNodeConfig.model_validate(raw)
    assert node.encapsulated_workflow_config is not None
    assert isinstance(
        node.encapsulated_workflow_config.node_configs[0], SayLLMNodeConfig
    )
    field = dump(node)["super_node_interface"]["input_fields"][0]
    assert field["required"] is True
    assert field["value_type"] == "any"
