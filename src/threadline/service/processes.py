"""What every Threadline process sets up and runs, ``serve`` and ``worker`` alike.

- its runtime (``runtime_from_settings``: the LLM router, the executor of turns);
- heartbeat and recovery of turns orphaned by dead processes
  (``service.running.recovery``);
- the stale-run reaper, held by one process at a time through the ``reaper`` lease;
- the scheduler and its start queue (exactly-once claims; ``fire_due`` is one
  pass), outbound webhook deliveries, the drivers of simulation groups
  (``service.simulations.driver``, leased per group) and knowledge-base ingestion
  (leased jobs, ``service.knowledge.ingest``) and replay checks (leased,
  ``service.replay_checks.worker``);
- the knowledge-base retriever of ``knowledge_base`` tools (``attach``).

This module is where the rooms meet: it hands the running room's
``run_one_turn`` to the background rooms that start runs. Any process can take
any run's next turn, so adding processes adds capacity.
"""

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from threadline.engine.render_limits import RenderLimits
from threadline.providers.embeddings import OPENAI_BASE_URL, Embeddings
from threadline.providers.keys import secret
from threadline.service.automation import scheduler, start_queue, webhook_delivery
from threadline.service.automation.scheduler import DEFAULT_STUCK_AFTER, PassReport
from threadline.service.knowledge import ingest
from threadline.service.knowledge.search import StoreRetriever
from threadline.service.replay_checks import worker as replay_checks
from threadline.service.running import reaper, recovery
from threadline.service.running.runs import run_one_turn
from threadline.service.runtime import Runtime
from threadline.service.simulations.driver import Driver
from threadline.settings import Settings
from threadline.store import Store
from threadline.store.definition_stamps import StampedCache
from threadline.store.history_log import HistoryCache
from threadline.store.run_cache import RunCache
from threadline.telemetry import metrics, tracing
from threadline.tools.http_call import HttpPolicy
from threadline.tools.knowledge import KnowledgeLimits
from threadline.tools.limits import ToolCeilings
from threadline.tools.mcp import McpLimits

log = logging.getLogger("threadline.processes")
REAPER_LEASE = "stale_run_reaper"


def tool_ceilings(settings: Settings) -> ToolCeilings:
    """The ``THREADLINE_TOOL_*`` settings as the runner's ceilings."""
    return ToolCeilings(
        max_seconds=settings.tool_max_seconds,
        memory_mb=settings.tool_memory_mb,
        max_concurrent=settings.tool_max_concurrent,
        max_concurrent_per_team=settings.tool_max_concurrent_per_team,
        queue_seconds=settings.tool_queue_seconds,
    )


def knowledge_limits(settings: Settings) -> KnowledgeLimits:
    """The ``THREADLINE_KB_*`` settings as the knowledge bases' ceilings."""
    return KnowledgeLimits(
        max_knowledge_bases=settings.kb_max_knowledge_bases,
        max_documents=settings.kb_max_documents,
        max_document_bytes=settings.kb_max_document_bytes,
        max_chunks=settings.kb_max_chunks,
        chunk_chars=settings.kb_chunk_chars,
        chunk_overlap_chars=min(
            settings.kb_chunk_overlap_chars, settings.kb_chunk_chars // 2
        ),
        max_query_chars=settings.kb_max_query_chars,
        max_top_k=settings.kb_max_top_k,
        default_top_k=min(settings.kb_default_top_k, settings.kb_max_top_k),
    )


def embeddings_from_settings(settings: Settings) -> Embeddings | None:
    """The knowledge bases' embeddings model (None: lexical search only)."""
    if not settings.embeddings_model:
        return None
    if settings.llm_override_url:
        return Embeddings(
            model=settings.embeddings_model,
            base_url=settings.llm_override_url,
            override=True,
        )
    return Embeddings(
        model=settings.embeddings_model,
        base_url=settings.embeddings_url or OPENAI_BASE_URL,
        server_key=secret(settings.openai_api_key),
    )


def attach(store: Store, runtime: Runtime) -> None:
    """Give the runtime this store's knowledge-base retriever (unless it has one)."""
    if runtime.retriever is None:
        runtime.retriever = StoreRetriever(store, runtime)


def runtime_from_settings(settings: Settings) -> Runtime:
    """The production runtime: real LLM clients routed by each call's config.

    The server's provider keys, Azure endpoint, AWS region, default model and
    override endpoint come from ``settings`` (``ServerKeys.from_settings``); tenant
    LLM URLs connect through the SSRF guard (``THREADLINE_HTTP_ALLOW_PRIVATE``,
    ``THREADLINE_LLM_ALLOWED_HOSTS``).
    """
    from threadline.providers.builders import warm_up
    from threadline.providers.groups import GroupLLM
    from threadline.providers.keys import ServerKeys
    from threadline.providers.router import ConfigurableLLM
    from threadline.tools.llm_endpoints import EndpointGuard

    warm_up()

    allowed = settings.llm_allowed_host_set()
    guard = EndpointGuard(
        HttpPolicy(allow_private=settings.http_allow_private, allowed_hosts=allowed)
    )
    llm = ConfigurableLLM(
        keys=ServerKeys.from_settings(settings, guard=guard), group_factory=GroupLLM
    )
    runtime = Runtime(
        llm=llm,
        http_allow_private=settings.http_allow_private,
        llm_allowed_hosts=allowed,
        team_max_concurrent_runs=settings.team_max_concurrent_runs,
        worker_id=settings.worker_id or f"w-{secrets.token_hex(8)}",
        worker_dead_seconds=settings.worker_dead_seconds,
        command_wait_seconds=settings.command_wait_seconds,
        history_cache=HistoryCache(settings.history_cache_runs),
        run_cache=RunCache(settings.run_cache_size),
        version_cache=StampedCache(settings.version_cache_size),
        subscriptions=StampedCache(settings.version_cache_size),
        tool_ceilings=tool_ceilings(settings),
        mcp_limits=McpLimits(
            timeout_s=settings.mcp_timeout_seconds,
            max_tools=settings.mcp_max_tools,
            max_result_chars=settings.mcp_max_result_chars,
            max_servers=settings.mcp_max_servers,
        ),
        render_limits=RenderLimits(
            max_chars=settings.template_max_chars,
            max_work=settings.template_max_work,
            max_steps=settings.template_max_steps,
        ),
        embeddings=embeddings_from_settings(settings),
        knowledge_limits=knowledge_limits(settings),
    )
    if settings.executor == "dbos":  # turns as DBOS workflows
        from threadline.service.running import dbos_executor

        dbos_executor.install(runtime, settings)
    return runtime


def setup_telemetry(settings: Settings) -> None:
    """Metrics labels and tracing from the settings and ``OTEL_*`` (entry points).

    Tracing stays as it is when ``OTEL_TRACES_EXPORTER`` names no exporter (a
    test may have installed its own)."""
    metrics.configure(
        per_team=settings.metrics_per_team, label_limit=settings.metrics_label_limit
    )
    if not tracing.enabled():
        tracing.configure(content=settings.trace_content)


async def read_gauges(store: Store) -> metrics.Gauges:
    """The state gauges of ``/metrics``, read from the database now."""
    async with store.begin() as tx:
        counts = await tx.operator_counts(datetime.now(UTC))
    return metrics.Gauges(
        runs_by_status=counts.runs_by_status,
        commands_pending=counts.commands_pending,
        start_queue_depth=counts.starts_due,
    )


async def reap_once(store: Store, runtime: Runtime, settings: Settings) -> list[str]:
    """One reaper pass, if this process holds the reaper lease."""
    now = datetime.now(UTC)
    hold = timedelta(seconds=max(settings.reaper_interval_seconds * 3, 5))
    async with store.begin() as tx:
        held = await tx.workers().take_lease(
            REAPER_LEASE, runtime.worker_id, now, now + hold
        )
    if not held:
        return []
    idle = settings.run_idle_ttl_seconds
    return await reaper.reap(
        store,
        now=now,
        max_turn=timedelta(seconds=settings.max_turn_seconds),
        idle_ttl=timedelta(seconds=idle) if idle else None,
    )


async def reap_forever(store: Store, runtime: Runtime, settings: Settings) -> None:
    """Run the stale-run reaper every ``reaper_interval_seconds`` (0: never)."""
    if settings.reaper_interval_seconds <= 0:
        return
    while True:
        await asyncio.sleep(settings.reaper_interval_seconds)
        try:
            await reap_once(store, runtime, settings)
        except Exception:  # a failed pass is retried on the next tick
            log.exception("stale-run reaper pass failed")


async def fire_due(
    store: Store,
    runtime: Runtime,
    *,
    now: datetime,
    stuck_after: timedelta = DEFAULT_STUCK_AFTER,
    teams: Collection[str] | None = None,
) -> PassReport:
    """One scheduler pass: recover stuck starts, then start every due one that can
    start (``service.automation.start_queue.dispatch``)."""
    return await start_queue.dispatch(
        store, runtime, run_one_turn, now=now, stuck_after=stuck_after, teams=teams
    )


async def schedule_forever(store: Store, runtime: Runtime, settings: Settings) -> None:
    """Run ``fire_due`` at start and then every ``PASS_INTERVAL_S`` seconds."""
    stuck_after = timedelta(seconds=max(settings.max_turn_seconds, 60))
    while True:
        try:
            await fire_due(
                store, runtime, now=datetime.now(UTC), stuck_after=stuck_after
            )
        except Exception:  # a failed pass is retried on the next tick
            scheduler.log.exception("scheduler pass failed")
        await asyncio.sleep(scheduler.PASS_INTERVAL_S)


def start(
    store: Store, runtime: Runtime, settings: Settings, *, kind: str
) -> list["asyncio.Task[None]"]:
    """Start the periodic work of a ``kind`` (``serve`` or ``worker``) process."""
    policy = webhook_delivery.DeliveryPolicy(allow_private=settings.http_allow_private)
    attach(store, runtime)
    if settings.executor == "dbos":  # launched on this loop: it runs turns here
        from threadline.service.running import dbos_executor

        dbos_executor.start(store, runtime)
    return [
        asyncio.create_task(
            recovery.live_forever(
                store, runtime, kind=kind, interval=settings.heartbeat_seconds
            )
        ),
        asyncio.create_task(reap_forever(store, runtime, settings)),
        asyncio.create_task(schedule_forever(store, runtime, settings)),
        asyncio.create_task(webhook_delivery.deliver_forever(store, policy)),
        asyncio.create_task(Driver(store, runtime, run_one_turn).run_forever()),
        asyncio.create_task(ingest.ingest_forever(store, runtime)),
        asyncio.create_task(replay_checks.work_forever(store, runtime)),
    ]


async def stop(
    store: Store, runtime: Runtime, loops: list["asyncio.Task[None]"]
) -> None:
    """Stop the loops, let turns in flight finish briefly, leave the live workers.

    Turns still running after the grace period are cancelled and stay ``running``
    in the database; another process resumes them.
    """
    for task in loops:
        task.cancel()
    for task in loops:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await runtime.drain(timeout=10.0)
    # the DBOS executor (service.running.dbos_executor)
    if runtime.launcher is not None:
        from threadline.service.running import dbos_executor

        await dbos_executor.shutdown(runtime)
    with contextlib.suppress(Exception):
        await recovery.sign_off(store, runtime)
