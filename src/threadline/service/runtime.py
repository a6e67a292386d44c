"""What the service needs to execute runs: the LLM, the clock, randomness, vendors.

Built once from the settings in the entry point
(``service.processes.runtime_from_settings``); tests pass fakes (a scripted LLM, a
fixed clock, a seeded random source).
"""

import asyncio
import random
import secrets
import string
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from threadline.engine.render_limits import RenderLimits
from threadline.nodes.base import Vendor
from threadline.providers.base import LLM
from threadline.providers.embeddings import Embeddings
from threadline.store.definition_stamps import StampedCache
from threadline.store.history_log import HistoryCache
from threadline.store.run_cache import RunCache
from threadline.tools.http_call import HttpPolicy
from threadline.tools.knowledge import KnowledgeLimits
from threadline.tools.limits import ToolCeilings, ToolSlots
from threadline.tools.mcp import McpLimits

JsonDict = dict[str, Any]


@dataclass
class Runtime:
    """Ports shared by every run the service executes."""

    llm: LLM
    clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)
    http_allow_private: bool = False
    llm_allowed_hosts: frozenset[str] = frozenset()
    """Hosts tenant LLM URLs may reach although private (``HttpPolicy``)."""
    vendors: dict[str, Vendor] = field(default_factory=dict)
    max_node_runs_per_turn: int = 100
    http_transport: Any = None
    """An httpx transport for HTTP nodes and tools (tests); None: the network."""
    retriever: Any = None
    """The knowledge-base retriever (``service.knowledge.search.StoreRetriever``,
    set by ``service.processes.attach``); None: knowledge_base tools fail."""
    embeddings: Embeddings | None = None
    """The embeddings model of knowledge bases (``THREADLINE_EMBEDDINGS_MODEL``);
    None: they search by words alone."""
    knowledge_limits: KnowledgeLimits = field(default_factory=KnowledgeLimits)
    """The operator's ceilings on knowledge bases (``THREADLINE_KB_*``)."""
    background: set["asyncio.Task[Any]"] = field(default_factory=set)
    """Background work started by requests (evaluation runs); kept referenced."""
    render_limits: RenderLimits = field(default_factory=RenderLimits)
    """What one template render may build (``THREADLINE_TEMPLATE_*``)."""
    tool_ceilings: ToolCeilings = field(default_factory=ToolCeilings)
    """The operator's ceilings on one tool call (``THREADLINE_TOOL_*``)."""
    tool_slots: ToolSlots | None = None
    """Tool calls in flight in this process, per team; built from
    ``tool_ceilings`` when not given."""
    team_max_concurrent_runs: int | None = None
    """The server default for a team's active runs (``service.team.admission``)."""
    worker_id: str = field(default_factory=lambda: f"w-{secrets.token_hex(8)}")
    """This process among the workers sharing the database
    (``service.running.recovery``)."""
    worker_dead_seconds: float = 30.0
    """A worker silent this long is dead; its turns are resumed elsewhere."""
    command_wait_seconds: float = 300.0
    """How long a request waits for a queued command before answering 503."""
    waiters: dict[str, "asyncio.Future[Any]"] = field(default_factory=dict)
    """Requests of this process waiting for a command's turn, by command id."""
    sinks: dict[str, Callable[[JsonDict], Awaitable[None]]] = field(
        default_factory=dict
    )
    """Live-delta sinks of requests of this process, by command id."""
    drivers: dict[str, "asyncio.Task[Any]"] = field(default_factory=dict)
    """Runs whose turns this process is executing, by run id."""
    interrupts: set[str] = field(default_factory=set)
    """Runs whose running turn must stop at the next step boundary."""
    step_runner: Any = None
    """Executes one node as a step of another durable executor (``async (task,
    ports, runtime) -> NodeResult``); None: our own step journal
    (``service.running.turn_driver``)."""
    mcp_limits: McpLimits = field(default_factory=McpLimits)
    """The operator's MCP ceilings (``THREADLINE_MCP_*``)."""
    mcp_listings: "OrderedDict[str, dict[str, Any]]" = field(
        default_factory=OrderedDict
    )
    """Each run's MCP tool listings, by run id (the most recent runs only): a
    server is listed once per run in this process."""
    history_cache: HistoryCache = field(default_factory=HistoryCache)
    """The chat histories of this process's most recent runs
    (``service.running.run_history``; ``THREADLINE_HISTORY_CACHE_RUNS`` runs)."""
    run_cache: RunCache = field(default_factory=RunCache)
    """The rows of the runs whose last turn this process recorded, checked by the
    next command's status ``UPDATE`` (``store.run_cache``;
    ``THREADLINE_RUN_CACHE_SIZE`` runs)."""
    version_cache: StampedCache[Any] = field(default_factory=StampedCache)
    """Hydrated snapshots of the versions this process started runs of
    (``service.running.version_cache``; ``THREADLINE_VERSION_CACHE_SIZE``)."""
    subscriptions: StampedCache[Any] = field(default_factory=StampedCache)
    """Teams' enabled webhook subscriptions, read for the events a turn raises
    (``service.webhooks.hooks.in_turn``), kept under the team's definition stamp
    (``THREADLINE_VERSION_CACHE_SIZE`` teams)."""
    launcher: Any = None
    """Starts the turn of an accepted command in another durable executor
    (``async (store, runtime, command, first) -> None``); None: a runtime task."""

    def mcp_cache(self, run_id: str) -> dict[str, Any]:
        """The MCP listings cache of ``run_id`` (kept for the 1000 latest runs)."""
        cache = self.mcp_listings.setdefault(run_id, {})
        self.mcp_listings.move_to_end(run_id)
        while len(self.mcp_listings) > 1000:
            self.mcp_listings.popitem(last=False)
        return cache

    def llm_policy(self) -> HttpPolicy:
        """The SSRF policy of tenant LLM URLs."""
        return HttpPolicy(
            allow_private=self.http_allow_private,
            allowed_hosts=self.llm_allowed_hosts,
        )

    def __post_init__(self) -> None:
        if self.tool_slots is None:
            self.tool_slots = ToolSlots(self.tool_ceilings)

    async def drain(self, timeout: float = 10.0) -> None:
        """Let background work finish (up to ``timeout``), then cancel the rest.

        A cancelled turn stays ``running`` in the database and is resumed by
        another process (``service.running.recovery``).
        """
        pending = set(self.background)
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)

    def spawn(self, work: Awaitable[Any]) -> "asyncio.Task[Any]":
        """Run ``work`` in a task the runtime keeps referenced until it ends."""
        task = asyncio.ensure_future(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task


def builtin_variables(now: float, rng: random.Random) -> JsonDict:
    """The built-in ``{{dynamic}}`` variables, evaluated once at run start."""
    moment = datetime.fromtimestamp(now, UTC)
    return {
        "now": moment.strftime("%B %d, %Y %I:%M %p"),
        "date": moment.strftime("%Y-%m-%d"),
        "time": moment.strftime("%H:%M:%S"),
        "year": moment.year,
        "month": moment.month,
        "day": moment.day,
        "hour": moment.hour,
        "minute": moment.minute,
        "iso_datetime": moment.isoformat(),
        "day_of_week": moment.strftime("%A"),
        "timestamp": int(now),
        "timestamp_ms": int(now * 1000),
        "rand_int": rng.randint(0, 1_000_000),
        "rand_str": "".join(rng.choices(string.ascii_letters + string.digits, k=8)),
        "rand_float": rng.random(),
        "rand_uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "rand_bool": rng.random() < 0.5,
    }
