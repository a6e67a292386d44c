"""What the engine asks of the shell (a ``NodeTask``) and what it gets back.

The engine decides which node runs next and with what; the shell executes the node
(LLM calls, tools, HTTP: I/O) and answers with a ``NodeResult``. Recording the
results is enough to replay a turn.
"""

from dataclasses import dataclass, field, fields
from typing import Any

from threadline.engine.render_limits import RenderLimits

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Destination:
    """A freeform condition an LLM may choose, as a ``Destination_Node__<id>`` tool."""

    edge: JsonDict
    """The conditional edge (or the synthesised global / reverse edge)."""
    node_logical_id: str
    condition: str
    """The condition text after variable substitution."""
    args_schema: JsonDict | None
    kind: str = "conditional"
    """``conditional``, ``global`` or ``reverse``."""

    @property
    def tool_name(self) -> str:
        """The function name the model sees."""
        return f"Destination_Node__{self.node_logical_id}"


@dataclass(frozen=True, slots=True)
class Scope:
    """The variables a node can read."""

    dynamic: JsonDict
    runtime: JsonDict
    """Thread-local variables over the run-wide (workflow scope) ones."""
    threads: dict[str, JsonDict]
    globals_: JsonDict = field(default_factory=dict)
    limits: RenderLimits = field(default_factory=RenderLimits)
    """What one render of a template in this scope may build."""


@dataclass(frozen=True, slots=True)
class NodeTask:
    """Run one node once, on one thread."""

    thread_id: str
    node: JsonDict
    node_run_id: int
    messages: tuple[JsonDict, ...]
    """User messages consumed by this run (may be empty)."""
    history: tuple[JsonDict, ...]
    """The thread's chat history before this run (messages included)."""
    scope: Scope
    workflow: JsonDict
    destinations: tuple[Destination, ...] = ()
    routing_method: str = "tool_call"
    tools_disabled: bool = False
    """No routing or tool functions on this call (loop protection)."""
    attempt: int = 1
    delay_s: float = 0.0
    """Seconds the shell waits before executing (self-loop spacing)."""
    purpose: str = "node"
    """``node``, or ``transition`` for a generated transition message."""


@dataclass(slots=True)
class NodeResult:
    """What running a node produced."""

    events: list[JsonDict] = field(default_factory=list)
    """Node-specific events (``type`` plus fields); the engine adds the envelope."""
    output: JsonDict = field(default_factory=dict)
    """The node's run output (``thread_to_node_outputs``)."""
    variables: JsonDict = field(default_factory=dict)
    """Thread-scope runtime variable writes."""
    workflow_variables: JsonDict = field(default_factory=dict)
    """Run-wide runtime variable writes."""
    history: list[JsonDict] = field(default_factory=list)
    """Messages to append to the thread's chat history (replies, tool messages)."""
    destination: str | None = None
    """Logical id of the node an LLM chose through a destination tool."""
    destination_args: JsonDict = field(default_factory=dict)
    error: str | None = None
    """A fatal error: the run fails with ``workflow_error``."""
    stack_trace: str | None = None
    llm_calls: list[JsonDict] = field(default_factory=list)
    """One usage record per LLM call (accounting)."""
    finished_at: float | None = None
    """Clock reading when the node finished (event timestamps)."""
    end_workflow: bool = False
    """The node ends the whole run (e.g. an escalation with no target)."""
    budget_exceeded: JsonDict | None = None
    """A model call of the node was refused by the run budget (``engine.budgets``
    ``would_pass`` report): the run fails."""


def result_to_json(result: NodeResult) -> JsonDict:
    """A ``NodeResult`` as JSON, for the step journal."""
    return {f.name: getattr(result, f.name) for f in fields(result)}


def result_from_json(raw: JsonDict) -> NodeResult:
    """The ``NodeResult`` a journal entry recorded (unknown keys are ignored)."""
    names = {f.name for f in fields(NodeResult)}
    return NodeResult(**{k: v for k, v in raw.items() if k in names})
