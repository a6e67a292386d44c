import pytest

from threadline.nodes.data import execute_no_op
from threadline.nodes.registry import (
    EXECUTORS,
    UnknownNodeType,
    all_executors,
    executor_for,
)

NON_LLM_TYPES = {
    "say_static",
    "tool_node",
    "http_request",
    "send_sms",
    "start_conversation",
    "end_conversation",
    "workflow_run_fetch",
    "google_docs",
    "athena_patients_search",
    "athena_patients_create",
    "athena_patients_update",
    "athena_appointments_create",
    "deduplicate",
    "field_extractor",
    "no_op",
}


def test_every_non_llm_node_type_has_an_executor() -> None:
    assert set(EXECUTORS) == NON_LLM_TYPES


def test_executor_for_returns_the_registered_executor() -> None:
    assert executor_for("no_op") is execute_no_op


def test_unknown_node_type_is_a_clear_error() -> None:
    with pytest.raises(UnknownNodeType, match="No executor for node type 'teleport'"):
        executor_for("teleport")


def test_super_node_has_no_executor() -> None:
    assert "super_node" not in all_executors()
    with pytest.raises(UnknownNodeType, match="expanded"):
        executor_for("super_node")


def test_llm_executors_are_merged_when_available() -> None:
    llm = pytest.importorskip("threadline.nodes.llm")
    for node_type, executor in llm.LLM_EXECUTORS.items():
        assert executor_for(node_type) is executor
