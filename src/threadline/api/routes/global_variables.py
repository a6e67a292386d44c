"""Team global variables: CRUD, bulk create, resolve.

Paths and shapes follow the Interactly SDK's ``GlobalVariablesResource``: single
objects are ``{"variable": {...}}`` (the SDK unwraps that envelope), lists
``{"variables": [...], "total", "page", "size"}``, bulk ``{"created": [...],
"errors": [...], "total_created", "total_errors"}``, resolve ``{"variables":
{name: value}}``. Secret values are always masked. Fixed paths (``bulk``,
``resolve``) come before ``/{variable_id}``.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from threadline.api.deps import CallerDep, PagingDep, SettingsDep, StoreDep
from threadline.api.routes.common import JsonBody
from threadline.service.definitions.envelopes import page
from threadline.service.team import global_variables, secrets
from threadline.service.team.variable_values import ValueLimits
from threadline.settings import Settings
from threadline.store import Store

router = APIRouter(tags=["global_variables"])
BASE = "/global-variables"
AnyBody = Annotated[Any, Body()]


def _key(settings: Settings, store: Store) -> str | None:
    """The app's secret key (else the one bound to the store at start-up)."""
    return secrets.reveal(settings.secret_key) or secrets.key_for(store)


def _limits(settings: Settings) -> ValueLimits:
    return ValueLimits(
        max_depth=settings.max_variable_depth, max_bytes=settings.max_variable_bytes
    )


@router.post(f"{BASE}/bulk", name="bulk_create_global_variables")
async def bulk_create(
    store: StoreDep, settings: SettingsDep, caller: CallerDep, body: AnyBody
) -> JsonBody:
    """Create each of ``variables``; failures are reported per item in ``errors``."""
    key = _key(settings, store)
    limits = _limits(settings)
    return await global_variables.bulk_create(store, caller, body, key, limits)


@router.get(f"{BASE}/resolve", name="resolve_global_variables")
async def resolve(store: StoreDep, caller: CallerDep) -> JsonBody:
    """``{variables: {name: value}}`` of the team, secrets masked."""
    return await global_variables.resolve(store, caller)


@router.post(BASE, name="create_global_variable")
async def create(
    store: StoreDep, settings: SettingsDep, caller: CallerDep, body: AnyBody
) -> JsonBody:
    """Create a variable; ``is_secret`` values are encrypted at rest."""
    key = _key(settings, store)
    limits = _limits(settings)
    return {"variable": await global_variables.create(store, caller, body, key, limits)}


@router.get(BASE, name="list_global_variables")
async def list_(
    store: StoreDep,
    caller: CallerDep,
    paging: PagingDep,
    category: str | None = None,
) -> JsonBody:
    """The team's variables (``page``, ``size``, ``search``, ``category``)."""
    items, total = await global_variables.list_(store, caller, paging, category)
    return page("variables", items, total, page=paging.page, size=paging.size)


@router.get(f"{BASE}/{{variable_id}}", name="get_global_variable")
async def get(store: StoreDep, caller: CallerDep, variable_id: str) -> JsonBody:
    """One variable (a secret's value masked)."""
    return {"variable": await global_variables.get(store, caller, variable_id)}


@router.patch(f"{BASE}/{{variable_id}}", name="update_global_variable")
async def update(
    store: StoreDep,
    settings: SettingsDep,
    caller: CallerDep,
    variable_id: str,
    body: AnyBody,
) -> JsonBody:
    """Change the fields given; the mask sent back as ``value`` keeps a secret."""
    key = _key(settings, store)
    variable = await global_variables.update(
        store, caller, variable_id, body, key, _limits(settings)
    )
    return {"variable": variable}


@router.delete(
    f"{BASE}/{{variable_id}}", status_code=204, name="delete_global_variable"
)
async def delete(store: StoreDep, caller: CallerDep, variable_id: str) -> Response:
    """Delete a variable."""
    await global_variables.delete(store, caller, variable_id)
    return Response(status_code=204)
