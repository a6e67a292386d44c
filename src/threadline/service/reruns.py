"""Re-runs: a new run that starts from a turn of an existing run.

The state at the checkpoint turn is rebuilt by replaying the source run's record
through the engine (``service.replay``); no node runs again. The new run gets the
source's config snapshot, copies of the turns up to the checkpoint, lineage
(``source_workflow_run_id``, ``checkpoint_source_turn_index``) and the usage spent up
to the checkpoint (``carried_over_llm_*``), and then continues like any run.

Only the ``EXACT`` mode is executed (same workflow, same config snapshot); preflight
reports what a different target would keep and drop. Re-run tokens are stored in
the database (``rerun_tokens``, by the token's SHA-256, never the token) for
``TOKEN_TTL_S`` seconds, so any process can preview, amend or redeem them (see
``docs/semantics.md``).
"""

import asyncio
import copy
import hashlib
import secrets
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from threadline.engine.graph import compile_graph
from threadline.engine.usage import latency_stats, token_usage
from threadline.errors import BadRequest, Conflict, InvalidField, NotFound
from threadline.ids import is_object_id, new_logical_id, new_object_id
from threadline.service import costs, runs
from threadline.service import graph as graphs
from threadline.service import workflows as wf
from threadline.service.caller import Caller
from threadline.service.commands import TERMINAL
from threadline.service.global_variables import for_run as team_globals
from threadline.service.replay import replay
from threadline.service.runtime import Runtime
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
class _Source:
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


async def _source(store: Store, caller: Caller, run_id: str) -> _Source:
    if not is_object_id(run_id):
        raise NotFound(f"workflow run {run_id!r} not found")
    async with store.begin() as tx:
        doc = await tx.documents("workflow_runs").get(caller.team_id, run_id)
        if doc is None:
            raise NotFound(f"workflow run {run_id!r} not found")
        pairs = await tx.turns().list(caller.team_id, run_id)
    return _Source(doc, pairs)


async def _replayed(
    store: Store, caller: Caller, runtime: Runtime, src: _Source
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
        secrets=tuple(team.secret_values),
        max_node_runs=runtime.max_node_runs_per_turn,
    )
    return done.states, done.failed_at, done.reason


def _turn_verdicts(
    src: _Source, states: list[JsonDict], failed_at: int | None, reason: str | None
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


def _check_index(src: _Source, turn_index: int) -> None:
    if turn_index < 0 or turn_index >= len(src.pairs):
        raise InvalidField(
            f"turn_index: run {src.doc.id!r} has turns 0..{len(src.pairs) - 1},"
            f" not {turn_index}"
            if src.pairs
            else f"turn_index: run {src.doc.id!r} has no recorded turn"
        )


async def _checkpoint(
    store: Store, caller: Caller, runtime: Runtime, src: _Source, turn_index: int
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
    src = await _source(store, caller, run_id)
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
class _Plan:
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


async def _plan(store: Store, caller: Caller, src: _Source, body: JsonDict) -> _Plan:
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
    return _Plan(
        workflow_id=target_wf,
        version_number=number,
        mode=mode,
        history_mode=history,
        entry_node_logical_id=params.get("entry_node_logical_id"),
        node_matches=matches,
        unmapped_node_ids=unmapped,
        snapshot=snapshot,
    )


def _require_exact(plan: _Plan, body: JsonDict) -> None:
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


def _displayed(message: Any) -> bool:
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
            thread["history"] = [
                m for m in thread.get("history") or [] if _displayed(m)
            ]


def _restored_count(state: JsonDict) -> int:
    return sum(
        1
        for thread in (state.get("threads") or {}).values()
        for m in thread.get("history") or []
        if _displayed(m)
    )


def _variable_count(state: JsonDict) -> int:
    threads = state.get("threads") or {}
    return (
        len(state.get("dynamic") or {})
        + len(state.get("workflow_variables") or {})
        + sum(len(t.get("variables") or {}) for t in threads.values())
    )


def _threads_view(state: JsonDict) -> list[JsonDict]:
    out: list[JsonDict] = []
    for thread_id, thread in (state.get("threads") or {}).items():
        shown = [m for m in thread.get("history") or [] if _displayed(m)]
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
    src = await _source(store, caller, run_id)
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
            "message_count": _restored_count(projected),
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


async def _projection(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    src: _Source,
    turn: int,
    body: JsonDict,
) -> tuple[_Plan, JsonDict]:
    _check_index(src, turn)
    plan = await _plan(store, caller, src, body)
    _require_exact(plan, body)
    state = await _checkpoint(store, caller, runtime, src, turn)
    _apply_history_mode(state, plan.history_mode)
    return plan, state


def _new_run(
    caller: Caller,
    src: _Source,
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


async def _insert(tx: Transaction, src: _Source, turn: int, doc: Document) -> None:
    """Store the re-run and copies of the source's turns 0..``turn``."""
    await tx.documents("workflow_runs").insert(doc)
    for index, pair in enumerate(src.pairs[: turn + 1]):
        copied = {**pair, "evaluation": None, "comments": [], "ratings": []}
        await tx.turns().append(doc.team_id, doc.id, index, copied, doc.created_at)


async def _create(
    store: Store,
    caller: Caller,
    src: _Source,
    turn: int,
    state: JsonDict,
) -> Document:
    """Insert the re-run: lineage, carried-over usage, turns 0..``turn`` copied."""
    doc = _new_run(caller, src, turn, state)
    async with store.begin() as tx:
        await _insert(tx, src, turn, doc)
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
        workflow_id=str(doc.workflow_id),
        run_id=doc.id,
        raw_input=_message_input(message),
        query_version=None,
        field="message",
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
    src = await _source(store, caller, run_id)
    plan, state = await _projection(store, caller, runtime, src, turn, body)
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


# --------------------------------------------------------------------------- tokens
#
# A token is a document of kind ``rerun_tokens`` keyed by the SHA-256 of the token
# (``id``: its first 24 hex digits, ``logical_id``: all 64), so every process on the
# database can preview, amend and redeem it. The token itself is never stored.

TOKEN_KIND = "rerun_tokens"
_LIVE = "live"
_MAX_TOKENS_PER_TEAM = 1_000
_PRUNE_BATCH = 100


@dataclass(slots=True)
class _Token:
    source_run_id: str
    turn_index: int
    plan: JsonDict
    """The plan's public fields (``_plan_fields``); the snapshot stays on the run."""
    state: JsonDict
    expires_at: float
    edited: bool = False
    removed_message_count: int = 0

    @classmethod
    def of(cls, doc: Document) -> "_Token":
        body = doc.body
        return cls(
            source_run_id=str(body["source_workflow_run_id"]),
            turn_index=int(body["turn_index"]),
            plan=dict(body["plan"]),
            state=dict(body["state"]),
            expires_at=float(body["expires_at"]),
            edited=bool(body.get("edited")),
            removed_message_count=int(body.get("removed_message_count") or 0),
        )

    def body(self) -> JsonDict:
        return {
            "source_workflow_run_id": self.source_run_id,
            "turn_index": self.turn_index,
            "plan": self.plan,
            "state": self.state,
            "expires_at": self.expires_at,
            "edited": self.edited,
            "removed_message_count": self.removed_message_count,
        }


def _plan_fields(plan: _Plan) -> JsonDict:
    return {
        "workflow_id": plan.workflow_id,
        "version_number": plan.version_number,
        "mode": plan.mode,
        "history_mode": plan.history_mode,
        "entry_node_logical_id": plan.entry_node_logical_id,
        "node_matches": plan.node_matches,
        "unmapped_node_ids": plan.unmapped_node_ids,
        "warnings": plan.warnings,
    }


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _doc_id(digest: str) -> str:
    return digest[:24]


def _lock_key(digest: str) -> str:
    return f"rerun-token:{_doc_id(digest)}"


async def _read(tx: Transaction, caller: Caller, digest: str) -> Document | None:
    """The caller's team's token document with this digest, expired or not."""
    doc = await tx.documents(TOKEN_KIND).get(caller.team_id, _doc_id(digest))
    return doc if doc is not None and doc.logical_id == digest else None


def _unknown() -> RerunTokenInvalid:
    return RerunTokenInvalid("rerun_token: unknown re-run token")


def _expired() -> RerunTokenInvalid:
    return RerunTokenInvalid("rerun_token: the re-run token has expired")


async def _forget(store: Store, caller: Caller, digest: str) -> None:
    async with store.begin() as tx:
        await tx.documents(TOKEN_KIND).delete(caller.team_id, _doc_id(digest))


async def _live(store: Store, runtime: Runtime, caller: Caller, token: str) -> _Token:
    """The caller's live token; an expired one is deleted and refused."""
    digest = _digest(token)
    async with store.begin() as tx:
        doc = await _read(tx, caller, digest)
    if doc is None:
        raise _unknown()
    found = _Token.of(doc)
    if found.expires_at <= runtime.clock():
        await _forget(store, caller, digest)
        raise _expired()
    return found


def _check_target(found: _Token, run_id: str, turn: int) -> None:
    if found.source_run_id != run_id or found.turn_index != turn:
        raise NotFound("re-run token not found for this run and turn")


async def _prune(tx: Transaction, caller: Caller) -> None:
    """Forget long-expired tokens (any team) and the team's oldest beyond the cap."""
    tokens = tx.documents(TOKEN_KIND)
    # updated_at is the wall clock of the last write; untouched for a TTL, expired.
    cutoff = wf.now() - timedelta(seconds=TOKEN_TTL_S)
    for doc in await tokens.find_stale(_LIVE, cutoff, _PRUNE_BATCH):
        await tokens.delete(doc.team_id, doc.id)
    extra = (
        await tokens.count(caller.team_id, {"status": _LIVE}) - _MAX_TOKENS_PER_TEAM + 1
    )
    if extra > 0:
        oldest, _ = await tokens.find(
            caller.team_id,
            Query(equals={"status": _LIVE}, size=extra, newest_first=False),
        )
        for doc in oldest:
            await tokens.delete(caller.team_id, doc.id)


async def create_token(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    run_id: str,
    turn: int,
    body: JsonDict,
) -> JsonDict:
    """Mint a token carrying the projected state (``RerunTokenResponse``)."""
    src = await _source(store, caller, run_id)
    plan, state = await _projection(store, caller, runtime, src, turn, body)
    token = f"rrt_{secrets.token_urlsafe(32)}"
    digest = _digest(token)
    now = wf.now()
    found = _Token(
        source_run_id=run_id,
        turn_index=turn,
        plan=_plan_fields(plan),
        state=state,
        expires_at=runtime.clock() + TOKEN_TTL_S,
    )
    doc = Document(
        id=_doc_id(digest),
        team_id=caller.team_id,
        body=found.body(),
        created_at=now,
        updated_at=now,
        created_by=caller.user_id,
        updated_by=caller.user_id,
        workflow_id=plan.workflow_id,
        version_number=plan.version_number,
        logical_id=digest,
        type="rerun_token",
        status=_LIVE,
    )
    async with store.begin() as tx:
        await _prune(tx, caller)
        await tx.documents(TOKEN_KIND).insert(doc)
    return {
        "rerun_token": token,
        "expires_in_seconds": TOKEN_TTL_S,
        "target_workflow_id": plan.workflow_id,
        "target_version_number": plan.version_number,
        "resolved_mode": plan.mode,
        "entry_node_logical_id": plan.entry_node_logical_id,
        "warnings": plan.warnings,
        "source_workflow_run_id": run_id,
        "turn_index": turn,
        "restored_message_count": _restored_count(state),
    }


def _preview(runtime: Runtime, found: _Token) -> JsonDict:
    threads = found.state.get("threads") or {}
    plan = found.plan
    return {
        "source_workflow_run_id": found.source_run_id,
        "turn_index": found.turn_index,
        "target_workflow_id": plan["workflow_id"],
        "target_version_number": plan["version_number"],
        "resolved_mode": plan["mode"],
        "effective_mode": "EDITED" if found.edited else plan["mode"],
        "edited": found.edited,
        "removed_message_count": found.removed_message_count,
        "entry_node_logical_id": plan.get("entry_node_logical_id"),
        "warnings": list(plan.get("warnings") or []),
        "resume_thread_id": "0" if "0" in threads else None,
        "threads": _threads_view(found.state),
        "dynamic_variables": dict(found.state.get("dynamic") or {}),
        "expires_in_seconds": max(0, int(found.expires_at - runtime.clock())),
    }


async def preview_token(
    store: Store,
    runtime: Runtime,
    caller: Caller,
    run_id: str,
    turn: int,
    token: str,
) -> JsonDict:
    """What a token restores (``RerunTokenPreviewResponse``); never the token."""
    found = await _live(store, runtime, caller, token)
    _check_target(found, run_id, turn)
    return _preview(runtime, found)


_AMEND_KEYS = (
    "dynamic_variables",
    "runtime_variables",
    "message_edits",
    "message_appends",
    "message_deletes",
)


def _items(body: JsonDict, key: str, fields: tuple[str, ...]) -> list[JsonDict]:
    raw = body.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(i, dict) for i in raw):
        raise InvalidField(f"{key}: a list of objects")
    for i, item in enumerate(raw):
        extra = sorted(set(item) - set(fields))
        if extra:
            raise InvalidField(f"{key}[{i}].{extra[0]}: unknown field")
        for name in fields:
            if name not in item:
                raise InvalidField(f"{key}[{i}].{name}: required")
    return list(raw)


def _slot(state: JsonDict, key: str, i: int, item: JsonDict) -> tuple[str, int]:
    """The stored history position of a displayed message."""
    thread_id = str(item["thread_id"])
    thread = (state.get("threads") or {}).get(thread_id)
    if thread is None:
        raise InvalidField(f"{key}[{i}].thread_id: no thread {thread_id!r}")
    shown = [p for p, m in enumerate(thread.get("history") or []) if _displayed(m)]
    index = item["index"]
    if (
        not isinstance(index, int)
        or isinstance(index, bool)
        or not 0 <= index < len(shown)
    ):
        raise InvalidField(f"{key}[{i}].index: no displayed message {index!r}")
    return thread_id, shown[index]


def _check_amend(body: JsonDict, threads: JsonDict) -> None:
    """Reject unknown keys and malformed verbs (422 naming the field)."""
    unknown = sorted(set(body) - set(_AMEND_KEYS))
    if unknown:
        raise InvalidField(f"{unknown[0]}: unknown field")
    dynamic = body.get("dynamic_variables")
    if dynamic is not None and not isinstance(dynamic, dict):
        raise InvalidField("dynamic_variables: an object")
    runtime_vars = body.get("runtime_variables")
    if runtime_vars is not None and not (
        isinstance(runtime_vars, dict)
        and all(isinstance(v, dict) for v in runtime_vars.values())
    ):
        raise InvalidField("runtime_variables: an object of thread id → variables")
    for thread_id in runtime_vars or {}:
        if thread_id not in threads:
            raise InvalidField(f"runtime_variables.{thread_id}: no such thread")
    for key, items in (
        (
            "message_edits",
            _items(body, "message_edits", ("thread_id", "index", "text")),
        ),
        (
            "message_appends",
            _items(body, "message_appends", ("thread_id", "role", "text")),
        ),
    ):
        for i, item in enumerate(items):
            if not isinstance(item.get("text"), str):
                raise InvalidField(f"{key}[{i}].text: text")
    for i, item in enumerate(body.get("message_appends") or []):
        if item["role"] not in ("user", "assistant"):
            raise InvalidField(f"message_appends[{i}].role: user or assistant")
        if str(item["thread_id"]) not in threads:
            raise InvalidField(f"message_appends[{i}].thread_id: no such thread")
    _items(body, "message_deletes", ("thread_id", "index"))


def _delete(history: list[JsonDict], pos: int) -> None:
    """Remove a message and the tool traffic that answered it."""
    end = pos + 1
    while end < len(history) and (
        history[end].get("type") == "tool"
        or (history[end].get("tool_calls") and not _displayed(history[end]))
    ):
        end += 1
    del history[pos:end]


def _amended(found: _Token, body: JsonDict) -> None:
    """Apply an amendment to ``found`` (indexes address the transcript before it)."""
    state = copy.deepcopy(found.state)
    threads = state.get("threads") or {}
    _check_amend(body, threads)
    edits = [
        (_slot(state, "message_edits", i, e), e)
        for i, e in enumerate(body.get("message_edits") or [])
    ]
    deletes = {
        _slot(state, "message_deletes", i, d)
        for i, d in enumerate(body.get("message_deletes") or [])
    }
    for (thread_id, pos), item in edits:
        threads[thread_id]["history"][pos]["content"] = item["text"]
    for thread_id, pos in sorted(deletes, key=lambda s: -s[1]):
        _delete(threads[thread_id]["history"], pos)
    for item in body.get("message_appends") or []:
        kind = "human" if item["role"] == "user" else "ai"
        threads[str(item["thread_id"])]["history"].append(
            {"type": kind, "content": item["text"]}
        )
    state.setdefault("dynamic", {}).update(body.get("dynamic_variables") or {})
    for thread_id, values in (body.get("runtime_variables") or {}).items():
        threads[thread_id].setdefault("variables", {}).update(values)
    found.state = state
    found.removed_message_count += len(deletes)
    if any(body.get(k) for k in _AMEND_KEYS):
        found.edited = True


async def amend_token(
    store: Store,
    runtime: Runtime,
    caller: Caller,
    run_id: str,
    turn: int,
    token: str,
    body: JsonDict,
) -> JsonDict:
    """Edit a projection; indexes address the displayed transcript before any edit.

    Amendments of one token are serialized (a lock across processes), so none is
    lost; one racing the token's redemption finds it gone.
    """
    digest = _digest(token)
    expired = False
    async with store.begin() as tx:
        await tx.lock(_lock_key(digest))
        doc = await _read(tx, caller, digest)
        if doc is None:
            raise _unknown()
        found = _Token.of(doc)
        if found.expires_at <= runtime.clock():
            expired = True
        else:
            _check_target(found, run_id, turn)
            _amended(found, body)
            changed = replace(
                doc, body=found.body(), updated_at=wf.now(), updated_by=caller.user_id
            )
            await tx.documents(TOKEN_KIND).replace(changed)
    if expired:
        await _forget(store, caller, digest)
        raise _expired()
    return _preview(runtime, found)


async def start_from_token(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    token: str,
    *,
    workflow_id: str | None = None,
    version_number: int | None = None,
) -> Document:
    """Redeem a token (once, across processes): the new run, parked where the
    projection left it.

    The token's row is deleted in the transaction that inserts the run; of two
    concurrent redemptions only the one whose delete removed the row creates a run.
    For the WebSocket driver: a ``RerunTokenInvalid`` means close code 4007.
    """
    digest = _digest(token)
    found = await _live(store, runtime, caller, token)
    if workflow_id is not None and workflow_id != found.plan["workflow_id"]:
        raise RerunTokenInvalid("rerun_token: minted for another workflow")
    if version_number not in (None, found.plan["version_number"]):
        raise RerunTokenInvalid("rerun_token: minted for another version")
    src = await _source(store, caller, found.source_run_id)
    async with store.begin() as tx:
        await tx.lock(_lock_key(digest))
        current = await _read(tx, caller, digest)  # with the latest amendment
        tokens = tx.documents(TOKEN_KIND)
        if current is None or not await tokens.delete(caller.team_id, current.id):
            raise _unknown()
        latest = _Token.of(current)
        misc = {"rerun": {"edited": latest.edited, "mode": latest.plan["mode"]}}
        doc = _new_run(caller, src, latest.turn_index, latest.state, misc)
        await _insert(tx, src, latest.turn_index, doc)
    return doc
