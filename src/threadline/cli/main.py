"""``threadline`` command-line entry point (typer)."""

import asyncio
import contextlib
import importlib.util
from collections.abc import Awaitable, Callable, Coroutine
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer

from threadline.cli.chat import chat
from threadline.errors import ThreadlineError
from threadline.service.team import auth
from threadline.settings import Settings
from threadline.store import Store, open_store
from threadline.telemetry import logs, metrics, tracing

app = typer.Typer(
    help="Threadline: conversational LLM-agent workflows.", no_args_is_help=True
)
keys = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys, name="api-key")
app.command("chat")(chat)

T = TypeVar("T")


def _with_store(action: Callable[[Store], Awaitable[T]]) -> T:
    settings = Settings()

    async def run() -> T:
        store = open_store(
            settings.database_url, sqlite_synchronous=settings.sqlite_synchronous
        )
        try:
            await store.migrate()
            return await action(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except ThreadlineError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc


def _first_run(settings: Settings, console_url: str) -> None:
    """On a database without keys, create and print one development key (once)."""
    if not settings.console_dev_key or settings.bootstrap_api_key is not None:
        return
    team, user = settings.bootstrap_team_id, settings.bootstrap_user_id
    new = _with_store(lambda store: auth.first_run_key(store, team, user))
    if new is None:
        return
    typer.echo(
        f"\nThreadline console: {console_url}\n"
        "First run: a development API key was created for the default team.\n"
        "It is shown this once and never again; sign in with it:\n\n"
        f"    {new.secret}\n\n"
        "(Production: set THREADLINE_CONSOLE_DEV_KEY=0.)\n"
    )


class HttpParser(StrEnum):
    """``serve --http``: uvicorn's HTTP/1.1 implementation."""

    auto = "auto"
    httptools = "httptools"
    h11 = "h11"


_R = TypeVar("_R")


class EventLoop(StrEnum):
    """``serve --loop``: the asyncio event loop implementation."""

    auto = "auto"
    uvloop = "uvloop"
    asyncio = "asyncio"


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def server_http(choice: HttpParser) -> str:
    """The parser ``serve`` uses: httptools (C) when installed, else h11."""
    if choice is HttpParser.auto:
        return "httptools" if _installed("httptools") else "h11"
    return choice.value


def server_loop(choice: EventLoop) -> str:
    """The event loop ``serve`` uses: uvloop when installed, else asyncio's."""
    if choice is EventLoop.auto:
        return "uvloop" if _installed("uvloop") else "asyncio"
    return choice.value


def loop_name() -> str:
    """The event loop ``run_on_loop`` runs on."""
    return server_loop(EventLoop.auto)


def run_on_loop(main: Coroutine[Any, Any, _R]) -> _R:
    """Run the coroutine ``main`` on uvloop when installed, else asyncio's loop
    (what ``serve --loop auto`` runs its turns on)."""
    if _installed("uvloop"):
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    http: Annotated[
        HttpParser, typer.Option(help="HTTP/1.1 parser (auto: httptools if installed)")
    ] = HttpParser.auto,
    loop: Annotated[
        EventLoop, typer.Option(help="Event loop (auto: uvloop if installed)")
    ] = EventLoop.auto,
) -> None:
    """Run the HTTP API with its in-process worker."""
    import uvicorn

    from threadline.api.app import create_app

    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    host, port = host or settings.host, port or settings.port
    _first_run(settings, f"http://{host}:{port}/ui/")
    try:
        uvicorn.run(
            create_app(settings, freeze=True),
            host=host,
            port=port,
            log_level=settings.log_level,
            log_config=logs.uvicorn_log_config(),
            timeout_graceful_shutdown=settings.shutdown_grace_seconds,
            http=server_http(http),
            loop=server_loop(loop),
        )
    finally:
        tracing.shutdown()


@app.command()
def worker() -> None:
    """Run a worker alone (no HTTP): resume orphaned turns, reap, schedule and
    deliver webhooks. Start several, with ``serve`` processes, on one PostgreSQL."""
    import asyncio
    import signal

    from threadline.api import app as api_app
    from threadline.service import processes
    from threadline.service.processes import runtime_from_settings
    from threadline.store import open_store

    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    processes.setup_telemetry(settings)
    if settings.metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(
            settings.metrics_port,
            addr=settings.host,
            registry=metrics.process_registry(),
        )

    async def run() -> None:
        store = open_store(
            settings.database_url, sqlite_synchronous=settings.sqlite_synchronous
        )
        await api_app.bootstrap(store, settings)
        runtime = runtime_from_settings(settings)
        loops = processes.start(store, runtime, settings, kind="worker")
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        typer.echo(f"threadline worker {runtime.worker_id} running")
        try:
            # As ``serve`` does (``freeze_heap``): what start-up built is never
            # walked again by the collector's full collections.
            api_app.freeze_heap()
            await stopping.wait()
        finally:
            await processes.stop(store, runtime, loops)
            await store.close()

    try:
        run_on_loop(run())
    finally:
        tracing.shutdown()


@app.command("fake-llm")
def fake_llm(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1")] = 8612,
    latency_ms: Annotated[float, typer.Option(help="Delay before each answer")] = 0.0,
    log: Annotated[
        str | None,
        typer.Option(help="Append one JSON line per request to this file"),
    ] = None,
) -> None:
    """Run a keyless OpenAI-compatible fake model (for demos, tests, benchmarks)."""
    from threadline.providers.fake_server import FakeOpenAIServer, auto_reply

    async def run() -> None:
        server = FakeOpenAIServer(
            auto_reply(latency_ms),
            port=port,
            record=False,
            log_path=log,
            keep_alive=True,
        )
        await server.start()
        typer.echo(f"fake model at {server.base_url} (THREADLINE_LLM_OVERRIDE_URL)")
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    _with_store(lambda store: store.migrate())
    typer.echo("database is up to date")


@keys.command("create")
def create_key(
    team_id: Annotated[str, typer.Option(help="24-hex team id")],
    user_id: Annotated[str, typer.Option(help="user id the key acts as")],
    name: Annotated[str | None, typer.Option(help="label")] = None,
) -> None:
    """Create a key; its value is printed once and never stored."""
    new = _with_store(lambda store: auth.create_key(store, team_id, user_id, name=name))
    typer.echo(f"id={new.record.id} team_id={team_id} user_id={user_id}")
    typer.echo(new.secret)


@keys.command("list")
def list_keys(team_id: Annotated[str | None, typer.Option()] = None) -> None:
    """List keys (prefix only; values are never shown again)."""
    for key in _with_store(lambda store: auth.list_keys(store, team_id)):
        state = "revoked" if key.revoked_at else "active"
        typer.echo(
            f"{key.id} {key.prefix}… team={key.team_id} user={key.user_id} "
            f"{state} {key.name or ''}"
        )


@keys.command("revoke")
def revoke_key(key_id: str) -> None:
    """Revoke a key by id."""
    _with_store(lambda store: auth.revoke_key(store, key_id))
    typer.echo(f"revoked {key_id}")


def main() -> None:
    """Console-script entry point."""
    app()
