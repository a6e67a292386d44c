"""Re-runs: a new run that starts from a turn of an existing run.

The state at the checkpoint turn is rebuilt by replaying the source run's record
through the engine (``service.running.reruns.replay``); no node runs again. The new run
gets the source's config snapshot, copies of the turns up to the checkpoint, lineage
(``source_workflow_run_id``, ``checkpoint_source_turn_index``) and the usage spent up
to the checkpoint (``carried_over_llm_*``), and then continues like any run.

Only the ``EXACT`` mode is executed (same workflow, same config snapshot); preflight
reports what a different target would keep and drop. Re-run tokens (a projection
kept for later) are in ``service.running.reruns.tokens``.
"""

import asyncio
import copy
from dataclasses import dataclass, field
from typing import Any

from threadline.engine.graph import compile_graph
from threadline.engine.usage import latency_stats, token_usage
from threadline.errors import BadRequest, Conflict, InvalidField, NotFound
from threadline.ids import is_object_id, new_logical_id, new_object_id
from threadline.service.caller import Caller
from threadline.service.commands import TERMINAL
from threadline.service.definitions import graph as graphs
from threadline.service.definitions import workflows as wf
from threadline.service.running import costs, runs
from threadline.service.running.reruns.replay import replay
from threadline.service.runtime import Runtime
from threadline.service.team.global_variables import for_run as team_globals
from threadline.service.team.secrets import with_template_forms
from threadline.service.turns import TurnRequest
from threadline.store import Document, Query, Store, Transaction

JsonDict = dict[str, Any]

TOKEN_TTL_S = 900
HISTORY_MODES = ("FULL", "USER_AND_ASSISTANT_ONLY", "NONE")
MODES = ("PORTABLE", "REMAPPED", "EXACT")  # least to most strict
NO_SNAPSHOT = (
    "This run predates workflow config snapshots, so its state cannot be reconstructed."
)
_TARGET_KEYS = (
    "target_workflow_id",
    "target_version_number",
    "history_mode",
    "entry_node_logical_id",
    "node_id_map",
    "requested_mode",
)


class RerunTokenInvalid(BadRequest):
    """A re-run token that is unknown, expired or minted for another target."""

    code = "rerun_token_invalid"


def lineage_type(source_run_id: str) -> str:
    """The indexed ``type`` column of a re-run: its source run."""
    return f"rerun:{source_run_id}"


# --------------------------------------------------------------------------- source


@dataclass(slots=True)
class Source:
    doc: Document
    pairs: list[JsonDict]

    @property
    def record(self) -> JsonDict:
        record: JsonDict = self.doc.body["workflow_run"]
        return record

    @property
    def snapshot(self) -> JsonDict | None:
        snapshot = self.record.get("workflow_config_fully_hydrated")
        return snapshot if isinstance(snapshot, dict) else None


async def load_source(store: Store, caller: Caller, run_id: str) -> Source:
    if not is_object_id(run_id):
        raise NotFound(f"workflow run {run_id!r} not found")
    async with store.begin() as tx:
        doc = await tx.documents("workflow_runs").get(caller.team_id, run_id)
        if doc is None:
            raise NotFound(f"workflow run {run_id!r} not found")
        pairs = await tx.turns().list(caller.team_id, run_id)
    return Source(doc, pairs)


async def _replayed(
    store: Store, caller: Caller, runtime: Runtime, src: Source
) -> tuple[list[JsonDict], int | None, str | None]:
    """States after each turn that replays faithfully, plus the first failure."""
    if src.snapshot is None:
        return [], 0, NO_SNAPSHOT
    team = await team_globals(store, caller.team_id)
    done = replay(
        src.doc.id,
        src.snapshot,
        src.pairs,
        src.doc.body.get("state"),
        globals_=team.values,
        secrets=with_template_forms(team.secret_values, src.snapshot, team.values),
        max_node_runs=runtime.max_node_runs_per_turn,
        render_limits=runtime.render_limits,
    )
    return done.states, done.failed_at, done.reason


def _turn_verdicts(
    src: Source, states: list[JsonDict], failed_at: int | None, reason: str | None
) -> list[tuple[bool, str | None]]:
    last = len(src.pairs) - 1
    stored = isinstance(src.doc.body.get("state"), dict)
    out: list[tuple[bool, str | None]] = []
    for index in range(len(src.pairs)):
        if src.snapshot is None:
            out.append((False, NO_SNAPSHOT))
        elif index < len(states) or (index == last and stored):
            out.append((True, None))
        else:
            out.append((False, reason or "the turn cannot be replayed"))
    del failed_at
    return out


def _check_index(src: Source, turn_index: int) -> None:
    if turn_index < 0 or turn_index >= len(src.pairs):
        raise InvalidField(
            f"turn_index: run {src.doc.id!r} has turns 0..{len(src.pairs) - 1},"
            f" not {turn_index}"
            if src.pairs
            else f"turn_index: run {src.doc.id!r} has no recorded turn"
        )


async def _checkpoint(
    store: Store, caller: Caller, runtime: Runtime, src: Source, turn_index: int
) -> JsonDict:
    """The engine state right after turn ``turn_index`` of the source run."""
    _check_index(src, turn_index)
    if src.snapshot is None:
        raise Conflict(NO_SNAPSHOT, code="not_rerunnable")
    stored = src.doc.body.get("state")
    if turn_index == len(src.pairs) - 1 and isinstance(stored, dict):
        return copy.deepcopy(stored)
    states, _, reason = await _replayed(store, caller, runtime, src)
    if turn_index >= len(states):
        raise Conflict(
            f"turn {turn_index} cannot be re-run: {reason}", code="not_rerunnable"
        )
    return states[turn_index]


async def rerunnable_turns(
    store: Store, caller: Caller, runtime: Runtime, run_id: str
) -> JsonDict:
    """``RerunnableTurnsResponse``: each turn's verdict and how often it was re-run."""
    src = await load_source(store, caller, run_id)
    states, failed_at, reason = await _replayed(store, caller, runtime, src)
    counts = await _rerun_counts(store, caller, run_id)
    turns = [
        {
            "turn_index": index,
            "rerunnable": ok,
            "reason": why,
            "rerun_count": counts.get(index, 0),
        }
        for index, (ok, why) in enumerate(
            _turn_verdicts(src, states, failed_at, reason)
        )
    ]
    return {"workflow_run_id": run_id, "turns": turns}


async def rerun_ids(
    store: Store, caller: Caller, source_run_id: str, turn_index: int | None = None
) -> tuple[str, ...]:
    """Ids of the team's runs re-run from ``source_run_id`` (and that turn)."""
    async with store.begin() as tx:
        docs, _ = await tx.documents("workflow_runs").find(
            caller.team_id, Query(equals={"type": lineage_type(source_run_id)})
        )
    return tuple(
        d.id
        for d in docs
        if turn_index is None
        or d.body["workflow_run"].get("checkpoint_source_turn_index") == turn_index
    )


async def _rerun_counts(store: Store, caller: Caller, run_id: str) -> dict[int, int]:
    async with store.begin() as tx:
        docs, _ = await tx.documents("workflow_runs").find(
            caller.team_id, Query(equals={"type": lineage_type(run_id)})
        )
    counts: dict[int, int] = {}
    for d in docs:
        index = d.body["workflow_run"].get("checkpoint_source_turn_index")
        if isinstance(index, int):
            counts[index] = counts.get(index, 0) + 1
    return counts


# --------------------------------------------------------------------------- target


@dataclass(slots=True)
class Plan:
    """Where a re-run goes and how much of the source it keeps."""

    workflow_id: str
    version_number: int
    mode: str
    history_mode: str
    entry_node_logical_id: str | None
    node_matches: list[JsonDict]
    unmapped_node_ids: list[str]
    snapshot: JsonDict
    warnings: list[str] = field(default_factory=list)


def _target_params(body: JsonDict) -> JsonDict:
    unknown = sorted(set(body) - set(_TARGET_KEYS) - {"message"})
    if unknown:
        raise InvalidField(f"{unknown[0]}: unknown field")
    history = body.get("history_mode")
    if history is not None and history not in HISTORY_MODES:
        raise InvalidField(f"history_mode: one of {', '.join(HISTORY_MODES)}")
    requested = body.get("requested_mode")
    if requested is not None and requested not in MODES:
        raise InvalidField(f"requested_mode: one of {', '.join(MODES)}")
    target = body.get("target_workflow_id")
    if target is not None and (not isinstance(target, str) or not is_object_id(target)):
        raise InvalidField("target_workflow_id: a 24-hex workflow id")
    version = body.get("target_version_number")
    if version is not None and (
        not isinstance(version, int) or isinstance(version, bool) or version < 0
    ):
        raise InvalidField("target_version_number: a version number (integer >= 0)")
    mapping = body.get("node_id_map")
    if mapping is not None and (
        not isinstance(mapping, dict)
        or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
        )
    ):
        raise InvalidField("node_id_map: an object of source → target node ids")
    entry = body.get("entry_node_logical_id")
    if entry is not None and not isinstance(entry, str):
        raise InvalidField("entry_node_logical_id: a node logical id")
    return body


def _nodes(snapshot: JsonDict) -> list[JsonDict]:
    return [n for n in snapshot.get("node_configs") or [] if isinstance(n, dict)]


def _match(
    source: JsonDict, target: JsonDict, mapping: dict[str, str]
) -> tuple[list[JsonDict], list[str]]:
    targets = {str(n.get("logical_id")): n for n in _nodes(target)}
    by_name: dict[str, list[str]] = {}
    for node_id, node in targets.items():
        if node.get("name"):
            by_name.setdefault(str(node["name"]), []).append(node_id)
    matches: list[JsonDict] = []
    unmapped: list[str] = []
    for node in _nodes(source):
        node_id, name = str(node.get("logical_id")), node.get("name")
        if node_id in mapping and mapping[node_id] in targets:
            dest, how = mapping[node_id], "explicit"
        elif node_id in targets:
            dest, how = node_id, "identity"
        elif name and len(by_name.get(str(name), [])) == 1:
            dest, how = by_name[str(name)][0], "name"
        else:
            unmapped.append(node_id)
            continue
        matches.append(
            {
                "source_node_logical_id": node_id,
                "target_node_logical_id": dest,
                "matched_by": how,
                "source_node_name": name,
                "target_node_name": targets[dest].get("name"),
            }
        )
    return matches, unmapped


async def _plan(store: Store, caller: Caller, src: Source, body: JsonDict) -> Plan:
    params = _target_params(body)
    if src.snapshot is None:
        raise Conflict(NO_SNAPSHOT, code="not_rerunnable")
    source_wf = str(src.doc.workflow_id)
    source_version = int(src.record.get("version_number") or 0)
    target_wf = params.get("target_workflow_id") or source_wf
    version = params.get("target_version_number")
    same = target_wf == source_wf and version in (None, source_version)
    if same:
        number, snapshot = source_version, src.snapshot
    else:
        async with store.begin() as tx:
            workflow = await wf.get_doc(tx, caller, target_wf)
            number = (
                version
                if version is not None
                else int(workflow.body.get("active_version_number", 0))
            )
            version_doc = await wf.get_version_doc(tx, caller, target_wf, number)
            snapshot = (await graphs.load(tx, caller.team_id, version_doc)).hydrated()
    mapping = dict(params.get("node_id_map") or {})
    matches, unmapped = _match(src.snapshot, snapshot, mapping)
    if same:
        mode = "EXACT"
    elif matches and not unmapped:
        mode = "REMAPPED"
    else:
        mode = "PORTABLE"
    history = params.get("history_mode") or (
        "FULL" if same else "USER_AND_ASSISTANT_ONLY"
    )
    return Plan(
        workflow_id=target_wf,
        version_number=number,
        mode=mode,
        history_mode=history,
        entry_node_logical_id=params.get("entry_node_logical_id"),
        node_matches=matches,
        unmapped_node_ids=unmapped,
        snapshot=snapshot,
    )


def _require_exact(plan: Plan, body: JsonDict) -> None:
    requested = body.get("requested_mode")
    if requested and MODES.index(plan.mode) < MODES.index(requested):
        raise Conflict(
            f"requested_mode: {requested} is not possible for this target; the best"
            f" is {plan.mode}",
            code="rerun_mode_unavailable",
        )
    if plan.mode != "EXACT":
        raise InvalidField(
            "target_workflow_id: only EXACT re-runs (the source run's own workflow"
            f" and version) can be executed; this target resolves to {plan.mode}"
        )


# --------------------------------------------------------------------------- projection


def _is_memo(message: JsonDict) -> bool:
    metadata = message.get("response_metadata") or {}
    return metadata.get("navigation_message") == "true"


def displayed(message: Any) -> bool:
    """A user or assistant line a person would see (no memos, no tool traffic)."""
    if not isinstance(message, dict) or _is_memo(message):
        return False
    if message.get("tool_calls") or message.get("type") not in ("human", "ai"):
        return False
    content = message.get("content")
    return isinstance(content, str) and bool(content.strip())


def _apply_history_mode(state: JsonDict, mode: str) -> None:
    for thread in (state.get("threads") or {}).values():
        if mode == "NONE":
            thread["history"] = []
        elif mode == "USER_AND_ASSISTANT_ONLY":
            thread["history"] = [m for m in thread.get("history") or [] if displayed(m)]


def restored_count(state: JsonDict) -> int:
    return sum(
        1
        for thread in (state.get("threads") or {}).values()
        for m in thread.get("history") or []
        if displayed(m)
    )


def _variable_count(state: JsonDict) -> int:
    threads = state.get("threads") or {}
    return (
        len(state.get("dynamic") or {})
        + len(state.get("workflow_variables") or {})
        + sum(len(t.get("variables") or {}) for t in threads.values())
    )


def threads_view(state: JsonDict) -> list[JsonDict]:
    out: list[JsonDict] = []
    for thread_id, thread in (state.get("threads") or {}).items():
        shown = [m for m in thread.get("history") or [] if displayed(m)]
        out.append(
            {
                "thread_id": thread_id,
                "node_logical_id": thread.get("node"),
                "status": thread.get("status"),
                "resumable": thread_id == "0" and thread.get("status") != "ended",
                "messages": [
                    {
                        "index": i,
                        "role": "user" if m["type"] == "human" else "assistant",
                        "text": m["content"],
                        "editable": True,
                    }
                    for i, m in enumerate(shown)
                ],
                "runtime_variables": dict(thread.get("variables") or {}),
            }
        )
    return out


# --------------------------------------------------------------------------- reports


async def preflight(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    run_id: str,
    turn: int,
    body: JsonDict,
) -> JsonDict:
    """``RerunPreflightResponse``: what a re-run would keep and drop (read only)."""
    src = await load_source(store, caller, run_id)
    _check_index(src, turn)
    plan = await _plan(store, caller, src, body)
    try:
        state: JsonDict | None = await _checkpoint(store, caller, runtime, src, turn)
        rerunnable, reason = True, None
    except Conflict as exc:
        state, rerunnable, reason = None, False, exc.message
    warnings = list(plan.warnings)
    resumable, not_resumable = True, None
    if plan.mode != "EXACT":
        resumable = False
        not_resumable = "only EXACT re-runs are executed by this server"
    elif state is not None and state.get("status") in TERMINAL:
        warnings.append(
            f"the source run had ended by turn {turn}; the re-run starts ended too"
        )
    carries = {"message_count": 0, "variable_count": 0}
    if state is not None:
        projected = copy.deepcopy(state)
        _apply_history_mode(projected, plan.history_mode)
        carries = {
            "message_count": restored_count(projected),
            "variable_count": _variable_count(projected),
        }
    start = compile_graph(plan.snapshot).start
    return {
        "rerunnable": rerunnable,
        "reason": reason,
        "resolved_mode": plan.mode,
        "is_resumable": resumable,
        "not_resumable_reason": not_resumable,
        "entry_node_logical_id": plan.entry_node_logical_id,
        "suggested_entry_nodes": [start] if start else [],
        "node_matches": plan.node_matches,
        "unmapped_node_ids": plan.unmapped_node_ids,
        "unmapped_variable_keys": [],
        "carries_over": carries,
        "dropped": {
            "node_ids": plan.unmapped_node_ids,
            "variable_keys": [],
            "state_keys": [],
        },
        "warnings": warnings,
    }


# --------------------------------------------------------------------------- new runs


async def projection(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    src: Source,
    turn: int,
    body: JsonDict,
) -> tuple[Plan, JsonDict]:
    _check_index(src, turn)
    plan = await _plan(store, caller, src, body)
    _require_exact(plan, body)
    state = await _checkpoint(store, caller, runtime, src, turn)
    _apply_history_mode(state, plan.history_mode)
    return plan, state


def new_rerun(
    caller: Caller,
    src: Source,
    turn: int,
    state: JsonDict,
    misc: JsonDict | None = None,
) -> Document:
    """The re-run's document: lineage, carried-over usage, the checkpoint state."""
    run_id = new_object_id()
    usage = state.get("usage") or {}
    state = {**state, "run_id": run_id, "usage": {}}
    status = str(state.get("status") or "waiting_for_user_input")
    record = copy.deepcopy(src.record)
    record.update(
        logical_id=new_logical_id("workflow_run"),
        workflow_run_id=run_id,
        status=status,
        termination_source=state.get("termination_source"),
        input_output_pairs=[],
        comments=[],
        llm_token_usage=None,
        llm_latency_stats=None,
        source_workflow_run_id=src.doc.id,
        checkpoint_source_turn_index=turn,
        carried_over_llm_token_usage=costs.with_costs(token_usage(usage)),
        carried_over_llm_latency_stats=latency_stats(usage),
        is_evaluation_run=False,
        evaluation_run_info=None,
        loop_detected=state.get("loop_detected"),
    )
    record["miscellaneous"] = {**(record.get("miscellaneous") or {}), **(misc or {})}
    now = wf.now()
    doc = Document(
        id=run_id,
        team_id=caller.team_id,
        body={"workflow_run": record, "state": state, "turn_count": turn + 1},
        created_at=now,
        updated_at=now,
        created_by=caller.user_id,
        updated_by=caller.user_id,
        workflow_id=src.doc.workflow_id,
        version_number=src.doc.version_number,
        logical_id=record["logical_id"],
        type=lineage_type(src.doc.id),
        name=record.get("run_by"),
        status=status,
        search_text=str(record.get("run_by") or "").lower(),
    )
    return doc


async def insert_rerun(tx: Transaction, src: Source, turn: int, doc: Document) -> None:
    """Store the re-run and copies of the source's turns 0..``turn``."""
    await tx.documents("workflow_runs").insert(doc)
    for index, pair in enumerate(src.pairs[: turn + 1]):
        copied = {**pair, "evaluation": None, "comments": [], "ratings": []}
        await tx.turns().append(doc.team_id, doc.id, index, copied, doc.created_at)


async def _create(
    store: Store,
    caller: Caller,
    src: Source,
    turn: int,
    state: JsonDict,
) -> Document:
    """Insert the re-run: lineage, carried-over usage, turns 0..``turn`` copied."""
    doc = new_rerun(caller, src, turn, state)
    async with store.begin() as tx:
        await insert_rerun(tx, src, turn, doc)
    return doc


def _message_input(message: str) -> JsonDict:
    return {
        "command": "start",
        "thread_to_node_inputs": {
            "0": {
                "node_run_inputs": [
                    {"type": "llm", "messages": [{"type": "human", "content": message}]}
                ]
            }
        },
    }


async def _continue(
    store: Store, caller: Caller, runtime: Runtime, doc: Document, message: str
) -> Document:
    done, _ = await runs.run_one_turn(
        store,
        caller,
        runtime,
        TurnRequest(
            workflow_id=str(doc.workflow_id),
            run_id=doc.id,
            raw_input=_message_input(message),
            field="message",
        ),
    )
    return done


async def execute(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    run_id: str,
    turn: int,
    body: JsonDict,
    *,
    run_async: bool,
) -> JsonDict:
    """Start the re-run; with ``message``, drive its next turn (in the background
    when ``run_async``). Returns ``RerunStartedResponse``."""
    message = body.get("message")
    if message is not None and (not isinstance(message, str) or not message.strip()):
        raise InvalidField("message: non-blank text, or omit it to park the re-run")
    src = await load_source(store, caller, run_id)
    plan, state = await projection(store, caller, runtime, src, turn, body)
    if message is not None and state.get("status") != "waiting_for_user_input":
        raise Conflict(
            f"message: the source run was {state.get('status')!r} after turn {turn};"
            " nothing waits for a message there",
            code="rerun_not_waiting",
        )
    doc = await _create(store, caller, src, turn, state)
    if message is not None:
        if run_async:
            task = asyncio.create_task(_continue(store, caller, runtime, doc, message))
            runtime.background.add(task)
            task.add_done_callback(runtime.background.discard)
        else:
            doc = await _continue(store, caller, runtime, doc, message)
    return {
        "workflow_run_id": doc.id,
        "status": doc.status,
        "resolved_mode": plan.mode,
        "entry_node_logical_id": plan.entry_node_logical_id,
        "warnings": plan.warnings,
    }
