"""Executing runs turn by turn: the Execute endpoint's use case.

A run pins its workflow version and snapshots the fully hydrated config at its first
turn; later turns execute on that snapshot, so editing a version never changes a run
underneath it.
"""

import asyncio
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from threadline import config
from threadline.engine.graph import compile_graph
from threadline.engine.inputs import InvalidInput, TurnEnv
from threadline.engine.state import RunState
from threadline.engine.steps import NodeResult, NodeTask
from threadline.engine.turn import TurnOutcome, run_turn
from threadline.engine.usage import latency_stats, token_usage
from threadline.errors import BadRequest, Conflict, InvalidField, NotFound
from threadline.ids import is_object_id, new_logical_id, new_object_id
from threadline.nodes.base import Ports
from threadline.nodes.registry import executor_for
from threadline.service import (
    admission,
    commands,
    costs,
    evaluations,
    supernodes,
    webhooks,
    wire,
)
from threadline.service import graph as graphs
from threadline.service import workflows as wf
from threadline.service.caller import Caller
from threadline.service.global_variables import for_run as team_globals
from threadline.service.llm_config_refs import resolve_llm_refs
from threadline.service.run_reader import StoreRunReader
from threadline.service.runtime import Runtime, builtin_variables
from threadline.service.secrets import redact_turn
from threadline.store import Document, Store

JsonDict = dict[str, Any]
Sink = Callable[[JsonDict], Awaitable[None]]
# The longest wait before a node runs (``time_between_retries`` is at most 300 s).
_MAX_INLINE_DELAY_S = 300.0


def parse_input(raw: Any, field: str) -> JsonDict:
    """Validate a ``WorkflowRunInput`` (422 naming the bad field)."""
    try:
        model = config.WorkflowRunInput.model_validate(raw)
    except ValidationError as exc:
        raise wire.invalid(exc, "run input", field) from exc
    return config.dump(model)


async def _load_run(store: Store, caller: Caller, run_id: str) -> Document:
    if not is_object_id(run_id):
        raise InvalidField(f"run_id: {run_id!r} is not a 24-hex id")
    async with store.begin() as tx:
        doc = await tx.documents("workflow_runs").get(caller.team_id, run_id)
    if doc is None:
        raise NotFound(f"workflow run {run_id!r} not found")
    return doc


def _pick_version(doc: Document, query_version: int | None, raw_input: JsonDict) -> int:
    if query_version is not None:
        return query_version
    explicit = raw_input.get("version_number")
    if isinstance(explicit, int):
        return explicit
    return int(doc.body.get("active_version_number", 0))


async def _new_run(
    store: Store,
    caller: Caller,
    workflow_id: str,
    run_input: JsonDict,
    raw_input: JsonDict,
    query_version: int | None,
    team_default: int | None = None,
) -> Document:
    """Create the run (``not_started``), if a concurrency slot is free (else 429).

    ``team_default`` is the server's default team limit; see ``service.admission``.
    """
    async with store.begin() as tx:
        workflow = await wf.get_doc(tx, caller, workflow_id)
        number = _pick_version(workflow, query_version, raw_input)
        version = await wf.get_version_doc(tx, caller, workflow_id, number)
        graph = await graphs.load(tx, caller.team_id, version)
        snapshot = await supernodes.expand_for_run(
            tx, caller, graph.hydrated(), workflow_id=workflow_id
        )
        snapshot = await resolve_llm_refs(tx, caller.team_id, snapshot)
        if compile_graph(snapshot).start is None and not run_input.get(
            "start_node_logical_id"
        ):
            raise BadRequest(
                f"workflow {workflow_id!r} version {number} has no start node; "
                "mark one node is_start"
            )
        await admission.admit(tx, caller, workflow, team_default)
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
            "version_name": version.body.get("version_name"),
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
            status="not_started",
            search_text=str(record["run_by"] or "").lower(),
        )
        await tx.documents("workflow_runs").insert(doc)
    return doc


async def _claim(store: Store, doc: Document, caller: Caller) -> Document:
    """Mark the run ``running`` unless another turn got there first (409).

    Only the status column changes: the run's body is not rewritten.
    """
    at = wf.now()
    async with store.begin() as tx:
        if not await tx.documents("workflow_runs").set_status(
            caller.team_id,
            doc.id,
            "running",
            expected_status=doc.status,
            at=at,
            by=caller.user_id,
        ):
            raise Conflict(
                "a turn of this run is in progress; retry when it has finished"
            )
    return replace(doc, status="running", updated_at=at, updated_by=caller.user_id)


async def _execute_node(task: NodeTask, ports: Ports, runtime: Runtime) -> NodeResult:
    if task.delay_s > 0:
        await asyncio.sleep(min(task.delay_s, _MAX_INLINE_DELAY_S))
    try:
        result = await executor_for(task.node.get("type", ""))(task, ports)
    except Exception as exc:  # an executor bug must fail the run, not the request
        result = NodeResult(
            error=f"node {task.node.get('logical_id')!r} failed: {exc}",
            stack_trace=traceback.format_exc(),
        )
    result.finished_at = runtime.clock()
    return result


async def _drive(
    state: RunState,
    snapshot: JsonDict,
    run_input: JsonDict,
    ports: Ports,
    runtime: Runtime,
    globals_: JsonDict | None = None,
) -> TurnOutcome:
    env = TurnEnv(
        now=runtime.clock(),
        builtins=builtin_variables(runtime.clock(), runtime.rng)
        if state.turn == 0
        else {},
        globals_=globals_ or {},
        max_node_runs=runtime.max_node_runs_per_turn,
    )
    gen = run_turn(state, compile_graph(snapshot), run_input, env)
    try:
        task = next(gen)
        while True:
            task = gen.send(await _execute_node(task, ports, runtime))
    except StopIteration as stop:
        outcome: TurnOutcome = stop.value
        # No secret global reaches a response, an event or the stored run.
        return redact_turn(state, outcome, ports.secret_values)


def _pair(state: RunState, run_input: JsonDict, outcome: TurnOutcome) -> JsonDict:
    """The execution segment of one turn (``WorkflowRunInputOutputPair``)."""
    return {
        "run_input": run_input,
        "run_output": {
            "events": outcome.events,
            "thread_to_node_outputs": outcome.outputs,
        },
        "evaluation": None,
        "iteration_end_state_miscellaneous": {
            "thread_id_to_nodes_history": {
                t: s.visited for t, s in state.threads.items()
            },
            "active_thread_ids": state.active_thread_ids(),
        },
        "comments": [],
        "ratings": [],
    }


def _quiet_pump(run_input: JsonDict, outcome: TurnOutcome) -> bool:
    """A background pass that changed nothing is not worth a segment."""
    return (
        run_input.get("command") == "pump"
        and not outcome.outputs
        and not any(e["type"].endswith("_edge") for e in outcome.events)
    )


async def _record_turn(
    store: Store,
    doc: Document,
    state: RunState,
    run_input: JsonDict,
    outcome: TurnOutcome,
) -> Document:
    """Append the turn's segment and save the run (one transaction)."""
    run = dict(doc.body["workflow_run"])
    run.update(
        status=state.status,
        termination_source=state.termination_source,
        llm_token_usage=costs.with_costs(token_usage(state.usage)),
        llm_latency_stats=latency_stats(state.usage),
        loop_detected=state.loop_detected,
    )
    costs.price_events(outcome.events)
    count = int(doc.body.get("turn_count") or 0)
    at = wf.now()
    async with store.begin() as tx:
        if not _quiet_pump(run_input, outcome):
            pair = _pair(state, run_input, outcome)
            await tx.turns().append(doc.team_id, doc.id, count, pair, at)
            count += 1
        body = {"workflow_run": run, "state": state.to_json(), "turn_count": count}
        done = replace(doc, body=body, status=state.status, updated_at=at)
        await tx.documents("workflow_runs").replace(done)
    return done


def ports_for(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    stream: Sink | None = None,
    secret_values: tuple[str, ...] = (),
) -> Ports:
    """The executors' ports for one caller (``stream`` gets live text deltas)."""
    return Ports(
        secret_values=secret_values,
        stream=stream,
        llm=runtime.llm,
        clock=runtime.clock,
        team_id=caller.team_id,
        http_allow_private=runtime.http_allow_private,
        vendors=runtime.vendors,
        runs=StoreRunReader(store, caller.team_id),
        http_transport=runtime.http_transport,
        retriever=runtime.retriever,
    )


async def run_one_turn(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    *,
    workflow_id: str,
    run_id: str | None,
    raw_input: JsonDict,
    query_version: int | None,
    field: str,
    pump: bool = False,
    stream: Sink | None = None,
) -> tuple[Document, TurnOutcome]:
    """Validate, claim, execute and persist one turn; return the run and the turn.

    ``pump`` advances background work (scheduled threads, waiting edges) without
    consuming a user turn.
    """
    run_input = parse_input(raw_input, field)
    if pump:
        run_input["command"] = "pump"
    command = run_input.get("command") or "start"
    doc = await _load_run(store, caller, run_id) if run_id else None
    if doc is not None and doc.workflow_id != workflow_id:
        raise NotFound(
            f"workflow run {run_id!r} not found for workflow {workflow_id!r}"
        )
    commands.check(doc.status if doc else None, command)
    created = doc is None
    if doc is None:
        doc = await _new_run(
            store,
            caller,
            workflow_id,
            run_input,
            raw_input,
            query_version,
            runtime.team_max_concurrent_runs,
        )
    previous = doc.status
    doc = await _claim(store, doc, caller)
    state_json = doc.body.get("state")
    state = RunState.from_json(state_json) if state_json else RunState(run_id=doc.id)
    try:
        snapshot = doc.body["workflow_run"]["workflow_config_fully_hydrated"]
        team = await team_globals(store, caller.team_id)
        outcome = await _drive(
            state,
            snapshot,
            run_input,
            ports_for(store, caller, runtime, stream, team.secret_values),
            runtime,
            team.values,
        )
    except InvalidInput as exc:
        await _undo(store, doc, previous, created)
        raise InvalidField(f"{field}: {exc}") from exc
    except BaseException as exc:
        await _safety_net(store, doc, exc)
        raise
    try:
        done = await _record_turn(store, doc, state, run_input, outcome)
    except BaseException as exc:
        await _safety_net(store, doc, exc)
        raise
    await webhooks.on_turn(store, caller, done, created=created, previous=previous)
    evaluations.schedule(store, caller, runtime, done)
    return done, outcome


async def _undo(
    store: Store, doc: Document, previous: str | None, created: bool
) -> None:
    """A rejected first turn leaves no run; a rejected later turn changes nothing."""
    if not created:
        await _release(store, doc, previous)
        return
    async with store.begin() as tx:
        await tx.documents("workflow_runs").delete(doc.team_id, doc.id)


async def _safety_net(store: Store, doc: Document, exc: BaseException) -> None:
    """An unexpected failure mid-turn must not leave the run active: fail it."""
    reason = f"turn aborted by an unexpected {type(exc).__name__}"
    run = {
        **doc.body["workflow_run"],
        "status": "failed",
        "termination_source": "finally_safety_net",
    }
    state = doc.body.get("state")
    if isinstance(state, dict):
        state = {
            **state,
            "status": "failed",
            "error": reason,
            "termination_source": "finally_safety_net",
        }
    failed = replace(
        doc,
        body={**doc.body, "workflow_run": run, "state": state},
        status="failed",
        updated_at=wf.now(),
    )
    async with store.begin() as tx:
        await tx.documents("workflow_runs").replace(failed, expected_status="running")


async def _release(store: Store, doc: Document, status: str | None) -> None:
    """Give a claimed run back its previous status after a rejected turn."""
    async with store.begin() as tx:
        await tx.documents("workflow_runs").set_status(
            doc.team_id,
            doc.id,
            status,
            expected_status="running",
            at=wf.now(),
            by=doc.updated_by,
        )
