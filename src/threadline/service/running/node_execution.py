"""Executing one node of a turn: the executor for its type, inside its span and
timer, with the run budget's gate and the managed-prompt expander's events.

A turn's steps (``turn_steps.py``) call ``execute_node`` for every node not
replayed from the journal; the DBOS executor calls it for each of its steps.
"""

import asyncio
import time
import traceback

from threadline.engine.steps import NodeResult, NodeTask
from threadline.nodes.base import Ports
from threadline.nodes.registry import all_executors, executor_for
from threadline.providers.managed_prompts import ExpandingLLM
from threadline.service.running.budget_gate import BudgetedLLM
from threadline.service.running.turn_answers import Lost
from threadline.service.runtime import Runtime
from threadline.telemetry import metrics, tracing

# The longest wait before a node runs (``time_between_retries`` is at most 300 s).
_MAX_INLINE_DELAY_S = 300.0
NODE_TYPES = frozenset(all_executors())
"""Node types that are ``node_type`` labels (others count as ``other``)."""


def _expander(llm: object) -> ExpandingLLM | None:
    """The managed-prompt expander among the LLM wrappers of a turn's ports."""
    while llm is not None:
        if isinstance(llm, ExpandingLLM):
            return llm
        llm = getattr(llm, "inner", None)
    return None


async def execute_node(task: NodeTask, ports: Ports, runtime: Runtime) -> NodeResult:
    """Run one node; an executor bug fails the run, not the process.

    Spanned (``node <type> <logical id>``) and timed by type
    (``threadline_node_duration_seconds``)."""
    if task.delay_s > 0:
        await asyncio.sleep(min(task.delay_s, _MAX_INLINE_DELAY_S))
    gate = ports.llm.gate if isinstance(ports.llm, BudgetedLLM) else None
    if gate is not None:
        gate.begin_node()
    node_type = str(task.node.get("type", ""))
    logical_id = str(task.node.get("logical_id") or "")
    started = time.perf_counter()
    with tracing.span(
        f"node {node_type} {logical_id}",
        {
            "threadline.node.type": node_type,
            "threadline.node.id": logical_id,
            "threadline.node.purpose": task.purpose,
        },
    ) as span:
        try:
            result = await executor_for(node_type)(task, ports)
            expander = _expander(ports.llm)
            if expander is not None:
                result.events.extend(expander.drain())
        except Lost:
            raise
        except Exception as exc:
            result = NodeResult(
                error=f"node {logical_id!r} failed: {exc}",
                stack_trace=traceback.format_exc(),
            )
        if result.error:
            span.fail(str(result.error), "node_error")
    metrics.node_seconds.labels(metrics.one_of(node_type, NODE_TYPES)).observe(
        time.perf_counter() - started
    )
    if gate is not None and gate.refused is not None:
        result.budget_exceeded = dict(gate.refused)
    result.finished_at = runtime.clock()
    return result
