"""Admission control: how many runs may be active at once, per workflow and per team.

A run is *active* while its status is ``not_started`` (just created, about to run
its first turn), ``started``, ``running`` or ``waiting_for_user_input``. Terminal
runs (completed, failed, cancelled, aborted_looping_risk) and ``paused`` runs hold
no slot: pausing, stopping or finishing a run frees its slot as soon as its status
is written. (Resuming a paused run is not re-admitted.)

Two limits apply to a new run; the stricter one decides:

- the workflow's ``max_concurrent_runs`` (``PATCH /v1/workflows/{id}/concurrency``;
  None: no limit);
- the team's limit: the team's own override (``PATCH /v1/teams/current/concurrency``)
  or else the server default ``THREADLINE_TEAM_MAX_CONCURRENT_RUNS``. An override of
  None uses the default; 0 (override or default) means unlimited.

``admit`` runs inside the transaction that inserts the run, after taking the team's
lock (``Transaction.lock``): the count and the insert are one atomic step even when
several processes start runs of the team at once. Over a limit it raises
``TooManyRequests`` (429, code ``concurrency_limit``, ``Retry-After``) and the
transaction, and so the run, is rolled back.

Scheduled and background starts (schedules, evaluation runs) refused here are not
lost: they wait in the start queue (``service.automation.start_queue``) until a slot
frees.
"""

from dataclasses import dataclass
from typing import Any

from threadline.errors import InvalidField, TooManyRequests
from threadline.service.caller import Caller
from threadline.service.definitions.workflows import now
from threadline.store import Document, Store, Transaction
from threadline.telemetry import metrics

JsonDict = dict[str, Any]

ACTIVE_STATUSES = ("not_started", "started", "running", "waiting_for_user_input")
"""Statuses that hold a concurrency slot (``paused`` deliberately does not)."""
RETRY_AFTER_S = 1
"""The ``Retry-After`` hint of a refused start: slots free as soon as runs end."""
CODE = "concurrency_limit"
_KIND = "team_settings"


def lock_key(team_id: str) -> str:
    """The lock serialising the admission of one team's runs."""
    return f"threadline:concurrency:{team_id}"


def _limit(value: Any) -> int | None:
    """A positive limit, or None for "no limit" (None, 0 or not a number)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


def workflow_limit(workflow: Document) -> int | None:
    """The workflow's own limit (None: unlimited)."""
    return _limit(workflow.body.get("max_concurrent_runs"))


def team_limit(override: int | None, default: int | None) -> int | None:
    """The team's effective limit (None: unlimited)."""
    return _limit(override if override is not None else default)


@dataclass(frozen=True, slots=True)
class TeamSettings:
    """The team's ``team_settings`` document as read once in a transaction: a new
    run's admission (the concurrency override) and its budget (the team default,
    ``run_budgets``) both read it."""

    doc: Document | None
    """None: the team stored no settings."""


async def read_settings(tx: Transaction, team_id: str) -> TeamSettings:
    return TeamSettings(await tx.documents(_KIND).get(team_id, team_id))


async def team_override(
    tx: Transaction, team_id: str, settings: TeamSettings | None = None
) -> int | None:
    """The team's stored override of the server default (None: not set)."""
    doc = (settings or await read_settings(tx, team_id)).doc
    if doc is None:
        return None
    value = doc.body.get("max_concurrent_runs")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def active_runs(
    tx: Transaction, team_id: str, workflow_id: str | None = None
) -> int:
    """How many runs of the team (or of one of its workflows) are active."""
    equals = {"workflow_id": workflow_id} if workflow_id is not None else {}
    return await tx.documents("workflow_runs").count(
        team_id, equals, statuses=ACTIVE_STATUSES
    )


def _refuse(level: str, limit: int, active: int, what: str) -> TooManyRequests:
    metrics.concurrency_refusals.labels(level).inc()
    return TooManyRequests(
        f"{what} already has {active} active runs, its limit "
        f"(max_concurrent_runs={limit}); retry when one finishes",
        code=CODE,
        details={"level": level, "limit": limit, "active": active},
        retry_after=RETRY_AFTER_S,
    )


async def admit(
    tx: Transaction,
    caller: Caller,
    workflow: Document,
    team_default: int | None,
    settings: TeamSettings | None = None,
) -> None:
    """Let one more run of ``workflow`` start, or raise ``TooManyRequests``.

    Call inside the transaction that then inserts the run. ``team_default`` is the
    server default (``Runtime.team_max_concurrent_runs``); ``settings``: the
    team's settings if this transaction already read them.
    """
    team_id = caller.team_id
    per_workflow = workflow_limit(workflow)
    per_team = team_limit(await team_override(tx, team_id, settings), team_default)
    if per_workflow is None and per_team is None:
        return
    await tx.lock(lock_key(team_id))
    if per_workflow is not None:
        active = await active_runs(tx, team_id, workflow.id)
        if active >= per_workflow:
            raise _refuse("workflow", per_workflow, active, f"workflow {workflow.id!r}")
    if per_team is not None:
        active = await active_runs(tx, team_id)
        if active >= per_team:
            raise _refuse("team", per_team, active, "the team")


@dataclass(frozen=True, slots=True)
class TeamConcurrency:
    """A team's limit as the API shows it."""

    team_id: str
    max_concurrent_runs: int | None
    default: int | None
    active_runs: int

    def to_json(self) -> JsonDict:
        return {
            "team_id": self.team_id,
            "max_concurrent_runs": self.max_concurrent_runs,
            "default": self.default,
            "effective_max_concurrent_runs": team_limit(
                self.max_concurrent_runs, self.default
            ),
            "active_runs": self.active_runs,
        }


async def get_team(
    store: Store, caller: Caller, team_default: int | None
) -> TeamConcurrency:
    """The caller's team limit: its override, the server default, its active runs."""
    async with store.begin() as tx:
        override = await team_override(tx, caller.team_id)
        active = await active_runs(tx, caller.team_id)
    return TeamConcurrency(caller.team_id, override, team_default, active)


async def set_team(
    store: Store, caller: Caller, limit: int | None, team_default: int | None
) -> TeamConcurrency:
    """Set the team's override (None: use the server default; 0: unlimited)."""
    if limit is not None and limit < 0:
        raise InvalidField("max_concurrent_runs: must be 0 (unlimited) or more")
    team_id = caller.team_id
    async with store.begin() as tx:
        await tx.lock(lock_key(team_id))
        docs = tx.documents(_KIND)
        at = now()
        current = await docs.get(team_id, team_id)
        body = {**(current.body if current else {}), "max_concurrent_runs": limit}
        if current is None:
            await docs.insert(
                Document(
                    id=team_id,
                    team_id=team_id,
                    body=body,
                    created_at=at,
                    updated_at=at,
                    created_by=caller.user_id,
                    updated_by=caller.user_id,
                )
            )
        else:
            await docs.replace(
                Document(
                    id=team_id,
                    team_id=team_id,
                    body=body,
                    created_at=current.created_at,
                    updated_at=at,
                    created_by=current.created_by,
                    updated_by=caller.user_id,
                )
            )
        active = await active_runs(tx, team_id)
    return TeamConcurrency(team_id, limit, team_default, active)
