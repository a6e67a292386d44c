"""Request dependencies: the store, the settings and the authenticated caller.

Dependencies are ``async def`` even when they do no I/O: FastAPI runs a plain
``def`` dependency in its thread pool, a thread hand-off on every request.
"""

import json
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Query, Request

from threadline.api.params import Page
from threadline.service.caller import Caller
from threadline.service.runtime import Runtime
from threadline.service.team import auth
from threadline.service.team.llm_endpoints import EndpointRules, check_configs
from threadline.settings import Settings
from threadline.store import Query as StoreQuery
from threadline.store import Store
from threadline.tools.limits import ToolCeilings


async def get_store(request: Request) -> Store:
    """The store opened at start-up."""
    store: Store = request.app.state.store
    return store


async def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_caller(
    store: StoreDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    teamid: Annotated[str | None, Header()] = None,
    uuid: Annotated[str | None, Header()] = None,
) -> Caller:
    """Authenticate the request's bearer key; honour the SDK's teamid/uuid headers."""
    return await auth.authenticate(store, authorization, teamid, uuid)


CallerDep = Annotated[Caller, Depends(get_caller)]


def get_runtime(request: Request) -> Runtime:
    """The runtime the app was created with."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def endpoint_rules(request: Request) -> EndpointRules:
    """How tenant LLM URLs are checked (the runtime's SSRF policy)."""
    return EndpointRules.of(get_runtime(request))


EndpointRulesDep = Annotated[EndpointRules, Depends(endpoint_rules)]


async def get_tool_ceilings(request: Request) -> ToolCeilings:
    """The operator's ceilings on tool calls (the runtime's, from the settings)."""
    return get_runtime(request).tool_ceilings


CeilingsDep = Annotated[ToolCeilings, Depends(get_tool_ceilings)]


async def check_llm_urls(
    request: Request, caller: CallerDep, rules: EndpointRulesDep
) -> None:
    """Refuse (422) a body whose LLM configs name a URL the SSRF guard refuses.

    Put on every router whose bodies may carry LLM configs (workflows, versions,
    nodes, LLM configs, libraries); the caller is authenticated first.
    """
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return  # the route reports the bad body
    await check_configs(body, rules)


async def paging(
    page: Page = 1,
    size: Annotated[int, Query(ge=1, le=1000)] = 100,
    search: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> StoreQuery:
    """The common list parameters: page, size, search, start, end."""
    return StoreQuery(page=page, size=size, search=search or None, start=start, end=end)


PagingDep = Annotated[StoreQuery, Depends(paging)]
