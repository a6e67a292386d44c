"""Re-run tokens: a re-run projected at a checkpoint turn, previewed, amended and
redeemed (once) later, by any process.

Stored in the database (``rerun_tokens``) by the token's SHA-256, never the token
itself, for ``TOKEN_TTL_S`` seconds (see ``docs/semantics.md``, Re-runs). The
stored documents are ``token_records``'; amending a projection ``token_amendments``'.
"""

import secrets
from dataclasses import replace
from typing import Any

from threadline.errors import NotFound
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.running.reruns.history import restored_count, threads_view
from threadline.service.running.reruns.source import Source, load_source
from threadline.service.running.reruns.start import (
    insert_rerun,
    lineage,
    new_rerun,
    projection,
)
from threadline.service.running.reruns.targets import Target, load_target
from threadline.service.running.reruns.token_amendments import amend
from threadline.service.running.reruns.token_records import (
    LIVE,
    TOKEN_KIND,
    TOKEN_TTL_S,
    RerunTokenInvalid,
    Token,
    check_target,
    digest_of,
    doc_id,
    expired_token,
    forget,
    live_token,
    lock_key,
    plan_fields,
    prune,
    read_token,
    unknown_token,
)
from threadline.service.runtime import Runtime
from threadline.store import Document, Store

__all__ = [
    "TOKEN_KIND",
    "TOKEN_TTL_S",
    "RerunTokenInvalid",
    "amend_token",
    "create_token",
    "preview_token",
    "start_from_token",
]

JsonDict = dict[str, Any]


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
    digest = digest_of(token)
    now = wf.now()
    found = Token(
        source_run_id=run_id,
        turn_index=turn,
        plan=plan_fields(plan),
        state=state,
        expires_at=runtime.clock() + TOKEN_TTL_S,
    )
    doc = Document(
        id=doc_id(digest),
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
        status=LIVE,
    )
    async with store.begin() as tx:
        await prune(tx, caller)
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


def _preview(runtime: Runtime, found: Token) -> JsonDict:
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
    found = await live_token(store, runtime, caller, token)
    check_target(found, run_id, turn)
    return _preview(runtime, found)


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
    digest = digest_of(token)
    expired = False
    async with store.begin() as tx:
        await tx.lock(lock_key(digest))
        doc = await read_token(tx, caller, digest)
        if doc is None:
            raise unknown_token()
        found = Token.of(doc)
        if found.expires_at <= runtime.clock():
            expired = True
        else:
            check_target(found, run_id, turn)
            amend(found, body)
            changed = replace(
                doc, body=found.body(), updated_at=wf.now(), updated_by=caller.user_id
            )
            await tx.documents(TOKEN_KIND).replace(changed)
    if expired:
        await forget(store, caller, digest)
        raise expired_token()
    return _preview(runtime, found)


async def _unchanged_target(
    store: Store, caller: Caller, src: Source, found: Token
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
    digest = digest_of(token)
    found = await live_token(store, runtime, caller, token)
    if workflow_id is not None and workflow_id != found.plan["workflow_id"]:
        raise RerunTokenInvalid("rerun_token: minted for another workflow")
    if version_number not in (None, found.plan["version_number"]):
        raise RerunTokenInvalid("rerun_token: minted for another version")
    src = await load_source(store, caller, found.source_run_id)
    target = await _unchanged_target(store, caller, src, found)
    async with store.begin() as tx:
        await tx.lock(lock_key(digest))
        current = await read_token(tx, caller, digest)  # with the latest amendment
        tokens = tx.documents(TOKEN_KIND)
        if current is None or not await tokens.delete(caller.team_id, current.id):
            raise unknown_token()
        latest = Token.of(current)
        plan = latest.plan
        misc = lineage(plan["mode"], plan["history_mode"], edited=latest.edited)
        doc = new_rerun(caller, src, latest.turn_index, latest.state, target, misc)
        await insert_rerun(tx, caller, runtime, src, latest.turn_index, doc)
    return doc
