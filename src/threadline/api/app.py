"""``create_app(settings)``: the FastAPI application, served under two prefixes.

Routes live under ``/v1`` and again under ``/workflows/v1`` (the gateway prefix the
Interactly SDK may use). Start-up opens the store, migrates it and makes the
bootstrap API key valid.
"""

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from threadline import __version__
from threadline.api import access_log, errors, openapi
from threadline.api.console import mount as console
from threadline.api.deps import check_llm_urls
from threadline.api.hot_path import App, Limits, hot_routes
from threadline.api.hot_routes import HOT_UNVERSIONED, hot_router
from threadline.api.json_guard import JsonGuard
from threadline.api.limits import BodyLimit
from threadline.api.routes import (
    catalogue,
    credentials,
    global_variables,
    health,
    knowledge,
    llm_configs,
    managed_prompts,
    metrics,
    parts,
    replay_checks,
    reruns,
    reuse,
    run_feedback,
    runs,
    schedules,
    simulations,
    stream,
    teams,
    tool_runs,
    upgrades,
    versions,
    webhooks,
    workflows,
)
from threadline.api.tracing import TraceRequests
from threadline.service import processes
from threadline.service.processes import runtime_from_settings
from threadline.service.runtime import Runtime
from threadline.service.team import auth, team_cache
from threadline.service.team.global_variables import check_startup
from threadline.settings import Settings
from threadline.store import Store, open_store

PREFIXES = ("/v1", "/workflows/v1")
log = logging.getLogger("threadline.api")


def build_router() -> APIRouter:
    """All versioned routes, without a prefix."""
    router = APIRouter()
    # Bodies that may carry LLM configs get their URLs checked (SSRF guard).
    checked = [Depends(check_llm_urls)]
    # Fixed paths under /workflows/ come before /workflows/{workflow_id}.
    router.include_router(catalogue.router)
    router.include_router(versions.router, dependencies=checked)
    router.include_router(schedules.router)
    router.include_router(workflows.router, dependencies=checked)
    router.include_router(llm_configs.router, dependencies=checked)
    router.include_router(tool_runs.router)
    router.include_router(parts.router, dependencies=checked)
    router.include_router(runs.router)
    router.include_router(run_feedback.router)
    router.include_router(reruns.router)
    router.include_router(stream.router)
    router.include_router(teams.router)
    router.include_router(credentials.router)
    router.include_router(global_variables.router)
    router.include_router(webhooks.router)
    router.include_router(reuse.router, dependencies=checked)
    router.include_router(simulations.router)
    router.include_router(knowledge.router)
    router.include_router(managed_prompts.router)
    router.include_router(upgrades.router)
    router.include_router(replay_checks.router)
    return router


async def bootstrap(store: Store, settings: Settings) -> None:
    """Migrate the store, check the secret key and register the bootstrap API key.

    Refuses to start (``ConfigError``) when secret global variables are stored and
    ``THREADLINE_SECRET_KEY`` is unset, or when the key is not a valid Fernet key.
    """
    team_cache.configure(
        store, settings.auth_cache_seconds, settings.team_cache_seconds
    )
    await store.migrate()
    await check_startup(store, settings.secret_key)
    if settings.bootstrap_api_key is not None:
        await auth.create_key(
            store,
            settings.bootstrap_team_id,
            settings.bootstrap_user_id,
            name="bootstrap",
            secret=settings.bootstrap_api_key.get_secret_value(),
        )


GC_THRESHOLDS = (50_000, 20, 20)
"""The collector's thresholds once start-up is done (Python's defaults: 700, 10,
10): a young collection every 50,000 net allocations of container objects, an
older one every 20 of those, a full one every 20 older ones (and only when the
objects that survived since the last full one are a quarter of the unfrozen
heap, as always)."""


def freeze_heap() -> None:
    """Move every object alive now out of the garbage collector's reach.

    After start-up the heap holds a million or more objects (modules, classes,
    schemas, the provider stack) that live as long as the process. Under load,
    objects of the requests in flight outlive the young generations and reach the
    old one, so full collections come every few seconds, and each walked that
    whole heap (~0.4 s on the benchmark box, a few ms a request). Frozen objects
    are never walked (nor freed: only what start-up built is frozen).

    Then the collector's thresholds are raised (``GC_THRESHOLDS``): with the
    default 700 allocations a young collection ran many times a turn, each
    walking the young objects of every request in flight; at 50,000 the HTTP row
    spent 8-12% less of ``serve``'s CPU a turn (docs/benchmarks.md, "And one more:
    the collector's thresholds"), for a few MB more of garbage awaiting collection.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def create_app(
    settings: Settings,
    store: Store | None = None,
    runtime: Runtime | None = None,
    *,
    freeze: bool = False,
) -> FastAPI:
    """Build the app; a given ``store``/``runtime`` is used as is (tests).

    ``freeze``: :func:`freeze_heap` once start-up is done (``threadline serve``;
    not in tests, which build many apps in one process).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = store is None
        app.state.store = (
            store
            if store is not None
            else open_store(
                settings.database_url,
                sqlite_synchronous=settings.sqlite_synchronous,
            )
        )
        await bootstrap(app.state.store, settings)
        loops = processes.start(
            app.state.store, app.state.runtime, settings, kind="serve"
        )
        if freeze:
            freeze_heap()
        try:
            yield
        finally:
            await processes.stop(app.state.store, app.state.runtime, loops)
            if owned:
                await app.state.store.close()

    app = App(title="Threadline", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    processes.setup_telemetry(settings)
    app.state.runtime = (
        runtime if runtime is not None else runtime_from_settings(settings)
    )
    if store is not None:
        app.state.store = store
        processes.attach(store, app.state.runtime)
    errors.install(app)
    openapi.install(app, PREFIXES)
    access_log.install()
    router = build_router()
    app.include_router(
        hot_router(health.router, HOT_UNVERSIONED), include_in_schema=False
    )
    hot = hot_router(runs.router)
    for prefix in PREFIXES:
        # The hot routes first (api/hot_routes.py), then every route in order.
        app.include_router(hot, prefix=prefix, include_in_schema=False)
        app.include_router(router, prefix=prefix, include_in_schema=prefix == "/v1")
    app.include_router(health.router)
    # The lean hot routes are also answered before the middlewares (api/hot_path.py),
    # which enforce the same limits.
    app.serve_hot(
        hot_routes(hot.routes, PREFIXES),
        Limits(settings.max_body_bytes, settings.max_json_depth),
    )
    console.install(app, settings)
    app.include_router(metrics.router)
    # Added first, so it runs inside BodyLimit: a body is measured, then checked.
    app.add_middleware(JsonGuard, max_depth=settings.max_json_depth)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        TraceRequests, prefixes=PREFIXES
    )  # outermost: the span covers the rest
    return app
