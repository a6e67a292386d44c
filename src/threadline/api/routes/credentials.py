"""The caller's team vendor credentials (``/teams/current/credentials``).

``PUT /teams/current/credentials/{vendor}`` stores (or replaces) the team's key
for one vendor, encrypted at rest; ``GET`` lists them or shows one, ``DELETE``
removes one. Responses never carry a value: ``{"credential": {"vendor",
"fields": {name: "********"}, ...}}`` (see ``service.team.vendor_credentials`` for the
vendors, their fields and the lookup order at call time).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from threadline.api.deps import CallerDep, EndpointRulesDep, SettingsDep, StoreDep
from threadline.api.routes.common import JsonBody
from threadline.service.team import secrets, vendor_credentials

router = APIRouter(tags=["teams"])
BASE = "/teams/current/credentials"
AnyBody = Annotated[Any, Body()]


@router.get(BASE, name="list_vendor_credentials")
async def list_(store: StoreDep, caller: CallerDep) -> JsonBody:
    """The team's credentials, values masked."""
    items = await vendor_credentials.list_(store, caller)
    return {"credentials": items, "total": len(items)}


@router.put(f"{BASE}/{{vendor}}", name="put_vendor_credential")
async def put(
    store: StoreDep,
    settings: SettingsDep,
    caller: CallerDep,
    rules: EndpointRulesDep,
    vendor: str,
    body: AnyBody,
    response: Response,
) -> JsonBody:
    """Store the team's credential for ``vendor`` (201 new, 200 replaced)."""
    key = secrets.reveal(settings.secret_key) or secrets.key_for(store)
    shown, created = await vendor_credentials.put(
        store, caller, vendor, body, key, rules=rules
    )
    response.status_code = 201 if created else 200
    return {"credential": shown}


@router.get(f"{BASE}/{{vendor}}", name="get_vendor_credential")
async def get(store: StoreDep, caller: CallerDep, vendor: str) -> JsonBody:
    """The team's credential for ``vendor``, values masked."""
    return {"credential": await vendor_credentials.get(store, caller, vendor)}


@router.delete(f"{BASE}/{{vendor}}", status_code=204, name="delete_vendor_credential")
async def delete(store: StoreDep, caller: CallerDep, vendor: str) -> Response:
    """Remove the team's credential for ``vendor``."""
    await vendor_credentials.delete(store, caller, vendor)
    return Response(status_code=204)
