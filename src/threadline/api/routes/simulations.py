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
from threadline.service.simulations import configs
from threadline.service.simulations.configs import SimulationLimits

router = APIRouter(tags=["simulations"])
BASE = "/simulations"
AnyBody = Annotated[Any, Body()]
Size = Annotated[int, Query(ge=1, le=100)]
Search = Annotated[str | None, Query(max_length=200)]


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
