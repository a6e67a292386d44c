"""Per-turn operational metrics (``iteration_metrics`` of ``end_workflow_iteration``).

Counts the nodes run, the LLM calls made (from the call records, so they agree
exactly with the accounting) and the tool-node calls of one turn, with latency
statistics, and the turn's end-to-end time from the clock readings passed in.
"""

from dataclasses import dataclass, field
from statistics import median
from typing import Any

from threadline.engine.steps import NodeResult, NodeTask

JsonDict = dict[str, Any]


def _stats(values: list[float]) -> JsonDict | None:
    if not values:
        return None
    return {
        "average_milliseconds": sum(values) / len(values),
        "min_milliseconds": min(values),
        "max_milliseconds": max(values),
        "median_milliseconds": median(values),
    }


@dataclass(slots=True)
class TurnMetrics:
    """Collects one turn's counts as node results come in."""

    started_at: float
    nodes: int = 0
    llm_latencies: list[float] = field(default_factory=list)
    tool_latencies: list[float] = field(default_factory=list)
    llm_tokens: int = 0

    def add(self, task: NodeTask, result: NodeResult) -> None:
        """Count one executed task."""
        if task.purpose == "node":
            self.nodes += 1
        for call in result.llm_calls:
            self.llm_latencies.append(float(call.get("latency_ms") or 0))
            self.llm_tokens += int(call.get("total_tokens") or 0)
        if task.node.get("type") == "tool_node":
            self.tool_latencies.append(float(result.output.get("latency_ms") or 0))

    def to_json(self, ended_at: float) -> JsonDict:
        """The ``WorkflowIterationMetrics`` of the turn."""
        return {
            "e2e_latency_milliseconds": round((ended_at - self.started_at) * 1000),
            "nodes_executed_count": self.nodes,
            "llm_call_count": len(self.llm_latencies),
            "llm_total_tokens": self.llm_tokens,
            "tool_call_count": len(self.tool_latencies),
            "llm_call_latency_stats": _stats(self.llm_latencies),
            "tool_call_latency_stats": _stats(self.tool_latencies),
        }
