"""The process's Prometheus metrics and the ``/metrics`` text.

Counters and histograms count what this process did. With several ``serve`` and
``worker`` processes each one is scraped (``/metrics`` on a ``serve`` process's API
port, ``THREADLINE_METRICS_PORT`` on a ``worker``) and Prometheus adds the
``instance`` label; sum over it. Processes of one host that share
``PROMETHEUS_MULTIPROC_DIR`` are aggregated by ``prometheus_client``'s multiprocess
mode instead. Gauges of state (active runs, queued commands, the start queue) are
read from the store at scrape time (``Gauges``), so every process reports the same
database-wide value: use ``max`` over instances, not ``sum``.

Labels are bounded: outcomes, node types, levels and actions come from fixed
sets; providers and models are tenant-chosen strings, so at most
``label_limit`` distinct values of each are kept per process and the rest count
under ``other``. No run or team id is a label, except in the ``threadline_team_*``
series that ``THREADLINE_METRICS_PER_TEAM=1`` turns on.
"""

import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)
"""The metrics of this process (not prometheus_client's global registry)."""
OTHER = "other"
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_STORE = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)


@dataclass
class _Config:
    per_team: bool = False
    label_limit: int = 50
    seen: dict[str, set[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_CONFIG = _Config()


def configure(*, per_team: bool = False, label_limit: int = 50) -> None:
    """Apply the operator's settings (``THREADLINE_METRICS_*``)."""
    with _CONFIG.lock:
        _CONFIG.per_team = per_team
        _CONFIG.label_limit = max(1, label_limit)
        _CONFIG.seen.clear()


def bounded(kind: str, value: str) -> str:
    """``value`` as a label of ``kind``, or ``other`` once ``label_limit`` distinct
    values of that kind were seen in this process."""
    value = value or "unknown"
    with _CONFIG.lock:
        seen = _CONFIG.seen.setdefault(kind, set())
        if value in seen:
            return value
        if len(seen) >= _CONFIG.label_limit:
            return OTHER
        seen.add(value)
        return value


def one_of(value: str, allowed: Iterable[str]) -> str:
    """``value`` when it is one of ``allowed``, else ``other``."""
    return value if value in allowed else OTHER


turns = Counter(
    "threadline_turns",
    "Turns run, by outcome (completed, waiting, failed, interrupted, rejected).",
    ["outcome"],
    registry=REGISTRY,
)
turn_seconds = Histogram(
    "threadline_turn_duration_seconds",
    "Wall time of a turn, from its driver's start to its recorded end.",
    ["outcome"],
    buckets=_LATENCY,
    registry=REGISTRY,
)
node_seconds = Histogram(
    "threadline_node_duration_seconds",
    "Wall time of one node execution, by node type.",
    ["node_type"],
    buckets=_LATENCY,
    registry=REGISTRY,
)
llm_calls = Counter(
    "threadline_llm_calls",
    "LLM calls (after retries: one per answer or final error).",
    ["provider", "model"],
    registry=REGISTRY,
)
llm_errors = Counter(
    "threadline_llm_errors",
    "LLM calls that failed after their retries, by error code.",
    ["provider", "model", "code"],
    registry=REGISTRY,
)
llm_retries = Counter(
    "threadline_llm_retries",
    "Extra attempts LLM calls needed (attempts - 1).",
    ["provider", "model"],
    registry=REGISTRY,
)
llm_tokens = Counter(
    "threadline_llm_tokens",
    "Tokens the models reported, by kind (input, output).",
    ["provider", "model", "kind"],
    registry=REGISTRY,
)
llm_cost = Counter(
    "threadline_llm_cost_usd",
    "Cost of LLM calls in USD, from the price table (unknown models count 0).",
    ["provider", "model"],
    registry=REGISTRY,
)
commands_queued = Counter(
    "threadline_commands_queued",
    "Commands queued behind a running turn (multitask policy enqueue).",
    registry=REGISTRY,
)
concurrency_refusals = Counter(
    "threadline_concurrency_refusals",
    "Starts refused by a concurrency limit (429 or back to the start queue).",
    ["level"],
    registry=REGISTRY,
)
schedules_fired = Counter(
    "threadline_schedules_fired",
    "Scheduled and queued starts that started a run.",
    registry=REGISTRY,
)
webhook_deliveries = Counter(
    "threadline_webhook_deliveries",
    "Webhook delivery attempts, by outcome (delivered, retrying, failed).",
    ["outcome"],
    registry=REGISTRY,
)
webhook_failures = Counter(
    "threadline_webhook_delivery_failures",
    "Webhook delivery attempts that did not succeed (retrying or failed).",
    registry=REGISTRY,
)
recoveries = Counter(
    "threadline_orphaned_turns_recovered",
    "Turns of dead processes this process resumed.",
    registry=REGISTRY,
)
reaper_actions = Counter(
    "threadline_reaper_actions",
    "Runs the stale-run reaper ended, by action (stale_turn, idle).",
    ["action"],
    registry=REGISTRY,
)
store_seconds = Histogram(
    "threadline_store_transaction_duration_seconds",
    "Wall time of one store transaction (waiting for it included).",
    buckets=_STORE,
    registry=REGISTRY,
)
team_turns = Counter(
    "threadline_team_turns",
    "Turns run per team (THREADLINE_METRICS_PER_TEAM=1 only).",
    ["team"],
    registry=REGISTRY,
)
team_tokens = Counter(
    "threadline_team_llm_tokens",
    "LLM tokens per team (THREADLINE_METRICS_PER_TEAM=1 only).",
    ["team", "kind"],
    registry=REGISTRY,
)
team_cost = Counter(
    "threadline_team_llm_cost_usd",
    "LLM cost in USD per team (THREADLINE_METRICS_PER_TEAM=1 only).",
    ["team"],
    registry=REGISTRY,
)


def count_turn(outcome: str, seconds: float, team_id: str) -> None:
    """One turn ended with ``outcome`` after ``seconds``."""
    turns.labels(outcome).inc()
    turn_seconds.labels(outcome).observe(seconds)
    if _CONFIG.per_team and team_id:
        team_turns.labels(team_id).inc()


@dataclass(frozen=True, slots=True)
class LlmCall:
    """What one LLM call reported, for the counters."""

    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    attempts: int = 1
    cost_usd: float | None = None
    error: str | None = None
    team_id: str = ""


def count_llm_call(call: LlmCall) -> None:
    """Count one LLM call (its tokens, cost, retries or error)."""
    provider = bounded("provider", call.provider)
    model = bounded("model", call.model)
    llm_calls.labels(provider, model).inc()
    if call.attempts > 1:
        llm_retries.labels(provider, model).inc(call.attempts - 1)
    if call.error is not None:
        llm_errors.labels(provider, model, bounded("llm_error", call.error)).inc()
    llm_tokens.labels(provider, model, "input").inc(max(0, call.input_tokens))
    llm_tokens.labels(provider, model, "output").inc(max(0, call.output_tokens))
    if call.cost_usd:
        llm_cost.labels(provider, model).inc(call.cost_usd)
    if _CONFIG.per_team and call.team_id:
        team_tokens.labels(call.team_id, "input").inc(max(0, call.input_tokens))
        team_tokens.labels(call.team_id, "output").inc(max(0, call.output_tokens))
        if call.cost_usd:
            team_cost.labels(call.team_id).inc(call.cost_usd)


@dataclass(frozen=True, slots=True)
class Gauges:
    """State read from the store at scrape time (database-wide)."""

    runs_by_status: Mapping[str, int]
    commands_pending: int
    start_queue_depth: int


class _GaugeCollector(Collector):
    def __init__(self, gauges: Gauges) -> None:
        self._gauges = gauges

    def collect(self) -> Iterable[Metric]:
        runs = GaugeMetricFamily(
            "threadline_runs_active",
            "Runs not yet ended, by status (database-wide, read at scrape time).",
            labels=["status"],
        )
        for status, count in sorted(self._gauges.runs_by_status.items()):
            runs.add_metric([status], count)
        yield runs
        yield GaugeMetricFamily(
            "threadline_commands_pending",
            "Commands queued behind a running turn now (database-wide).",
            value=self._gauges.commands_pending,
        )
        yield GaugeMetricFamily(
            "threadline_start_queue_depth",
            "Due scheduled and background starts waiting for a slot (database-wide).",
            value=self._gauges.start_queue_depth,
        )


def process_registry() -> CollectorRegistry:
    """This process's metrics, or every process's of this host in multiprocess
    mode (``PROMETHEUS_MULTIPROC_DIR``)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


def render(gauges: Gauges | None) -> bytes:
    """The Prometheus text exposition: the counters, then the store's gauges."""
    text = generate_latest(process_registry())
    if gauges is not None:
        extra = CollectorRegistry(auto_describe=False)
        extra.register(_GaugeCollector(gauges))
        text += generate_latest(extra)
    return text
