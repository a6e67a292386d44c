"""Run inputs, run outputs, workflow runs, statuses and events."""

from datetime import datetime

import pytest

from threadline.config import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    BaseEvent,
    CommentConfig,
    LLMNodeRunInput,
    NodesRunInputs,
    RatingConfig,
    UnknownEvent,
    WorkflowCommand,
    WorkflowRun,
    WorkflowRunInput,
    WorkflowRunOutput,
    WorkflowStatus,
    dump,
    parse_event,
)
from threadline.config.events import (
    AssistantResponseEvent,
    ConditionalEdgeEvent,
    EndRunNodeEvent,
    EndWorkflowIterationEvent,
    StartRunNodeEvent,
    WorkflowShowStateEvent,
)
from threadline.config.run_output import ToolNodeRunOutput


def _turn(*messages: object) -> dict[str, object]:
    return {
        "thread_to_node_inputs": {
            "0": {"node_run_inputs": [{"type": "llm", "messages": list(messages)}]}
        }
    }


def test_run_input_defaults() -> None:
    data = dump(WorkflowRunInput())
    assert data["command"] == "start"
    assert data["version_number"] == 0
    assert data["thread_to_node_inputs"] == {}
    assert "secret_variables" not in data
    assert WorkflowRunInput(command=WorkflowCommand.STOP).command == "stop"


def test_plain_string_messages_become_human_messages() -> None:
    run_input = WorkflowRunInput.model_validate(
        _turn("Hello", {"type": "ai", "content": "Hi!", "id": "m1"})
    )
    node_input = run_input.thread_to_node_inputs["0"].node_run_inputs[0]
    assert isinstance(node_input, LLMNodeRunInput)
    assert node_input.messages == [
        {"type": "human", "content": "Hello"},
        {"type": "ai", "content": "Hi!", "id": "m1"},
    ]


def test_langchain_style_messages_are_kept_unchanged() -> None:
    message = {
        "type": "human",
        "content": "I need a refill",
        "additional_kwargs": {},
        "example": False,
    }
    run_input = WorkflowRunInput.model_validate(_turn(message))
    dumped = dump(run_input)["thread_to_node_inputs"]["0"]["node_run_inputs"][0]
    assert dumped["messages"] == [message]
    assert dumped["type"] == "llm"


def test_secret_variables_never_appear_in_run_input_dump() -> None:
    run_input = WorkflowRunInput.model_validate(
        {"secret_variables": {"interactly_api_token": "tok-123"}}
    )
    assert (
        run_input.secret_variables["interactly_api_token"].get_secret_value()
        == "tok-123"
    )
    assert "secret_variables" not in dump(run_input)
    assert "tok-123" not in run_input.model_dump_json()
    assert "tok-123" not in repr(run_input)


def test_node_run_input_variants_and_unknown() -> None:
    inputs = NodesRunInputs.model_validate(
        {
            "node_run_inputs": [
                {"type": "base_node", "node_logical_id": "node_a"},
                {"type": "send_sms", "override_message": "hi"},
                {"type": "athena_patients_search", "override_api_key": "k"},
                {"type": "next_gen_input", "z": 1},
            ]
        }
    )
    assert [type(i).__name__ for i in inputs.node_run_inputs] == [
        "BaseNodeRunInput",
        "SendSMSNodeRunInput",
        "AthenaPatientsSearchNodeRunInput",
        "UnknownTyped",
    ]
    assert dump(inputs)["node_run_inputs"][3] == {"type": "next_gen_input", "z": 1}


def test_run_output_keeps_untyped_events_and_types_node_outputs() -> None:
    output = WorkflowRunOutput.model_validate(
        {
            "events": [{"type": "whatever", "x": 1}],
            "thread_to_node_outputs": {
                "0": [{"type": "tool_node", "success": True, "tool_result": {"a": 1}}]
            },
        }
    )
    assert output.events == [{"type": "whatever", "x": 1}]
    assert isinstance(output.thread_to_node_outputs["0"][0], ToolNodeRunOutput)


@pytest.mark.parametrize("status", list(WorkflowStatus))
def test_status_sets(status: WorkflowStatus) -> None:
    assert status.is_terminal == (
        status in {"completed", "failed", "cancelled", "aborted_looping_risk"}
    )
    assert status.is_active == (
        status in {"started", "running", "waiting_for_user_input"}
    )


def test_status_catalogue() -> None:
    assert len(WorkflowStatus) == 9
    assert WorkflowStatus.PAUSED not in ACTIVE_STATUSES | TERMINAL_STATUSES
    assert not ACTIVE_STATUSES & TERMINAL_STATUSES


def test_workflow_run_defaults_and_round_trip() -> None:
    run = WorkflowRun.model_validate(
        {
            "status": "waiting_for_user_input",
            "input_output_pairs": [
                {
                    "run_input": _turn("hi"),
                    "run_output": {"events": [{"type": "start_workflow"}]},
                    "ratings": [
                        {"value": "up", "createdBy": "0123456789abcdef01234567"}
                    ],
                }
            ],
            "llm_token_usage": {
                "total_tokens": 10,
                "breakdown_by_models": [{"response_model": "gpt-4.1"}],
            },
        }
    )
    data = dump(run)
    assert data["logical_id"].startswith("workflow_run_")
    assert data["version_name"] == "Initial Version"
    assert data["is_evaluation_run"] is False
    assert data["llm_token_usage"]["breakdown_by_models"][0]["call_count"] == 0
    assert (
        data["input_output_pairs"][0]["ratings"][0]["createdBy"]
        == "0123456789abcdef01234567"
    )
    assert dump(WorkflowRun.model_validate(data)) == data


def test_comment_and_rating_use_camel_case_audit_fields() -> None:
    comment = CommentConfig(content="nice")
    data = dump(comment)
    assert data["logical_id"].startswith("comment_")
    assert set(data) >= {"createdBy", "updatedBy", "createdAt", "updatedAt"}
    assert isinstance(comment.createdAt, datetime)
    assert comment.createdAt.tzinfo is not None
    assert dump(RatingConfig(value="strong_up"))["logical_id"].startswith("rating_")


def test_events_parse_by_type() -> None:
    event = parse_event(
        {
            "type": "assistant_response",
            "content": "Hello!",
            "origin_node_logical_id": "node_greet",
        }
    )
    assert isinstance(event, AssistantResponseEvent)
    data = dump(event)
    assert data["logical_id"].startswith("event_")
    assert data["interrupted"] is False
    assert data["llm_usage_info"]["was_estimated"] is False
    assert dump(parse_event(data)) == data


def test_event_thread_reference_id() -> None:
    event = parse_event(
        {"type": "say_static", "origin_thread_id": "0_companion_poller"}
    )
    assert event.thread_reference_id == "poller"
    state = parse_event({"type": "workflow_show_state", "thread_id": "0"})
    assert isinstance(state, WorkflowShowStateEvent)
    assert state.thread_reference_id == "0"


def test_events_with_nested_run_payloads() -> None:
    start = parse_event(
        {"type": "start_node_run", "run_input": {"type": "llm", "messages": ["hi"]}}
    )
    assert isinstance(start, StartRunNodeEvent)
    assert dump(start)["run_input"]["messages"] == [{"type": "human", "content": "hi"}]
    end = parse_event({"type": "end_node_run", "run_output": {"type": "say_llm"}})
    assert isinstance(end, EndRunNodeEvent)
    iteration = parse_event(
        {
            "type": "end_workflow_iteration",
            "iteration_number": 1,
            "iteration_metrics": {"llm_call_count": 2},
        }
    )
    assert isinstance(iteration, EndWorkflowIterationEvent)
    edge = parse_event(
        {
            "type": "conditional_edge",
            "edge_logical_id": "edge_a",
            "args_filled": {"x": 1},
        }
    )
    assert isinstance(edge, ConditionalEdgeEvent)


def test_unknown_event_type_round_trips_unchanged() -> None:
    raw = {
        "type": "voice_barge_in",
        "logical_id": "event_1",
        "timestamp": 1.5,
        "words": 3,
    }
    event = parse_event(raw)
    assert isinstance(event, UnknownEvent)
    assert isinstance(event, BaseEvent)
    assert dump(event) == raw
