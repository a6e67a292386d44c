"""The state of a run between and during turns, as plain serialisable data.

The engine mutates a ``RunState`` it owns while it runs a turn; the shell persists
``to_json()`` at the end of each turn and rebuilds it with ``from_json()``. Given the
same inputs and recorded node results, the same state comes out (replay).
"""

from dataclasses import asdict, dataclass, field
from typing import Any

JsonDict = dict[str, Any]

MAIN_THREAD = "0"

# Thread statuses (engine-internal).
READY = "ready"
WAITING = "waiting"
PAUSED = "paused"
ENDED = "ended"


@dataclass(slots=True)
class ThreadState:
    """One thread of execution: where it is, what it said, what it knows."""

    thread_id: str
    node: str | None
    status: str = READY
    history: list[JsonDict] = field(default_factory=list)
    """Chat messages: ``{"type": "human"|"ai"|"tool", "content": ..., ...}``."""
    variables: JsonDict = field(default_factory=dict)
    """Thread-local runtime variables (``[[name]]``)."""
    pending: list[JsonDict] = field(default_factory=list)
    """User messages delivered this turn and not yet consumed by a node."""
    visited: list[str] = field(default_factory=list)
    fresh_entry: bool = True
    """True when the thread just arrived at ``node`` through an edge or at start."""
    conditional_hops: int = 0
    """Consecutive conditional-edge hops since the last user message."""
    after_reverse: bool = False
    """A reverse conditional edge was just taken (tools off on the next LLM call)."""
    global_callers: list[str] = field(default_factory=list)
    """Stack of nodes that entered a global node, for reverse edges."""
    parent: str | None = None
    """The thread that forked this companion thread."""
    self_loop_attempts: int = 0
    self_loop_started_at: float | None = None


@dataclass(slots=True)
class RunState:
    """Everything the engine needs to continue a run on its next turn."""

    run_id: str
    status: str = "not_started"
    turn: int = 0
    threads: dict[str, ThreadState] = field(default_factory=dict)
    dynamic: JsonDict = field(default_factory=dict)
    """Evaluated ``{{dynamic}}`` variables: run input over defaults and built-ins."""
    workflow_variables: JsonDict = field(default_factory=dict)
    """Run-wide runtime memory (workflow scope), readable from every thread."""
    node_runs: dict[str, int] = field(default_factory=dict)
    """Per-node counter behind ``origin_node_run_id`` (busy-waits count too)."""
    edge_runs: int = 0
    events: int = 0
    guardrail_entries: int = 0
    llm_calls: list[JsonDict] = field(default_factory=list)
    """Every LLM call record of the run (accounting is derived from these)."""
    error: str | None = None
    termination_source: str | None = None

    def to_json(self) -> JsonDict:
        """Serialise to plain JSON."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: JsonDict) -> "RunState":
        """Rebuild from ``to_json()`` output."""
        values = dict(data)
        threads = {k: ThreadState(**v) for k, v in values.pop("threads", {}).items()}
        return cls(threads=threads, **values)

    def active_thread_ids(self) -> list[str]:
        """Threads that have not ended, main first."""
        return [t for t, s in self.threads.items() if s.status != ENDED]
