"""The executor protocol and the ports executors use to reach the outside world."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from threadline.engine.steps import NodeResult, NodeTask
from threadline.providers.base import LLM
from threadline.tools.limits import ToolCeilings, ToolSlots

JsonDict = dict[str, Any]


class RunReader(Protocol):
    """Reads stored runs of the caller's team (``workflow_run_fetch``)."""

    async def get_run(self, run_id: str) -> JsonDict | None: ...


class Vendor(Protocol):
    """An external vendor integration (SMS, EHR, Google Docs, telephony)."""

    async def call(self, operation: str, payload: JsonDict) -> JsonDict: ...


@dataclass
class Ports:
    """Everything an executor may use; each has a fake for tests."""

    llm: LLM
    clock: Callable[[], float]
    team_id: str = ""
    http_allow_private: bool = False
    vendors: dict[str, Vendor] = field(default_factory=dict)
    """Configured vendors by name (``sms``, ``athena``, ``google_docs``, ...)."""
    runs: RunReader | None = None
    secret_values: tuple[str, ...] = ()
    """Values to redact from events and logs."""
    tools: Any = None
    """A tool runner (``nodes.llm_tools.ToolRunner``); None: the standard runner."""
    http_transport: Any = None
    """An httpx transport for HTTP nodes and tools (tests); None: the network."""
    stream: Callable[[JsonDict], Awaitable[None]] | None = None
    """Receives live ``assistant_response_delta`` events of streaming LLM nodes."""
    retriever: Any = None
    """A knowledge-base ``Retriever``; None: knowledge_base tools fail clearly."""
    tool_ceilings: ToolCeilings = field(default_factory=ToolCeilings)
    """The operator's ceilings on one tool call (time, memory)."""
    tool_slots: ToolSlots | None = None
    """The process's tool concurrency slots (shared); None: unbounded (tests)."""
    mcp: Any = None
    """The run's MCP servers (``nodes.mcp_tools.McpHub``); None: ``use_mcp_tools``
    offers nothing (with a warning)."""


Executor = Callable[[NodeTask, Ports], Awaitable[NodeResult]]
