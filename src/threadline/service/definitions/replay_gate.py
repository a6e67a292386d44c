"""The replay-check gate on activating a version (``require_replay_check``).

When the version being activated sets ``workflow_config.require_replay_check:
true`` (a new version copies it from the version it is made from), it becomes
active only if a replay check of it passed, taken of its current content (the
check records the version's :func:`fingerprint`; editing the version afterwards
needs a new check).
``service.replay_checks`` writes the checks; this module only reads them, inside
the activation's transaction, so no activation slips past a check being written.
See docs/replay-checks.md.
"""

import hashlib
import json
from typing import Any

from threadline.errors import Conflict
from threadline.service.caller import Caller
from threadline.store import Document, Query, Transaction

JsonDict = dict[str, Any]
CHECKS = "replay_checks"
"""The document collection of replay checks."""
PASSED = "passed"
SETTING = "require_replay_check"


def fingerprint(hydrated: JsonDict) -> str:
    """A digest of a version's graph as checks see it (the gate setting aside)."""
    config = {
        k: v for k, v in (hydrated.get("workflow_config") or {}).items() if k != SETTING
    }
    shown = {**hydrated, "workflow_config": config}
    text = json.dumps(shown, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def required(config: Any) -> bool:
    """Whether a workflow config asks for a passing check before activation."""
    return isinstance(config, dict) and config.get(SETTING) is True


def _why(number: int, latest: Document | None, stale: bool) -> str:
    if latest is None:
        return f"no replay check of version {number} exists"
    if stale:
        return (
            f"replay check {latest.id} was taken before version {number} last changed"
        )
    if latest.status != PASSED:
        return f"replay check {latest.id} of version {number} is {latest.status}"
    return f"replay check {latest.id} of version {number} did not pass"


async def check_activation(
    tx: Transaction,
    caller: Caller,
    workflow_id: str,
    number: int,
    hydrated: JsonDict,
) -> None:
    """Refuse (409 ``replay_check_required``, naming the check) to activate
    version ``number`` when it sets the gate and no current check of it passed."""
    if not required(hydrated.get("workflow_config")):
        return
    docs, _ = await tx.documents(CHECKS).find(
        caller.team_id,
        Query(equals={"workflow_id": workflow_id, "version_number": number}),
    )
    digest = fingerprint(hydrated)
    current = [d for d in docs if d.body.get("version_fingerprint") == digest]
    if any(d.status == PASSED for d in current):
        return
    latest = current[0] if current else (docs[0] if docs else None)
    reason = _why(number, latest, stale=bool(docs) and not current)
    raise Conflict(
        f"version {number} needs a passing replay check before it is activated"
        f" ({SETTING}): {reason}; POST /v1/workflows/{workflow_id}/versions/"
        f"{number}/replay-check",
        code="replay_check_required",
        details={
            "workflow_id": workflow_id,
            "version_number": number,
            "replay_check_id": latest.id if latest else None,
            "replay_check_status": latest.status if latest else None,
        },
    )
