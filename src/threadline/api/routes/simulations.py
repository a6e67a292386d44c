"""Simulations: configs (``/v1/simulations``) and their groups
(``/v1/simulation-runs``).

Paths, bodies and envelopes follow the Interactly SDK's ``SimulationsResource``:
single configs are ``{"simulation": {...}}``, lists ``{"simulations": [...],
"total", "page", "size"}``; the config is the create body. See
``service.simulations``.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from threadline.api.deps import CallerDep, SettingsDep, StoreDep
from threadline.api.params import Page
from threadline.api.routes.common import JsonBody, ObjectIdPath
from threadline.service.simulations import configs, groups, results
from threadline.service.simulations.configs import SimulationLimits

router = APIRouter(tags=["simulations"])
BASE = "/simulations"
RUNS = "/simulation-runs"
AnyBody = Annotated[Any, Body()]
Size = Annotated[int, Query(ge=1, le=100)]
Search = Annotated[str | None, Query(max_length=200)]
GroupQuery = Annotated[str | None, Query(pattern=r"^[0-9a-f]{24}$")]


@router.get(f"{BASE}/schema", name="simulation_schema")
async def schema(caller: CallerDep) -> JsonBody:
    """The JSON schema of a simulation config (``config_schema``)."""
    return configs.schema()


@router.post(BASE, name="create_simulation")
async def create(
    store: StoreDep, caller: CallerDep, settings: SettingsDep, body: AnyBody
) -> JsonBody:
    """Create a simulation config (the body is the config)."""
    limits = SimulationLimits.of(settings)
    return {"simulation": await configs.create(store, caller, body, limits)}


@router.get(BASE, name="list_simulations")
async def list_(
    store: StoreDep,
    caller: CallerDep,
    page: Page = 1,
    size: Size = 20,
    search: Search = None,
) -> JsonBody:
    """The team's simulation configs, newest first."""
    return await configs.list_(store, caller, page=page, size=size, search=search)


@router.get(f"{BASE}/{{simulation_id}}", name="get_simulation")
async def get(
    store: StoreDep, caller: CallerDep, simulation_id: ObjectIdPath
) -> JsonBody:
    """One simulation config."""
    return {"simulation": await configs.get(store, caller, simulation_id)}


@router.patch(f"{BASE}/{{simulation_id}}", name="update_simulation")
async def update(
    store: StoreDep, caller: CallerDep, simulation_id: ObjectIdPath, body: AnyBody
) -> JsonBody:
    """Change a config's name, description or status."""
    return {"simulation": await configs.update(store, caller, simulation_id, body)}


@router.delete(f"{BASE}/{{simulation_id}}", name="delete_simulation")
async def delete(
    store: StoreDep, caller: CallerDep, simulation_id: ObjectIdPath
) -> JsonBody:
    """Delete a config with its groups (409 while one is running)."""
    return await configs.delete(store, caller, simulation_id)


@router.post(f"{BASE}/{{simulation_id}}/run", name="run_simulation")
async def run(
    store: StoreDep,
    caller: CallerDep,
    settings: SettingsDep,
    simulation_id: ObjectIdPath,
    body: Annotated[Any, Body()] = None,
) -> JsonBody:
    """Start a group of the simulation's conversations (they run in the background)."""
    limits = SimulationLimits.of(settings)
    group = await groups.run(store, caller, simulation_id, body, limits)
    return {"simulation_group": group}


@router.get(f"{BASE}/{{simulation_id}}/runs", name="list_simulation_groups")
async def list_runs(
    store: StoreDep,
    caller: CallerDep,
    simulation_id: ObjectIdPath,
    page: Page = 1,
    size: Size = 20,
) -> JsonBody:
    """The simulation's groups, newest first."""
    return await groups.list_for(store, caller, simulation_id, page=page, size=size)


@router.get(
    f"{BASE}/{{simulation_id}}/evaluation-summary", name="simulation_evaluation_summary"
)
async def evaluation_summary(
    store: StoreDep,
    caller: CallerDep,
    simulation_id: ObjectIdPath,
    group_id: GroupQuery = None,
) -> JsonBody:
    """Counts and evaluation metrics of a group (default: the latest), per side."""
    return await results.summary(store, caller, simulation_id, group_id)


@router.get(f"{RUNS}/{{group_id}}", name="get_simulation_group")
async def get_run(
    store: StoreDep, caller: CallerDep, group_id: ObjectIdPath
) -> JsonBody:
    """One simulation group with its conversation counts."""
    return {"simulation_group": await groups.get(store, caller, group_id)}


@router.post(f"{RUNS}/{{group_id}}/stop", name="stop_simulation_group")
async def stop_run(
    store: StoreDep, caller: CallerDep, group_id: ObjectIdPath
) -> JsonBody:
    """Stop a group: nothing more starts; conversations in flight end at their
    next turn (409 ``simulation_finished`` once finished)."""
    return {"simulation_group": await groups.stop(store, caller, group_id)}


@router.get(f"{RUNS}/{{group_id}}/executions", name="list_simulation_executions")
async def list_executions(
    store: StoreDep,
    caller: CallerDep,
    group_id: ObjectIdPath,
    page: Page = 1,
    size: Size = 20,
) -> JsonBody:
    """The group's conversations, in index order."""
    return await results.executions(store, caller, group_id, page=page, size=size)


@router.get(
    f"{RUNS}/{{group_id}}/executions/detailed",
    name="list_simulation_executions_detailed",
)
async def list_detailed(
    store: StoreDep,
    caller: CallerDep,
    group_id: ObjectIdPath,
    page: Page = 1,
    size: Size = 20,
) -> JsonBody:
    """The group's conversations with their runs and evaluations, in index order."""
    return await results.detailed(store, caller, group_id, page=page, size=size)
