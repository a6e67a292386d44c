"""Request dependencies: the store, the settings and the authenticated caller."""

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Query, Request

from threadline.service import auth
from threadline.service.caller import Caller
from threadline.settings import Settings
from threadline.store import Query as StoreQuery
from threadline.store import Store


def get_store(request: Request) -> Store:
    """The store opened at start-up."""
    store: Store = request.app.state.store
    return store


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_caller(
    store: StoreDep,
    authorization: Annotated[str | None, Header()] = None,
    teamid: Annotated[str | None, Header()] = None,
    uuid: Annotated[str | None, Header()] = None,
) -> Caller:
    """Authenticate the request's bearer key; honour the SDK's teamid/uuid headers."""
    return await auth.authenticate(store, authorization, teamid, uuid)


CallerDep = Annotated[Caller, Depends(get_caller)]


def paging(
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=1000)] = 100,
    search: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> StoreQuery:
    """The common list parameters: page, size, search, start, end."""
    return StoreQuery(page=page, size=size, search=search or None, start=start, end=end)


PagingDep = Annotated[StoreQuery, Depends(paging)]
