"""Managed prompts (our extension; the SDK has no client for them):
``/managed-prompts`` create, list (``page``, ``size``, ``search``), and
``/managed-prompts/{name}`` get (``version``), ``/versions``, PATCH, DELETE (204).

Single objects are ``{"managed_prompt": {...}}``, lists ``{"managed_prompts":
[...], "total", "page", "size"}``. See ``service.reuse.managed_prompts`` and
docs/managed-prompts.md.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response

from threadline.api.deps import CallerDep, SettingsDep, StoreDep
from threadline.api.params import Page, VersionQuery
from threadline.api.routes.common import JsonBody
from threadline.service.reuse import managed_prompts as prompts
from threadline.settings import Settings

router = APIRouter(tags=["managed_prompts"])
BASE = "/managed-prompts"
AnyBody = Annotated[Any, Body()]
Name = Annotated[
    str, Path(pattern=prompts.NAME_PATTERN, description="the managed prompt's name")
]
Size = Annotated[int, Query(ge=1, le=1000)]


def _limits(settings: Settings) -> prompts.PromptLimits:
    return prompts.PromptLimits(
        max_chars=settings.managed_prompt_max_chars,
        max_per_team=settings.managed_prompts_max_per_team,
        versions_kept=settings.managed_prompt_versions_kept,
    )


@router.post(BASE, name="create_managed_prompt")
async def create(
    store: StoreDep, settings: SettingsDep, caller: CallerDep, body: AnyBody
) -> JsonBody:
    """A new prompt ``{name, text, description}`` at version 1."""
    made = await prompts.create(store, caller, body, _limits(settings))
    return {"managed_prompt": made}


@router.get(BASE, name="list_managed_prompts")
async def list_(
    store: StoreDep,
    caller: CallerDep,
    page: Page = 1,
    size: Size = 100,
    search: str | None = None,
) -> JsonBody:
    """The team's prompts and the built-ins, by name."""
    items, total = await prompts.list_(
        store, caller, page=page, size=size, search=search
    )
    return {"managed_prompts": items, "total": total, "page": page, "size": size}


@router.get(f"{BASE}/{{name}}", name="get_managed_prompt")
async def get(
    store: StoreDep,
    caller: CallerDep,
    name: Name,
    version: VersionQuery = None,
) -> JsonBody:
    """The prompt's current version (or a kept ``version``)."""
    return {"managed_prompt": await prompts.get(store, caller, name, version)}


@router.get(f"{BASE}/{{name}}/versions", name="list_managed_prompt_versions")
async def versions(store: StoreDep, caller: CallerDep, name: Name) -> JsonBody:
    """``{name, versions: [{version, text, created_at, created_by}]}``, newest first."""
    return await prompts.versions(store, caller, name)


@router.patch(f"{BASE}/{{name}}", name="update_managed_prompt")
async def update(
    store: StoreDep,
    settings: SettingsDep,
    caller: CallerDep,
    name: Name,
    body: AnyBody,
) -> JsonBody:
    """A new ``text`` makes a new version; ``description`` changes in place."""
    changed = await prompts.update(store, caller, name, body, _limits(settings))
    return {"managed_prompt": changed}


@router.delete(f"{BASE}/{{name}}", status_code=204, name="delete_managed_prompt")
async def delete(store: StoreDep, caller: CallerDep, name: Name) -> Response:
    """Delete it (a built-in's own text: the default text comes back)."""
    await prompts.delete(store, caller, name)
    return Response(status_code=204)
