"""The team page: limits and use, the start queue, schedules, webhooks with their
delivery attempts, global variables, LLM configs, vendor credentials, API keys.

Every value comes from the same service calls as the API, so secrets are masked
exactly as there; a new API key is shown once, on the page that created it.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from threadline.api.console.web import FormDep, Visitor, VisitorDep, page, redirect
from threadline.api.console.workflows import checked_id
from threadline.api.deps import StoreDep, get_runtime
from threadline.errors import NotFound, ThreadlineError
from threadline.service.automation import schedules
from threadline.service.runtime import Runtime
from threadline.service.team import (
    admission,
    auth,
    global_variables,
    llm_config_tests,
    llm_configs,
    vendor_credentials,
)
from threadline.service.webhooks import (
    list_attempts,
    list_events,
    list_subscriptions,
    retry_event,
)
from threadline.store import Query, Store

router = APIRouter(include_in_schema=False)
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SHOWN = 50
"""Rows of each section (newest first)."""


async def _webhooks(store: Store, visitor: Visitor) -> dict[str, Any]:
    caller = visitor.caller
    hooks, _ = await list_subscriptions(store, caller, Query(size=SHOWN))
    events, _ = await list_events(store, caller, Query(size=SHOWN))
    attempts: dict[str, list[Any]] = {}
    for event in events[:10]:
        key = str(event.get("_id"))
        attempts[key], _ = await list_attempts(store, caller, key, Query(size=10))
    return {"hooks": hooks, "events": events, "attempts": attempts}


async def team_view(store: Store, visitor: Visitor, runtime: Runtime) -> dict[str, Any]:
    """Everything the team page shows."""
    caller = visitor.caller
    limits = await admission.get_team(store, caller, runtime.team_max_concurrent_runs)
    all_schedules = await schedules.list_(
        store, caller, workflow_id=None, status=None, skip=0, limit=SHOWN
    )
    variables, _ = await global_variables.list_(store, caller, Query(size=SHOWN))
    configs, _ = await llm_configs.list_(store, caller, Query(size=SHOWN))
    keys = await auth.list_keys(store, caller.team_id)
    return {
        "limits": limits.to_json(),
        "schedules": all_schedules,
        "queue": [s for s in all_schedules if s.get("waiting")],
        "variables": variables,
        "configs": configs,
        "credentials": await vendor_credentials.list_(store, caller),
        "keys": keys,
        **await _webhooks(store, visitor),
    }


async def _render(
    request: Request,
    visitor: Visitor,
    store: Store,
    runtime: Runtime,
    status: int = 200,
    **extra: Any,
) -> Response:
    view = await team_view(store, visitor, runtime)
    context = {"new_key": None, "test_result": None, "notice": None, **extra}
    return page(request, "team.html", status, visitor=visitor, **view, **context)


@router.get("/ui/team")
async def team_page(
    request: Request, visitor: VisitorDep, store: StoreDep, runtime: RuntimeDep
) -> Response:
    """The team's resources."""
    return await _render(request, visitor, store, runtime)


@router.post("/ui/team/keys")
async def create_key(
    request: Request,
    visitor: VisitorDep,
    store: StoreDep,
    runtime: RuntimeDep,
    fields: FormDep,
) -> Response:
    """Create an API key for the visitor's team and user; its value is shown once."""
    name = fields.get("name", "").strip()[:100] or None
    caller = visitor.caller
    new = await auth.create_key(store, caller.team_id, caller.user_id, name=name)
    return await _render(request, visitor, store, runtime, new_key=new)


@router.post("/ui/team/keys/{key_id}/revoke")
async def revoke_key(
    request: Request, visitor: VisitorDep, store: StoreDep, key_id: str, _: FormDep
) -> Response:
    """Revoke one of the team's keys (revoking your own signs you out)."""
    keys = await auth.list_keys(store, visitor.caller.team_id)
    if not any(k.id == key_id and k.revoked_at is None for k in keys):
        raise NotFound(f"no active API key with id {key_id!r}")
    await auth.revoke_key(store, key_id)
    return redirect("/ui/team#keys", request)


@router.post("/ui/team/webhook-events/{event_id}/retry")
async def retry(
    request: Request, visitor: VisitorDep, store: StoreDep, event_id: str, _: FormDep
) -> Response:
    """Queue a webhook event for delivery again, now."""
    await retry_event(store, visitor.caller, event_id)
    return redirect("/ui/team#webhooks", request)


@router.post("/ui/team/llm-configs/{config_id}/test")
async def test_config(
    request: Request,
    visitor: VisitorDep,
    store: StoreDep,
    runtime: RuntimeDep,
    config_id: str,
    fields: FormDep,
) -> Response:
    """Run a short prompt against a saved LLM config and show the answer."""
    body = {
        "system_prompt": fields.get("system_prompt") or "You are a helpful assistant.",
        "messages": [{"role": "human", "content": fields.get("message") or "Hello"}],
    }
    try:
        result = await llm_config_tests.try_saved(
            store, visitor.caller, runtime, checked_id("LLM config", config_id), body
        )
    except ThreadlineError as exc:
        if exc.status == 404:
            raise
        result = {"success": False, "error": exc.message}
    return await _render(
        request, visitor, store, runtime, test_result={"id": config_id, **result}
    )
