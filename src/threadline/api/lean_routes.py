"""Hot routes served without FastAPI's parameter solver when a request is plainly
valid.

FastAPI solves a route's parameters anew on every request: each header, path,
query and body field is looked up and validated on its own, and the parameters of
the route's dependencies are inspected again (about 0.2 ms of CPU for ``execute``,
half of what the request path costs outside the turn). A route of a router whose
``route_class`` is :class:`LeanRoute`, and whose endpoint carries a reader
(``@lean(reader)``), first asks the reader for the endpoint's arguments. A reader
reads them from the request in a few lines and returns them only when the request
is one FastAPI would accept with the same values; for anything else (a query
string it does not expect, an id that does not match, a body that is not a JSON
object, a content type other than JSON) it returns None and FastAPI's own handler
answers, so every refusal keeps its status, code and message.

A reader checks everything that cannot fail for a legitimate reason first and
calls the dependencies that may refuse (authentication) last, so a request is
refused for the same reason either way. Dependency overrides (tests) and FastAPI's
own telemetry, when enabled, always take the full handler.
``tests/api/test_lean_routes.py`` sends the same requests both ways.
"""

import json
import re
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.routing import APIRoute
from fastapi.telemetry import get_telemetry_data

from threadline.api.deps import get_caller, get_store
from threadline.api.params import INT32_MAX
from threadline.ids import is_object_id
from threadline.service.caller import Caller
from threadline.store import Store

JsonDict = dict[str, Any]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
PARSED_BODY = "threadline.json_body"
"""Scope key: the request body as ``JsonGuard`` decoded it (``json.loads``)."""
_READER = "__threadline_lean_reader__"
_VERSION_QUERY = re.compile(rb"version=([0-9]{1,10})")


@dataclass(frozen=True)
class Reader:
    """Reads a route's arguments (``read``: None to leave the request to FastAPI)."""

    names: frozenset[str]
    """The endpoint's parameters, all of them (checked when the route is built)."""
    read: Callable[[Request], Awaitable[JsonDict | None]]


def lean(reader: Reader) -> Callable[[Endpoint], Endpoint]:
    """Give an endpoint its reader (put it below the route decorator)."""

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _READER, reader)
        return endpoint

    return mark


def reader_of(endpoint: Callable[..., Any]) -> Reader | None:
    """The reader ``@lean`` gave ``endpoint``, if any."""
    reader: Reader | None = getattr(endpoint, _READER, None)
    return reader


def _parameter_names(route: APIRoute) -> set[str | None]:
    dependant = route.dependant
    fields = [
        *dependant.path_params,
        *dependant.query_params,
        *dependant.header_params,
        *dependant.cookie_params,
        *dependant.body_params,
    ]
    names: set[str | None] = {field.name for field in fields}
    names |= {sub.name for sub in dependant.dependencies}
    if dependant.request_param_name is not None:
        names.add(dependant.request_param_name)
    return names


class LeanRoute(APIRoute):
    """An ``APIRoute`` that tries its endpoint's reader first (see the module)."""

    def get_route_handler(
        self,
    ) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        standard = super().get_route_handler()
        reader = reader_of(self.endpoint)
        if reader is None:
            return standard
        declared: set[str | None] = set(reader.names)
        if _parameter_names(self) != declared:
            raise RuntimeError(
                f"{self.path}: the lean reader gives {sorted(reader.names)}, the "
                f"route takes {sorted(map(str, _parameter_names(self)))}"
            )
        call = self.endpoint

        async def handler(request: Request) -> Response:
            if not request.app.dependency_overrides and get_telemetry_data() is None:
                arguments = await reader.read(request)
                if arguments is not None:
                    response = await call(**arguments)
                    if not isinstance(response, Response):
                        raise TypeError(f"{self.path}: a lean route answers a Response")
                    return response
            return await standard(request)

        return handler


def object_id(request: Request, name: str) -> str | None:
    """The path parameter ``name`` when it is a 24-hex id."""
    value = request.path_params.get(name)
    if isinstance(value, str) and is_object_id(value):
        return value
    return None


def version_query(request: Request) -> tuple[bool, int | None]:
    """(plain, version): no query string, or exactly ``version=<0..2**31-1>``."""
    query: bytes = request.scope.get("query_string", b"")
    if not query:
        return True, None
    found = _VERSION_QUERY.fullmatch(query)
    if found is None or int(found.group(1)) > INT32_MAX:
        return False, None
    return True, int(found.group(1))


async def json_object(request: Request) -> JsonDict | None:
    """The body when it is a JSON object sent as ``application/json``."""
    kind = request.headers.get("content-type")
    if kind is None or kind.split(";")[0].strip().lower() != "application/json":
        return None
    value = request.scope.get(PARSED_BODY)
    if value is None:
        raw = await request.body()
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):
            return None
    return value if isinstance(value, dict) else None


async def caller_of(request: Request, store: Store) -> Caller:
    """What ``CallerDep`` gives (may refuse: call it after every other check)."""
    headers = request.headers
    return await get_caller(
        store, headers.get("authorization"), headers.get("teamid"), headers.get("uuid")
    )


async def read_execute(request: Request) -> JsonDict | None:
    """``POST /workflows/{workflow_id}/execute``'s arguments."""
    workflow_id = object_id(request, "workflow_id")
    plain, version = version_query(request)
    if workflow_id is None or not plain:
        return None
    body = await json_object(request)
    if body is None:
        return None
    store = await get_store(request)
    caller = await caller_of(request, store)
    return {
        "request": request,
        "store": store,
        "caller": caller,
        "workflow_id": workflow_id,
        "body": body,
        "version": version,
    }


EXECUTE = Reader(
    frozenset({"request", "store", "caller", "workflow_id", "body", "version"}),
    read_execute,
)


async def read_run(request: Request) -> JsonDict | None:
    """``GET /workflow-runs/{run_id}``'s arguments (it takes no query)."""
    run_id = object_id(request, "run_id")
    if run_id is None:
        return None
    store = await get_store(request)
    caller = await caller_of(request, store)
    return {"request": request, "store": store, "caller": caller, "run_id": run_id}


RUN = Reader(frozenset({"request", "store", "caller", "run_id"}), read_run)
