"""``threadline chat``: hold a conversation with a workflow in the terminal.

For authors testing their graphs. ``TARGET`` is either

- a JSON file holding a fully hydrated workflow config (the body ``POST
  /v1/workflows`` accepts: ``name``, ``workflow_config``, ``node_configs``,
  ``edge_configs``), or
- a 24-hex workflow id of the team (``--team-id``, default the bootstrap team),
  run from the configured database (``THREADLINE_DATABASE_URL``).

Where a config file runs (decided here): in a **throwaway SQLite database** in a
temporary directory, deleted on exit, whatever ``THREADLINE_DATABASE_URL`` says, so
trying out a file never leaves workflows or runs behind in a real database (nor
needs one). ``--save`` creates the file's workflow in the configured database
instead and prints its id, so the run can be inspected over the API afterwards. A
workflow id always runs in the configured database, and its run is recorded there
like one started through ``POST /v1/workflows/{id}/execute``.

The conversation drives :func:`threadline.service.running.runs.run_one_turn` in process,
with the runtime built from the settings (so ``THREADLINE_LLM_OVERRIDE_URL`` and
``THREADLINE_HTTP_ALLOW_PRIVATE`` apply). The first turn is ``start`` with no
messages (``--dynamic KEY=VALUE`` pairs become its ``dynamic_variables``, as
strings); every ``assistant_response`` is printed as ``assistant> …`` (companion
threads as ``assistant[<thread>]> …``) and ``workflow_warning`` messages as
``-- warning: …``. Then each line typed at ``you> `` is sent as a user message
(``data``; ``resume`` when the run is paused) until the run is over (completed,
cancelled, failed, aborted). ``/quit``, end of input (Ctrl-D) and Ctrl-C send
``stop``, which cancels the run. Empty lines are ignored.

``--events`` also prints every event, in order, as one compact JSON line: the
``type`` and its key fields (envelope ids, timestamps, node/edge display names,
usage blocks, node run inputs/outputs and stack traces are left out; the thread is
shown only when it is not the main thread ``0``; LLM usage shrinks to ``tokens``;
long strings are cut at 200 characters).

Exit status: 0 when the run completed or was stopped; 1 when it failed or was
aborted; 2 on a usage error (unknown workflow, unreadable or invalid file, bad
``--dynamic`` pair or ``--team-id``), printed as ``error: …`` without a traceback.

Tests replace :data:`runtime_factory` (e.g. with a ``ScriptedLLM`` runtime).
"""

import asyncio
import contextlib
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from threadline.errors import ThreadlineError
from threadline.ids import is_object_id
from threadline.service.caller import Caller
from threadline.service.commands import TERMINAL
from threadline.service.definitions import workflows
from threadline.service.processes import runtime_from_settings
from threadline.service.running import runs
from threadline.service.runtime import Runtime
from threadline.service.turns import TurnRequest
from threadline.settings import Settings
from threadline.store import Store, open_store

__all__ = ["chat", "compact_event", "runtime_factory"]

JsonDict = dict[str, Any]

runtime_factory: Callable[[Settings], Runtime] = runtime_from_settings
"""Builds the runtime from the settings; tests replace it."""

QUIT = "/quit"
FAILED = frozenset({"failed", "aborted_looping_risk"})
MAX_TEXT = 200
_HIDDEN_FIELDS = frozenset(
    {
        "logical_id",
        "timestamp",
        "thread_reference_id",
        "comments",
        "interrupted",
        "origin_node_name",
        "origin_node_run_id",
        "source_node_name",
        "destination_node_name",
        "edge_name",
        "edge_run_id",
        "response_metadata",
        "run_input",
        "run_output",
        "run_input_output_pair",
        "llm_token_usage",
        "llm_latency_stats",
        "stack_trace",
        "chat_history",
    }
)


class UsageProblem(Exception):
    """A bad argument or file: reported as ``error: …`` with exit status 2."""


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return value[: MAX_TEXT - 1] + "…"
    return value


def compact_event(event: JsonDict) -> JsonDict:
    """The event's ``type`` and key fields, for one ``--events`` line."""
    out: JsonDict = {"type": event.get("type")}
    for key, value in event.items():
        if key in _HIDDEN_FIELDS or key == "type" or value in (None, "", [], {}):
            continue
        if key == "origin_thread_id":
            if value != "0":
                out["thread"] = value
        elif key == "llm_usage_info":
            if isinstance(value, dict) and value.get("total_tokens") is not None:
                out["tokens"] = value["total_tokens"]
        elif key == "message" and isinstance(value, dict) and "content" in value:
            out["message"] = _short(value["content"])
        else:
            out[key] = _short(value)
    return out


def _load_file(path: Path) -> JsonDict:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageProblem(f"cannot read {path}: {exc}") from exc
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageProblem(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise UsageProblem(f"{path} must hold a JSON object (a workflow config)")
    return body


def _resolve_target(target: str) -> tuple[str | None, JsonDict | None]:
    """``(workflow_id, None)`` for an id, ``(None, body)`` for a config file."""
    path = Path(target)
    if path.is_file():
        return None, _load_file(path)
    if is_object_id(target):
        return target, None
    raise UsageProblem(
        f"{target!r} is neither a readable workflow config file nor a 24-hex "
        "workflow id"
    )


def _parse_dynamic(pairs: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageProblem(f"--dynamic {pair!r}: expected KEY=VALUE")
        values[key.strip()] = value
    return values


def _user_message(text: str, command: str) -> JsonDict:
    return {
        "command": command,
        "thread_to_node_inputs": {
            "0": {
                "node_run_inputs": [
                    {"type": "llm", "messages": [{"type": "human", "content": text}]}
                ]
            }
        },
    }


class _Session:
    """One run of one workflow, driven turn by turn."""

    def __init__(
        self,
        store: Store,
        caller: Caller,
        runtime: Runtime,
        *,
        show_events: bool,
        version: int | None,
    ) -> None:
        self.store = store
        self.caller = caller
        self.runtime = runtime
        self.show_events = show_events
        self.version = version
        self.workflow_id = ""
        self.run_id: str | None = None
        self.status = "not_started"
        self.error: str | None = None

    async def create(self, body: JsonDict) -> JsonDict:
        """Store the config file's workflow; return the created workflow."""
        created = await workflows.create(
            self.store, self.caller, body, ceilings=self.runtime.tool_ceilings
        )
        self.workflow_id = str(created["_id"])
        return created

    async def turn(self, raw_input: JsonDict) -> str:
        """Run one turn, print what it said, and return the run's status."""
        doc, outcome = await runs.run_one_turn(
            self.store,
            self.caller,
            self.runtime,
            TurnRequest(
                workflow_id=self.workflow_id,
                run_id=self.run_id,
                raw_input=raw_input,
                query_version=self.version if self.run_id is None else None,
                field="run_input",
            ),
        )
        self.run_id = doc.id
        self.status = str(doc.status)
        self.error = outcome.error
        for event in outcome.events:
            self._show(event)
        return self.status

    def _show(self, event: JsonDict) -> None:
        if self.show_events:
            line = json.dumps(compact_event(event), ensure_ascii=False, default=str)
            typer.echo(line)
        kind = event.get("type")
        thread = event.get("origin_thread_id") or "0"
        if kind == "assistant_response" and event.get("content"):
            who = "assistant" if thread == "0" else f"assistant[{thread}]"
            typer.echo(f"{who}> {event['content']}")
        elif kind == "workflow_warning" and not self.show_events:
            typer.echo(f"-- warning: {event.get('warning_message')}", err=True)


def _read_line() -> str:
    """The next line typed by the user; ``/quit`` at end of input or Ctrl-C."""
    try:
        return input("you> ")
    except (EOFError, KeyboardInterrupt):
        typer.echo("")
        return QUIT


def _converse(runner: asyncio.Runner, session: _Session, dynamic: JsonDict) -> str:
    """The loop: start, then one turn per typed line until the run is over."""
    first: JsonDict = {"command": "start"}
    if dynamic:
        first["dynamic_variables"] = dynamic
    status = runner.run(session.turn(first))
    typer.echo(f"-- run {session.run_id} {status}")
    while status not in TERMINAL:
        line = _read_line()
        text = line.strip()
        if text == QUIT:
            status = runner.run(session.turn({"command": "stop"}))
        elif text:
            command = "resume" if status == "paused" else "data"
            status = runner.run(session.turn(_user_message(line, command)))
        else:
            continue
        if status != "waiting_for_user_input":
            typer.echo(f"-- run {session.run_id} {status}")
    if status in FAILED and session.error:
        typer.echo(f"-- error: {session.error}", err=True)
    return status


def _run(
    settings: Settings,
    caller: Caller,
    target: tuple[str | None, JsonDict | None],
    *,
    database_url: str,
    show_events: bool,
    version: int | None,
    dynamic: JsonDict,
) -> str:
    workflow_id, body = target
    runtime = runtime_factory(settings)
    with asyncio.Runner() as runner:
        store = open_store(database_url)
        try:
            runner.run(store.migrate())
            session = _Session(
                store, caller, runtime, show_events=show_events, version=version
            )
            if body is not None:
                created = runner.run(session.create(body))
                typer.echo(f"-- workflow {session.workflow_id} ({created['name']})")
                for warning in created.get("warnings") or []:
                    typer.echo(f"-- warning: {warning.get('message')}", err=True)
            else:
                assert workflow_id is not None
                session.workflow_id = workflow_id
            return _converse(runner, session, dynamic)
        finally:
            runner.run(store.close())


def chat(
    target: Annotated[
        str, typer.Argument(help="A workflow config JSON file or a 24-hex workflow id")
    ],
    events: Annotated[
        bool, typer.Option("--events", help="Also print every event as JSON")
    ] = False,
    team_id: Annotated[
        str | None,
        typer.Option(help="Team that owns the workflow (default: the bootstrap team)"),
    ] = None,
    dynamic: Annotated[
        list[str] | None,
        typer.Option(help="A dynamic variable KEY=VALUE (repeatable)"),
    ] = None,
    version: Annotated[
        int | None,
        typer.Option(min=0, help="Version to run (default: the active one)"),
    ] = None,
    save: Annotated[
        bool,
        typer.Option(
            "--save",
            help="Create a config file's workflow in the configured database "
            "instead of a temporary one",
        ),
    ] = False,
) -> None:
    """Hold a conversation with a workflow in the terminal (for testing graphs)."""
    settings = Settings()
    team = team_id or settings.bootstrap_team_id
    try:
        if not is_object_id(team):
            raise UsageProblem(f"--team-id {team!r} must be a 24-hex id")
        values = _parse_dynamic(dynamic or [])
        resolved = _resolve_target(target)
    except UsageProblem as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    caller = Caller(team_id=team, user_id=settings.bootstrap_user_id)
    if sys.stdin.isatty():
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401  (line editing and history for input())
    with tempfile.TemporaryDirectory(
        prefix="threadline-chat-", ignore_cleanup_errors=True
    ) as scratch:
        throwaway = resolved[1] is not None and not save
        url = (
            f"sqlite+aiosqlite:///{Path(scratch) / 'chat.db'}"
            if throwaway
            else settings.database_url
        )
        try:
            status = _run(
                settings,
                caller,
                resolved,
                database_url=url,
                show_events=events,
                version=version,
                dynamic=dict(values),
            )
        except ThreadlineError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(2) from exc
    if status in FAILED:
        raise typer.Exit(1)
