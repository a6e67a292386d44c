"""Re-run tokens: a re-run projected at a checkpoint turn, previewed, amended and
redeemed (once) later, by any process.

Stored in the database (``rerun_tokens``) by the token's SHA-256, never the token
itself, for ``TOKEN_TTL_S`` seconds (see ``docs/semantics.md``, Re-runs).
"""

import copy
import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from threadline.errors import BadRequest, InvalidField, NotFound
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.running.reruns.history import (
    displayed,
    restored_count,
    threads_view,
)
from threadline.service.running.reruns.source import Source, load_source
from threadline.service.running.reruns.start import (
    insert_rerun,
    lineage,
    new_rerun,
    projection,
)
from threadline.service.running.reruns.targets import Plan, Target, load_target
from threadline.service.runtime import Runtime
from threadline.store import Document, Query, Store, Transaction

JsonDict = dict[str, Any]

TOKEN_TTL_S = 900


class RerunTokenInvalid(BadRequest):
    """A re-run token that is unknown, expired or minted for another target."""

    code = "rerun_token_invalid"


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


def _plan_fields(plan: Plan) -> JsonDict:
    return {
        "workflow_id": plan.workflow_id,
        "version_number": plan.version_number,
        "mode": plan.mode,
        "history_mode": plan.history_mode,
        "entry_node_logical_id": plan.entry_node_logical_id,
        "node_matches": plan.node_matches,
        "unmapped_node_ids": plan.unmapped_node_ids,
        "warnings": plan.warnings,
        "fingerprint": None if plan.target.same else plan.target.fingerprint,
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
    src = await load_source(store, caller, run_id)
    plan, state = await projection(store, caller, runtime, src, turn, body)
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
        "restored_message_count": restored_count(state),
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
        "threads": threads_view(found.state),
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
    shown = [p for p, m in enumerate(thread.get("history") or []) if displayed(m)]
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
        or (history[end].get("tool_calls") and not displayed(history[end]))
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


async def _unchanged_target(
    store: Store, caller: Caller, src: Source, found: _Token
) -> Target:
    """The token's target, as it is now; one that is gone, or whose snapshot changed
    since the token was minted, makes the token invalid."""
    plan = found.plan
    try:
        target = await load_target(
            store, caller, src, str(plan["workflow_id"]), int(plan["version_number"])
        )
    except NotFound as exc:
        raise RerunTokenInvalid(f"rerun_token: {exc.message}") from None
    if not target.same and target.fingerprint != plan.get("fingerprint"):
        raise RerunTokenInvalid(
            f"rerun_token: workflow {target.workflow_id!r} version"
            f" {target.version_number} changed since the token was minted;"
            " mint a new one"
        )
    return target


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
    src = await load_source(store, caller, found.source_run_id)
    target = await _unchanged_target(store, caller, src, found)
    async with store.begin() as tx:
        await tx.lock(_lock_key(digest))
        current = await _read(tx, caller, digest)  # with the latest amendment
        tokens = tx.documents(TOKEN_KIND)
        if current is None or not await tokens.delete(caller.team_id, current.id):
            raise _unknown()
        latest = _Token.of(current)
        plan = latest.plan
        misc = lineage(plan["mode"], plan["history_mode"], edited=latest.edited)
        doc = new_rerun(caller, src, latest.turn_index, latest.state, target, misc)
        await insert_rerun(tx, caller, runtime, src, latest.turn_index, doc)
    return doc
