"""Executing runs turn by turn: the Execute endpoint's use case.

A run pins its workflow version and snapshots the fully hydrated config at its first
turn; later turns execute on that snapshot, so editing a version never changes a run
underneath it. Commands are accepted here (``service.running.run_commands``) and their
turns executed durably by ``service.running.turn_driver``.
"""

import asyncio
from dataclasses import replace
from typing import Any

from threadline.engine.turn import TurnOutcome
from threadline.errors import BadRequest, InvalidField
from threadline.ids import is_object_id, new_logical_id, new_object_id
from threadline.service import commands
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.definitions.wire import parse_input
from threadline.service.running import (
    run_commands,
    turn_answers,
    turn_driver,
    turn_endings,
    version_cache,
)
from threadline.service.running.run_commands import CommandInput
from threadline.service.runtime import Runtime
from threadline.service.team import admission, run_budgets
from threadline.service.team.global_variables import TeamGlobals, for_run_in
from threadline.service.turns import TurnRequest
from threadline.store import Command, Document, Duplicate, Store

JsonDict = dict[str, Any]


def _pick_version(doc: Document, query_version: int | None, raw_input: JsonDict) -> int:
    if query_version is not None:
        return query_version
    explicit = raw_input.get("version_number")
    if isinstance(explicit, int):
        return explicit
    return int(doc.body.get("active_version_number", 0))


async def _new_run(
    store: Store, caller: Caller, runtime: Runtime, given: CommandInput
) -> tuple[Document, Command, TeamGlobals]:
    """Create the run and its first command, running here, if a concurrency slot
    is free (else 429; the server's default team limit is in ``runtime``, see
    ``service.team.admission``)."""
    workflow_id, query_version = given.request.workflow_id, given.request.query_version
    raw_input = given.request.raw_input
    async with store.begin() as tx:
        team = await for_run_in(tx, store, caller.team_id)
        run_input = run_commands.without_secrets(given.run_input, team)
        given = replace(given, run_input=run_input)
        workflow = await wf.get_doc(tx, caller, workflow_id)
        number = _pick_version(workflow, query_version, raw_input)
        cache = runtime.version_cache
        ready = await version_cache.hydrate(tx, caller, cache, workflow_id, number)
        snapshot = ready.snapshot
        if not ready.has_start and not run_input.get("start_node_logical_id"):
            raise BadRequest(
                f"workflow {workflow_id!r} version {number} has no start node; "
                "mark one node is_start"
            )
        settings = await admission.read_settings(tx, caller.team_id)
        await admission.admit(
            tx, caller, workflow, runtime.team_max_concurrent_runs, settings
        )
        budget = await run_budgets.for_new_run(
            tx, caller.team_id, snapshot, run_input, settings
        )
        run_id = new_object_id()
        now = wf.now()
        record: JsonDict = {
            "logical_id": new_logical_id("workflow_run"),
            "workflow_id": workflow_id,
            "voice_conversation_id": None,
            "version_number": number,
            "status": "not_started",
            "termination_source": None,
            "input_output_pairs": [],
            "run_by": run_input.get("run_by"),
            "comments": [],
            "llm_token_usage": None,
            "llm_latency_stats": None,
            "version_name": ready.version_name,
            "workflow_config_fully_hydrated": snapshot,
            "workflow_run_id": run_id,
            "miscellaneous": run_input.get("miscellaneous") or {},
            "source_workflow_run_id": None,
            "checkpoint_source_turn_index": None,
            "carried_over_llm_token_usage": None,
            "carried_over_llm_latency_stats": None,
            "is_evaluation_run": False,
            "evaluation_run_info": None,
        }
        if budget:
            record["run_budget"] = budget
        doc = Document(
            id=run_id,
            team_id=caller.team_id,
            body={"workflow_run": record, "state": None, "turn_count": 0},
            created_at=now,
            updated_at=now,
            created_by=caller.user_id,
            updated_by=caller.user_id,
            workflow_id=workflow_id,
            version_number=number,
            logical_id=record["logical_id"],
            name=record["run_by"],
            status="running",
            search_text=str(record["run_by"] or "").lower(),
        )
        version_cache.stored(tx, caller.team_id, run_id, ready)
        await tx.documents("workflow_runs").insert(doc)
        ref = version_cache.committed_ref(tx, caller.team_id, run_id)
        command = run_commands.new_command(
            caller,
            run_id,
            0,
            given,
            running=True,
            worker_id=runtime.worker_id,
            extra={
                "env": turn_endings.turn_env(runtime, 0),
                "previous": "not_started",
                "created": True,
            },
        )
        await tx.commands().insert(command)
    version_cache.keep(cache, (caller.team_id, workflow_id, number), ready, ref)
    return doc, command, team


async def _answer(
    store: Store,
    runtime: Runtime,
    found: Command,
    fingerprint: str | None,
) -> tuple[Document, TurnOutcome]:
    """A retried ``Idempotency-Key``: the first attempt's answer, never a new turn."""
    run_commands.check_key(found, fingerprint)
    return await turn_answers.wait_for(store, runtime, found)


async def run_one_turn(
    store: Store, caller: Caller, runtime: Runtime, request: TurnRequest
) -> tuple[Document, TurnOutcome]:
    """Validate and accept one command, and return its turn once it has run.

    The turn runs in a task of its own (``service.running.turn_driver``): durably,
    after the turns queued before it on the run. With an ``idempotency_key``, a
    retry of the same request gets the same answer.
    """
    run_input = parse_input(request.raw_input, request.field)
    if request.pump:
        run_input["command"] = "pump"
    command = run_input.get("command") or "start"
    key, run_id = request.idempotency_key, request.run_id
    fingerprint = (
        run_commands.request_hash(
            request.workflow_id, run_id, run_input, request.query_version
        )
        if key
        else None
    )
    if key:
        found = await run_commands.find_by_key(store, caller.team_id, key)
        if found is not None:
            return await _answer(store, runtime, found, fingerprint)
    if run_id is not None and not is_object_id(run_id):
        raise InvalidField(f"run_id: {run_id!r} is not a 24-hex id")
    given = CommandInput(request, run_input, fingerprint)
    team: TeamGlobals | None
    try:
        if run_id is None:
            commands.check(None, command)
            doc, cmd, team = await _new_run(store, caller, runtime, given)
            start = True
        else:
            accepted = await run_commands.accept(store, runtime, caller, run_id, given)
            doc, cmd, start = accepted.run, accepted.command, accepted.start
            team = accepted.team
    except Duplicate:
        # The same key arrived twice at once: the other request owns the turn.
        found = await run_commands.find_by_key(store, caller.team_id, key or "")
        if found is None:
            raise
        return await _answer(store, runtime, found, fingerprint)
    if request.on_run is not None:  # the run's id is known before its turn ends
        request.on_run(doc.id)
    runtime.waiters[cmd.id] = asyncio.get_running_loop().create_future()
    if request.stream is not None:
        runtime.sinks[cmd.id] = request.stream
    if start:
        first = turn_driver.Prepared(doc, team) if team is not None else None
        if runtime.launcher is not None:
            await runtime.launcher(store, runtime, cmd, first)
        else:
            runtime.spawn(
                turn_driver.drive(store, runtime, cmd, run_one_turn, first=first)
            )
    return await turn_answers.wait_for(store, runtime, cmd, local=start)
