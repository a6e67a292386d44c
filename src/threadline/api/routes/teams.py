"""The caller's team: its concurrency limit (``/teams/current/concurrency``)."""

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from threadline.api.deps import CallerDep, StoreDep
from threadline.api.params import INT32_MAX
from threadline.api.routes.common import JsonBody
from threadline.service.runtime import Runtime
from threadline.service.team import admission

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
