"""Edges, tools and LLM configs: discriminated unions with lenient fallbacks."""

import pytest
from pydantic import ValidationError

from threadline.config import (
    AnthropicLLMConfig,
    ConditionalEdgeConfig,
    CustomLLMConfig,
    DirectEdgeConfig,
    ExternalAPIToolConfig,
    KnowledgeBaseToolConfig,
    LLMGroupConfig,
    LLMGroupWithBackchannelConfig,
    NoLLMConfig,
    OpenAILLMConfig,
    UnknownEdgeConfig,
    UnknownToolConfig,
    UnknownTyped,
    dump,
    is_companion_edge,
    parse_edge,
    parse_llm_config,
    parse_tool,
)

# --- edges --------------------------------------------------------------------------


def test_edge_type_defaults_to_direct() -> None:
    edge = parse_edge(
        {"source_node_logical_id": "node_a", "destination_node_logical_id": "node_b"}
    )
    assert isinstance(edge, DirectEdgeConfig)
    data = dump(edge)
    assert data["type"] == "direct"
    assert data["logical_id"].startswith("edge_")
    assert data["companion_thread_config"] is None


def test_direct_edge_companion_thread() -> None:
    edge = parse_edge(
        {"companion_thread_config": {"is_companion_thread": True, "thread_id": "bg"}}
    )
    assert is_companion_edge(edge)
    assert not is_companion_edge(parse_edge({}))


def test_conditional_edge_keeps_condition_and_waiting_config() -> None:
    raw = {
        "type": "conditional",
        "source_node_logical_id": "node_a",
        "destination_node_logical_id": "node_b",
        "condition": {
            "condition_expression": "[[verified]] == true",
            "static_messages_config": {"static_messages": ["One moment"]},
        },
        "evaluate_while_waiting_config": {
            "enabled": True,
            "trigger_node_logical_ids": ["node_c"],
        },
    }
    edge = parse_edge(raw)
    assert isinstance(edge, ConditionalEdgeConfig)
    data = dump(edge)
    assert data["condition"]["condition_expression"] == "[[verified]] == true"
    assert data["condition"]["static_messages_config"] == {
        "static_messages": ["One moment"],
        "static_messages_selection_mode": "random",
    }
    waiting = data["evaluate_while_waiting_config"]
    assert waiting["trigger_mode"] == "on_node_completion"
    assert waiting["max_transitions_per_wait"] == 3
    assert waiting["trigger_node_logical_ids"] == ["node_c"]


def test_waiting_config_bounds() -> None:
    with pytest.raises(ValidationError):
        parse_edge(
            {
                "type": "conditional",
                "evaluate_while_waiting_config": {"max_transitions_per_wait": 0},
            }
        )


def test_unknown_edge_type_round_trips() -> None:
    raw = {"type": "timed", "after_seconds": 30, "source_node_logical_id": "node_a"}
    edge = parse_edge(raw)
    assert isinstance(edge, UnknownEdgeConfig)
    assert dump(edge) == raw


# --- tools --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tool_type", ["inbuilt_function", "inline_python", "external_api", "knowledge_base"]
)
def test_each_tool_type_validates(tool_type: str) -> None:
    data = dump(parse_tool({"type": tool_type, "name": "t"}))
    assert data["type"] == tool_type
    assert data["logical_id"].startswith("tool_")
    assert data["variable_arguments"] == []


def test_knowledge_base_defaults() -> None:
    tool = parse_tool({"type": "knowledge_base"})
    assert isinstance(tool, KnowledgeBaseToolConfig)
    assert tool.result_runtime_variable_name == "kb_tool_result"
    assert tool.category == "Knowledge Base"


def test_side_effect_is_an_enum() -> None:
    assert (
        dump(parse_tool({"type": "inline_python", "side_effect": "writes"}))[
            "side_effect"
        ]
        == "writes"
    )
    with pytest.raises(ValidationError):
        parse_tool({"type": "inline_python", "side_effect": "explodes"})


def test_external_api_body_string_is_parsed_and_bindings_checked() -> None:
    tool = parse_tool(
        {
            "type": "external_api",
            "api_endpoint": "https://x.test/patients/{patient_id}",
            "api_body": '{"a": 1}',
            "variable_arguments": [
                {"argument_name": "patient_id", "variable_path": "patient.id"}
            ],
        }
    )
    assert isinstance(tool, ExternalAPIToolConfig)
    assert tool.api_body == {"a": 1}
    with pytest.raises(ValidationError, match="placeholder"):
        parse_tool(
            {
                "type": "external_api",
                "api_endpoint": "https://x.test",
                "variable_arguments": [{"argument_name": "nope", "variable_path": "x"}],
            }
        )


def test_variable_argument_rules() -> None:
    with pytest.raises(ValidationError, match="variable_path"):
        parse_tool(
            {"type": "inline_python", "variable_arguments": [{"argument_name": "a"}]}
        )
    with pytest.raises(ValidationError, match="identifier"):
        parse_tool(
            {
                "type": "inline_python",
                "variable_arguments": [{"argument_name": "class", "source": "literal"}],
            }
        )
    with pytest.raises(ValidationError, match="only bind 'query'"):
        parse_tool(
            {
                "type": "knowledge_base",
                "variable_arguments": [{"argument_name": "kb", "source": "literal"}],
            }
        )


def test_result_mapping_rules() -> None:
    with pytest.raises(ValidationError, match="reserved"):
        parse_tool(
            {
                "type": "inline_python",
                "result_variable_mappings": [{"target_variable_name": "_x"}],
            }
        )
    with pytest.raises(ValidationError, match="reserved"):
        parse_tool(
            {
                "type": "inline_python",
                "result_variable_mappings": [
                    {"target_variable_name": "tool_result_error"}
                ],
            }
        )


def test_unknown_tool_type_round_trips() -> None:
    raw = {"type": "mcp_proxy", "name": "x", "server": "s"}
    tool = parse_tool(raw)
    assert isinstance(tool, UnknownToolConfig)
    assert dump(tool) == raw


# --- LLM configs --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("llm_type", "provider"),
    [
        ("azure_openai_llm", "azure_openai"),
        ("openai_llm", "openai"),
        ("google_llm", "google"),
        ("anthropic_llm", "anthropic"),
        ("bedrock_llm", "bedrock"),
        ("custom_llm", "custom"),
        ("global_default_llm", "default_provider"),
        ("no_llm", "default_provider"),
    ],
)
def test_llm_union_picks_by_type(llm_type: str, provider: str) -> None:
    data = dump(parse_llm_config({"type": llm_type}))
    assert data["type"] == llm_type
    assert data["provider"] == provider
    assert data["max_retries"] == 3
    assert data["max_parse_retries"] == 3
    assert data["streaming"] is False
    assert data["model_kwargs"] == {}
    assert data["do_not_split_sentences"] is False


def test_llm_model_defaults() -> None:
    assert OpenAILLMConfig().model == "gpt-5.4-mini"
    assert OpenAILLMConfig().reasoning_effort == "low"
    assert AnthropicLLMConfig().thinking_budget == 0
    assert NoLLMConfig().type == "no_llm"


def test_unknown_llm_provider_is_kept() -> None:
    raw = {
        "type": "mistral_llm",
        "provider": "mistral",
        "model": "large-3",
        "temperature": 0.2,
    }
    llm = parse_llm_config(raw)
    assert isinstance(llm, UnknownTyped)
    assert dump(llm) == raw


def test_newer_model_name_still_loads() -> None:
    llm = parse_llm_config({"type": "openai_llm", "model": "gpt-7-preview"})
    assert isinstance(llm, OpenAILLMConfig)
    assert llm.model == "gpt-7-preview"


def test_api_key_is_masked_in_repr_but_round_trips() -> None:
    llm = parse_llm_config({"type": "anthropic_llm", "api_key": "sk-secret"})
    assert "sk-secret" not in repr(llm)
    assert dump(llm)["api_key"] == "sk-secret"


def test_temperature_range() -> None:
    with pytest.raises(ValidationError):
        parse_llm_config({"type": "openai_llm", "temperature": 1.5})


def test_custom_llm_accepts_legacy_okta_auth() -> None:
    llm = parse_llm_config(
        {"type": "custom_llm", "okta_auth": {"integration_id": "i1"}}
    )
    assert isinstance(llm, CustomLLMConfig)
    assert llm.integration_auth is not None
    assert llm.integration_auth.integration_id == "i1"


def test_llm_groups() -> None:
    group = parse_llm_config(
        {
            "type": "llm_group",
            "operation_mode": "parallel_select_one",
            "llms": [
                {"type": "openai_llm"},
                {"type": "google_llm"},
                {"type": "future_llm"},
            ],
        }
    )
    assert isinstance(group, LLMGroupConfig)
    assert [type(m).__name__ for m in group.llms] == [
        "OpenAILLMConfig",
        "GoogleLLMConfig",
        "UnknownTyped",
    ]
    data = dump(group)
    assert data["min_patience_time_ms"] == 1500
    assert data["max_patience_time_ms"] is None
    assert data["llms"][2] == {"type": "future_llm"}

    backchannel = parse_llm_config(
        {
            "type": "llm_group_with_backchannel",
            "main_llm_config": {"llms": [{"type": "openai_llm"}]},
        }
    )
    assert isinstance(backchannel, LLMGroupWithBackchannelConfig)
    data = dump(backchannel)
    assert data["backchannel_min_patience_time_ms"] == 2000
    assert data["backchannel_static_responses_selection_mode"] == "random"
    assert data["main_llm_config"]["operation_mode"] == "sequential_with_proactive"
