"""Saved LLM configs: CRUD, the team default, trying a config, the config schema.

Paths and shapes follow the Interactly SDK's ``LLMConfigsResource``: single objects
are ``{"llm_config": {...}}``, lists ``{"llm_configs": [...], "total", "page",
"size"}``, test results a bare ``LLMConfigTestResult``. Fixed paths (``default``,
``test``) come before ``/{llm_config_id}``.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from threadline.api.deps import CallerDep, PagingDep, StoreDep
from threadline.api.routes.common import JsonBody
from threadline.service.definitions.envelopes import page
from threadline.service.runtime import Runtime
from threadline.service.team import llm_config_tests, llm_configs

router = APIRouter(tags=["llm_configs"])
BASE = "/llm-configs"
AnyBody = Annotated[Any, Body()]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.get("/schemas/llm-config")
async def llm_config_schema(_: CallerDep) -> JsonBody:
    """JSON schema of a saved config's ``config`` (``LLMOrGroupConfig``)."""
    return llm_configs.config_schema()


@router.post(BASE, name="create_llm_config")
async def create(store: StoreDep, caller: CallerDep, body: AnyBody) -> JsonBody:
    """Save a config; ``is_default`` with ``override_default`` replaces the default."""
    return {"llm_config": await llm_configs.create(store, caller, body)}


@router.get(BASE, name="list_llm_configs")
async def list_(store: StoreDep, caller: CallerDep, paging: PagingDep) -> JsonBody:
    """The team's saved configs (``page``, ``size``, ``search``)."""
    items, total = await llm_configs.list_(store, caller, paging)
    return page("llm_configs", items, total, page=paging.page, size=paging.size)


@router.get(f"{BASE}/default", name="get_default_llm_config")
async def get_default(store: StoreDep, caller: CallerDep) -> JsonBody:
    """The team default (404 when none is set)."""
    return {"llm_config": await llm_configs.get_default(store, caller)}


@router.post(f"{BASE}/test", name="test_inline_llm_config")
async def try_inline(request: Request, _: CallerDep, body: AnyBody) -> JsonBody:
    """Run a prompt against an unsaved config."""
    return await llm_config_tests.try_inline(_runtime(request), body)


@router.get(f"{BASE}/{{llm_config_id}}", name="get_llm_config")
async def get(store: StoreDep, caller: CallerDep, llm_config_id: str) -> JsonBody:
    """One saved config."""
    return {"llm_config": await llm_configs.get(store, caller, llm_config_id)}


@router.patch(f"{BASE}/{{llm_config_id}}", name="update_llm_config")
async def update(
    store: StoreDep, caller: CallerDep, llm_config_id: str, body: AnyBody
) -> JsonBody:
    """Change the fields given; a masked secret sent back keeps the stored one."""
    return {"llm_config": await llm_configs.update(store, caller, llm_config_id, body)}


@router.delete(f"{BASE}/{{llm_config_id}}", status_code=204, name="delete_llm_config")
async def delete(store: StoreDep, caller: CallerDep, llm_config_id: str) -> Response:
    """Delete a saved config."""
    await llm_configs.delete(store, caller, llm_config_id)
    return Response(status_code=204)


@router.post(f"{BASE}/{{llm_config_id}}/test", name="test_llm_config")
async def try_saved(
    request: Request,
    store: StoreDep,
    caller: CallerDep,
    llm_config_id: str,
    body: AnyBody,
) -> JsonBody:
    """Run a prompt against a saved config (``config`` overrides it for this call)."""
    runtime = _runtime(request)
    return await llm_config_tests.try_saved(store, caller, runtime, llm_config_id, body)
