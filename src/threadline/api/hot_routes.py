"""The routes of a conversation turn, matched before all the others.

The router walks its routes in order until one matches: a request to a route near
the end of the table (``execute`` is behind a hundred others, under two prefixes)
pays a regular-expression match and FastAPI's bookkeeping for each route before
it, about a millisecond of CPU. The routes a client calls on every turn, and the
liveness probe, are therefore included a second time, first: the same route
objects (same endpoint, dependencies, validation, responses), hidden from the
OpenAPI document, which still lists them once, where they were.

That is only the same service if every route ahead of a hot route in the table
that can match a request of the hot route is hot too, and stays ahead of it (the
first match wins); ``tests/api/test_hot_routes.py`` checks it for every hot route.
"""

from collections.abc import Set

from fastapi import APIRouter
from fastapi.routing import APIRoute

HOT = frozenset(
    {
        ("POST", "/workflows/{workflow_id}/execute"),
        # Ahead of the next in the table (its path would match it), so here too.
        ("GET", "/workflow-runs/schema"),
        ("GET", "/workflow-runs/{run_id}"),
    }
)
"""(method, path template) of the hot versioned routes, without their prefix;
they keep their order (all are routes of ``routes/runs.py``)."""
HOT_UNVERSIONED = frozenset({("GET", "/health")})


def hot_router(router: APIRouter, wanted: Set[tuple[str, str]] = HOT) -> APIRouter:
    """A router holding the routes of ``router`` named in ``wanted`` (its own
    routes, not those of the routers it includes); each must be there."""
    hot = APIRouter()
    found: set[tuple[str, str]] = set()
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        served = {(method, route.path) for method in route.methods or ()}
        if served & wanted:
            hot.routes.append(route)
            found |= served
    missing = wanted - found
    if missing:
        raise RuntimeError(f"hot routes not found: {sorted(missing)}")
    return hot
