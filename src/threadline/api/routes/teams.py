"""The caller's team: its concurrency limit (``/teams/current/concurrency``) and
its default run budget (``/teams/current/run-budget``)."""

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from threadline.api.deps import CallerDep, StoreDep
from threadline.api.openapi import EXTENSION
from threadline.api.params import INT32_MAX
from threadline.api.routes.common import JsonBody
from threadline.config.run_budget import RunBudget
from threadline.service.runtime import Runtime
from threadline.service.team import admission, run_budgets

router = APIRouter(tags=["teams"])


def _default(request: Request) -> int | None:
    """The server default (``THREADLINE_TEAM_MAX_CONCURRENT_RUNS``) via the runtime."""
    runtime: Runtime = request.app.state.runtime
    return runtime.team_max_concurrent_runs


class TeamConcurrencyBody(BaseModel):
    """Body of ``PATCH /teams/current/concurrency``."""

    max_concurrent_runs: int | None = Field(ge=0, le=INT32_MAX)
    """The team's limit of active runs: None uses the server default, 0 is
    unlimited."""


@router.get("/teams/current/concurrency")
async def get_team_concurrency(
    request: Request, store: StoreDep, caller: CallerDep
) -> JsonBody:
    """The team's limit of active runs, the server default and the active runs."""
    team = await admission.get_team(store, caller, _default(request))
    return team.to_json()


@router.patch("/teams/current/concurrency")
async def set_team_concurrency(
    request: Request, store: StoreDep, caller: CallerDep, body: TeamConcurrencyBody
) -> JsonBody:
    """Override the server default for the caller's team (None: back to it)."""
    team = await admission.set_team(
        store, caller, body.max_concurrent_runs, _default(request)
    )
    return team.to_json()


_EXTENSION = {EXTENSION: True}


@router.get("/teams/current/run-budget", openapi_extra=_EXTENSION)
async def get_team_run_budget(store: StoreDep, caller: CallerDep) -> JsonBody:
    """The team's default run budget (``docs/budgets.md``; a Threadline extension)."""
    return await run_budgets.get_team(store, caller)


@router.put("/teams/current/run-budget", openapi_extra=_EXTENSION)
async def set_team_run_budget(
    store: StoreDep, caller: CallerDep, body: RunBudget
) -> JsonBody:
    """Replace the team's default run budget; ``{}`` clears it. Runs started from
    now on take, per limit, the smallest of this, the workflow's and the start
    input's ``run_budget``."""
    return await run_budgets.set_team(store, caller, body.model_dump(exclude_none=True))
