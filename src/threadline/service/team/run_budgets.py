"""Run budgets as a team resource: validating them, the team default, and the
limits a new run starts with.

A budget (``config.run_budget.RunBudget``) may be set in three places:

- the team's default (``PUT /v1/teams/current/run-budget``), kept in the team's
  ``team_settings`` document beside its concurrency override;
- a workflow config's ``run_budget`` (checked when the config is saved);
- the run input of a ``start`` (``run_input.run_budget``; refused on any other
  command).

When a run starts, each limit is the smallest one set anywhere
(``warn_at_fraction`` too: the earliest warning wins); the result is stored on the
run (``workflow_run.run_budget``) and never changes. Enforcement is in
``service.running.budget_gate`` and ``engine.budgets``.
"""

from typing import Any

from threadline.config.run_budget import BUDGET_NAMES
from threadline.service.caller import Caller
from threadline.service.definitions.wire import run_budget
from threadline.service.definitions.workflows import now
from threadline.service.team.admission import TeamSettings, lock_key, read_settings
from threadline.store import Document, Store, Transaction

JsonDict = dict[str, Any]
FIELD = "run_budget"
_KIND = "team_settings"
_LIMIT_KEYS = (*BUDGET_NAMES, "warn_at_fraction")


def parse(raw: Any, prefix: str = FIELD) -> JsonDict | None:
    """A validated budget (``definitions.wire.run_budget``; None: no budget)."""
    return run_budget(raw, prefix)


def smallest(*budgets: JsonDict | None) -> JsonDict | None:
    """Per limit, the smallest value any of ``budgets`` sets."""
    out: JsonDict = {}
    for budget in budgets:
        for key in _LIMIT_KEYS:
            value = (budget or {}).get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[key] = value if key not in out else min(out[key], value)
    return out or None


async def team_default(
    tx: Transaction, team_id: str, settings: TeamSettings | None = None
) -> JsonDict | None:
    """The team's default budget (None: not set)."""
    doc = (settings or await read_settings(tx, team_id)).doc
    value = doc.body.get(FIELD) if doc is not None else None
    return dict(value) if isinstance(value, dict) and value else None


async def for_new_run(
    tx: Transaction,
    team_id: str,
    snapshot: JsonDict,
    run_input: JsonDict,
    settings: TeamSettings | None = None,
) -> JsonDict | None:
    """The limits a new run starts with: team, workflow and input, smallest wins
    (``settings``: the team's settings if this transaction already read them)."""
    workflow = (snapshot.get("workflow_config") or {}).get(FIELD)
    return smallest(
        await team_default(tx, team_id, settings),
        workflow if isinstance(workflow, dict) else None,
        run_input.get(FIELD),
    )


async def get_team(store: Store, caller: Caller) -> JsonDict:
    """``{team_id, run_budget}``: the caller's team default."""
    async with store.begin() as tx:
        budget = await team_default(tx, caller.team_id)
    return {"team_id": caller.team_id, FIELD: budget}


async def set_team(store: Store, caller: Caller, raw: Any) -> JsonDict:
    """Replace the team's default budget (an empty object or null clears it)."""
    budget = parse(raw)
    team_id = caller.team_id
    async with store.begin() as tx:
        await tx.lock(lock_key(team_id))
        docs = tx.documents(_KIND)
        at = now()
        current = await docs.get(team_id, team_id)
        body = {**(current.body if current else {}), FIELD: budget}
        doc = Document(
            id=team_id,
            team_id=team_id,
            body=body,
            created_at=current.created_at if current else at,
            updated_at=at,
            created_by=current.created_by if current else caller.user_id,
            updated_by=caller.user_id,
        )
        if current is None:
            await docs.insert(doc)
        else:
            await docs.replace(doc)
    return {"team_id": team_id, FIELD: budget}
