"""Node configs: every type validates from a minimal dict and dumps its defaults."""

from typing import Any

import pytest
from pydantic import ValidationError

from threadline.config import (
    DEFAULT_LLM_NODE_ERROR_MESSAGE,
    NODE_TYPES,
    NodeType,
    SayLLMNodeConfig,
    ToolNodeConfig,
    UnknownNodeConfig,
    dump,
    parse_node,
)

# A few characteristic defaults per type, as stored by Interactly.
EXPECTED_DEFAULTS: dict[str, dict[str, Any]] = {
    "say_llm": {
        "self_loop": True,
        "wait_for_user_message": True,
        "max_consecutive_tool_calls": 1,
        "default_error_message": DEFAULT_LLM_NODE_ERROR_MESSAGE,
        "primary_category": "System",
        "secondary_category": "LLM",
        "use_mcp_tools": False,
    },
    "worker_llm": {"self_loop": False, "wait_for_user_message": True},
    "workflow_run_evaluator": {
        "self_loop": False,
        "wait_for_user_message": False,
        "default_error_message": None,
        "input_runtime_variable_name": "workflow_run_object",
        "secondary_category": "Evaluation",
    },
    "super_node": {"override_llm_config": False, "field_values": {}},
    "say_static": {
        "static_messages_config": None,
        "secondary_category": "Static Message",
    },
    "tool_node": {"tool_arguments": {}, "result_runtime_variable_name": "tool_result"},
    "workflow_run_fetch": {"workflow_run_id": "{{workflow_run_id}}"},
    "start_conversation": {"is_outbound_call": True, "polling_interval_seconds": 2},
    "end_conversation": {"process_transcript_prompt": None},
    "send_sms": {"primary_category": "Communications", "secondary_category": "SMS"},
    "google_docs": {"credentials": None, "operate_document": None},
    "http_request": {
        "method": "GET",
        "timeout": 30,
        "body_content_type": "application/json",
        "response_format": "json",
        "result_runtime_variable_name": "http_request_result",
    },
    "athena_patients_search": {"timezone": "America/New_York", "use_cases": []},
    "athena_patients_update": {"gender": "Male", "notes_action": "append"},
    "athena_patients_create": {"gender": "Male"},
    "athena_appointments_create": {"duration_in_minutes": 15},
    "deduplicate": {"output_runtime_variable_name": "deduplicate_result"},
    "field_extractor": {"keys_to_retain": []},
    "no_op": {"output_runtime_variable_name": "no_op_result", "delay_seconds": 0.0},
}


def test_catalogue_has_all_19_types() -> None:
    assert set(NODE_TYPES) == {t.value for t in NodeType} == set(EXPECTED_DEFAULTS)
    assert len(NODE_TYPES) == 19


@pytest.mark.parametrize("node_type", sorted(EXPECTED_DEFAULTS))
def test_minimal_node_validates_and_dumps_defaults(node_type: str) -> None:
    node = parse_node({"type": node_type, "name": "n"})
    assert type(node) is NODE_TYPES[node_type].model
    data = dump(node)
    assert data["type"] == node_type
    assert data["logical_id"].startswith("node_")
    assert data["is_start"] is False
    assert data["disabled"] is False
    assert data["version_number"] == 0
    for key, value in EXPECTED_DEFAULTS[node_type].items():
        assert data[key] == value, key
    # A dump parses back to the same dump.
    assert dump(parse_node(data)) == data


@pytest.mark.parametrize("node_type", sorted(EXPECTED_DEFAULTS))
def test_node_types_table_matches_model_defaults(node_type: str) -> None:
    info = NODE_TYPES[node_type]
    data = dump(info.model())
    assert (data["primary_category"], data["secondary_category"]) == (
        info.primary_category,
        info.secondary_category,
    )
    assert info.primary_category


def test_llm_node_defaults_to_workflow_default_llm() -> None:
    data = dump(SayLLMNodeConfig())
    assert data["llms_config"]["type"] == "global_default_llm"
    assert data["llms_config"]["provider"] == "default_provider"
    assert data["llms_config"]["max_retries"] == 3


def test_unknown_node_type_round_trips_unchanged() -> None:
    raw = {
        "type": "ecw_patients_search",
        "logical_id": "node_x",
        "name": "Future",
        "vendor_settings": {"region": "us", "ids": [1, 2]},
    }
    node = parse_node(raw)
    assert isinstance(node, UnknownNodeConfig)
    assert node.name == "Future"
    assert dump(node) == raw


def test_unknown_fields_on_known_node_are_kept() -> None:
    raw = {
        "type": "say_llm",
        "max_turns": 4,
        "main_response_config": {"prompt": "Hi", "x": 1},
    }
    data = dump(parse_node(raw))
    assert data["max_turns"] == 4
    assert data["main_response_config"] == {"prompt": "Hi", "x": 1}


def test_node_without_type_is_rejected() -> None:
    with pytest.raises(ValidationError):
        parse_node({"name": "no type"})


def test_known_type_with_bad_field_is_rejected_not_swallowed() -> None:
    with pytest.raises(ValidationError):
        parse_node({"type": "http_request", "timeout": 301})


def test_self_loop_config_needs_a_bound_when_enabled() -> None:
    with pytest.raises(ValidationError, match="max_retries or expiry_time"):
        parse_node({"type": "no_op", "self_loop_config": {"enabled": True}})
    node = parse_node(
        {"type": "no_op", "self_loop_config": {"enabled": True, "max_retries": 2}}
    )
    assert dump(node)["self_loop_config"]["time_between_retries"] == 0


def test_global_node_config_defaults() -> None:
    node = parse_node(
        {
            "type": "say_llm",
            "global_node_config": {
                "is_global": True,
                "condition": {"condition_freeform": "asks for a human"},
            },
        }
    )
    glob = dump(node)["global_node_config"]
    assert glob["global_condition_edge_evaluation_method"] == "workflow_default"
    assert glob["condition"]["condition_freeform"] == "asks for a human"


def test_tool_node_holds_a_typed_tool_and_checks_outcome_keys() -> None:
    node = parse_node(
        {
            "type": "tool_node",
            "tool_config": {"type": "inline_python", "code": "def f(): ..."},
        }
    )
    assert isinstance(node, ToolNodeConfig)
    assert dump(node)["tool_config"]["allow_code_variable_substitution"] is True
    bad = {
        "type": "tool_node",
        "result_runtime_variable_name": "score",
        "tool_config": {
            "type": "inline_python",
            "result_variable_mappings": [{"target_variable_name": "score_success"}],
        },
    }
    with pytest.raises(ValidationError, match="reserved"):
        parse_node(bad)


def test_google_docs_operations_are_typed() -> None:
    node = parse_node(
        {
            "type": "google_docs",
            "credentials": {"type": "google_workspace_api_key", "api_key": "k"},
            "operate_document": {
                "type": "google_docs_update_document",
                "updates": {"type": "google_docs_update_with_text", "content": "hello"},
            },
        }
    )
    data = dump(node)
    assert data["operate_document"]["updates"]["insert_index"] is None
    assert data["credentials"] == {"type": "google_workspace_api_key", "api_key": "k"}
