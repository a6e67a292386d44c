"""Re-run tokens as stored: one document of kind ``rerun_tokens`` per token, keyed
by the token's SHA-256, read, refused when unknown or expired, and pruned.

A token is a document of kind ``rerun_tokens`` keyed by the SHA-256 of the token
(``id``: its first 24 hex digits, ``logical_id``: all 64), so every process on the
database can preview, amend and redeem it. The token itself is never stored.
"""

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from threadline.errors import BadRequest, NotFound
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.running.reruns.targets import Plan
from threadline.service.runtime import Runtime
from threadline.store import Document, Query, Store, Transaction

JsonDict = dict[str, Any]

TOKEN_TTL_S = 900


class RerunTokenInvalid(BadRequest):
    """A re-run token that is unknown, expired or minted for another target."""

    code = "rerun_token_invalid"


TOKEN_KIND = "rerun_tokens"
LIVE = "live"
_MAX_TOKENS_PER_TEAM = 1_000
_PRUNE_BATCH = 100


@dataclass(slots=True)
class Token:
    source_run_id: str
    turn_index: int
    plan: JsonDict
    """The plan's public fields (``plan_fields``); the snapshot stays on the run."""
    state: JsonDict
    expires_at: float
    edited: bool = False
    removed_message_count: int = 0

    @classmethod
    def of(cls, doc: Document) -> "Token":
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


def plan_fields(plan: Plan) -> JsonDict:
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


def digest_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def doc_id(digest: str) -> str:
    return digest[:24]


def lock_key(digest: str) -> str:
    return f"rerun-token:{doc_id(digest)}"


async def read_token(tx: Transaction, caller: Caller, digest: str) -> Document | None:
    """The caller's team's token document with this digest, expired or not."""
    doc = await tx.documents(TOKEN_KIND).get(caller.team_id, doc_id(digest))
    return doc if doc is not None and doc.logical_id == digest else None


def unknown_token() -> RerunTokenInvalid:
    return RerunTokenInvalid("rerun_token: unknown re-run token")


def expired_token() -> RerunTokenInvalid:
    return RerunTokenInvalid("rerun_token: the re-run token has expired")


async def forget(store: Store, caller: Caller, digest: str) -> None:
    async with store.begin() as tx:
        await tx.documents(TOKEN_KIND).delete(caller.team_id, doc_id(digest))


async def live_token(
    store: Store, runtime: Runtime, caller: Caller, token: str
) -> Token:
    """The caller's live token; an expired one is deleted and refused."""
    digest = digest_of(token)
    async with store.begin() as tx:
        doc = await read_token(tx, caller, digest)
    if doc is None:
        raise unknown_token()
    found = Token.of(doc)
    if found.expires_at <= runtime.clock():
        await forget(store, caller, digest)
        raise expired_token()
    return found


def check_target(found: Token, run_id: str, turn: int) -> None:
    if found.source_run_id != run_id or found.turn_index != turn:
        raise NotFound("re-run token not found for this run and turn")


async def prune(tx: Transaction, caller: Caller) -> None:
    """Forget long-expired tokens (any team) and the team's oldest beyond the cap."""
    tokens = tx.documents(TOKEN_KIND)
    # updated_at is the wall clock of the last write; untouched for a TTL, expired.
    cutoff = wf.now() - timedelta(seconds=TOKEN_TTL_S)
    for doc in await tokens.find_stale(LIVE, cutoff, _PRUNE_BATCH):
        await tokens.delete(doc.team_id, doc.id)
    extra = (
        await tokens.count(caller.team_id, {"status": LIVE}) - _MAX_TOKENS_PER_TEAM + 1
    )
    if extra > 0:
        oldest, _ = await tokens.find(
            caller.team_id,
            Query(equals={"status": LIVE}, size=extra, newest_first=False),
        )
        for doc in oldest:
            await tokens.delete(caller.team_id, doc.id)
