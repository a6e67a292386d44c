"""Which executor runs which node type.

:data:`EXECUTORS` holds the non-LLM executors. The LLM executors (``say_llm``,
``worker_llm``, ``workflow_run_evaluator``) come from ``threadline.nodes.llm``'s
``LLM_EXECUTORS``; :func:`executor_for` looks there second.
``super_node`` has no executor: super nodes are expanded into the graph before runs.
"""

from threadline.errors import BadRequest
from threadline.nodes.base import Executor
from threadline.nodes.conversation import (
    execute_end_conversation,
    execute_start_conversation,
)
from threadline.nodes.data import (
    execute_deduplicate,
    execute_field_extractor,
    execute_no_op,
)
from threadline.nodes.http_request import execute_http_request
from threadline.nodes.llm import LLM_EXECUTORS
from threadline.nodes.runs import execute_workflow_run_fetch
from threadline.nodes.static import execute_say_static
from threadline.nodes.tool import execute_tool_node
from threadline.nodes.vendors import (
    execute_athena,
    execute_google_docs,
    execute_send_sms,
)

__all__ = [
    "EXECUTORS",
    "PURE_TYPES",
    "UnknownNodeType",
    "all_executors",
    "executor_for",
]

PURE_TYPES = frozenset(
    {"say_static", "no_op", "deduplicate", "start_conversation", "end_conversation"}
)
"""Node types whose executor has no side effect (no LLM, HTTP, tool or vendor
call): the step journal need not be written before they run."""

EXECUTORS: dict[str, Executor] = {
    "say_static": execute_say_static,
    "tool_node": execute_tool_node,
    "http_request": execute_http_request,
    "no_op": execute_no_op,
    "field_extractor": execute_field_extractor,
    "deduplicate": execute_deduplicate,
    "send_sms": execute_send_sms,
    "google_docs": execute_google_docs,
    "athena_patients_search": execute_athena,
    "athena_patients_create": execute_athena,
    "athena_patients_update": execute_athena,
    "athena_appointments_create": execute_athena,
    "start_conversation": execute_start_conversation,
    "end_conversation": execute_end_conversation,
    "workflow_run_fetch": execute_workflow_run_fetch,
}


class UnknownNodeType(BadRequest):
    """No executor exists for a node type."""

    code = "unknown_node_type"


def all_executors() -> dict[str, Executor]:
    """Every available executor, LLM ones included when present."""
    return {**LLM_EXECUTORS, **EXECUTORS}


def executor_for(node_type: str) -> Executor:
    """The executor of ``node_type``; raises :class:`UnknownNodeType` otherwise."""
    executor = EXECUTORS.get(node_type) or LLM_EXECUTORS.get(node_type)
    if executor is not None:
        return executor
    if node_type == "super_node":
        raise UnknownNodeType(
            "super_node has no executor: super nodes must be expanded into the "
            "graph before the run starts"
        )
    known = ", ".join(sorted(all_executors()))
    raise UnknownNodeType(f"No executor for node type {node_type!r} (known: {known})")
