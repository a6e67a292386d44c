"""The hot routes (``api/hot_routes.py``) are matched first and change nothing:
no route ahead of one in the table can match its requests, the OpenAPI document
lists each route once, and the app serves them under both prefixes."""

import gc
import re
from typing import Any

from fastapi.routing import APIRoute

from tests.api.conftest import Team
from tests.api.test_execute import START, new_workflow
from threadline.api.app import GC_THRESHOLDS, build_router, create_app, freeze_heap
from threadline.api.hot_routes import HOT, HOT_UNVERSIONED, hot_router
from threadline.api.routes import health, runs
from threadline.settings import Settings


def _flat(router: Any, prefix: str = "") -> list[tuple[str, set[str]]]:
    """(path template, methods) of every route, in the order the router tries
    them (included routers are walked in place)."""
    out: list[tuple[str, set[str]]] = []
    for route in router.routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            out += _flat(inner, prefix + str(getattr(context, "prefix", "") or ""))
        elif isinstance(route, APIRoute):
            out.append((prefix + route.path, set(route.methods or ())))
        else:
            out.append((prefix + str(getattr(route, "path", "")), {"*"}))
    return out


def _segments(template: str) -> list[str | None]:
    """A template's segments; None for a one-segment parameter."""
    if re.search(r"\{[^}]*:path\}", template):
        raise ValueError("a path parameter may match anything")
    return [None if s.startswith("{") else s for s in template.split("/")]


def _may_overlap(a: str, b: str) -> bool:
    """Whether some path matches both templates (conservative: True if unsure)."""
    try:
        left, right = _segments(a), _segments(b)
    except ValueError:
        return True
    if len(left) != len(right):
        return False
    return all(
        x is None or y is None or x == y for x, y in zip(left, right, strict=True)
    )


def _shadowing(
    table: list[tuple[str, set[str]]], hot: set[tuple[str, str]]
) -> list[str]:
    found = []
    for index, (template, methods) in enumerate(table):
        for method in methods & {m for m, p in hot if p == template}:
            for earlier, earlier_methods in table[:index]:
                if (method, earlier) in hot:
                    continue  # hot too, so ahead of it among the hot routes
                if (method in earlier_methods or "*" in earlier_methods) and (
                    _may_overlap(earlier, template)
                ):
                    found.append(f"{method} {template} is shadowed by {earlier}")
    return found


def test_no_route_ahead_of_a_hot_route_can_match_its_requests():
    table = _flat(build_router())
    assert {(m, p) for p, ms in table for m in ms} >= HOT
    assert _shadowing(table, set(HOT)) == []


def test_the_hot_routes_keep_their_order():
    hot = [(p, ms) for p, ms in _flat(hot_router(runs.router))]
    table = [(p, ms) for p, ms in _flat(build_router()) if (p, ms) in hot]
    assert hot == table


def test_the_check_sees_a_shadowing_route():
    table = [
        ("/workflows/{x}/{y}", {"POST"}),
        ("/workflows/{workflow_id}/execute", {"POST"}),
    ]
    assert _shadowing(table, {("POST", "/workflows/{workflow_id}/execute")})
    table = [
        ("/workflows/{x}/{y}", {"GET"}),
        ("/workflows/{workflow_id}/execute", {"POST"}),
    ]
    assert not _shadowing(table, {("POST", "/workflows/{workflow_id}/execute")})


def test_health_is_ahead_of_nothing_it_could_be_confused_with():
    app = create_app(Settings(database_url="sqlite+aiosqlite://"))
    table = _flat(app.router)
    [(method, path)] = HOT_UNVERSIONED
    original = [i for i, (p, ms) in enumerate(table) if p == path and method in ms]
    assert len(original) == 2  # the hidden copy first, the documented one later
    assert not [
        p for p, _ in table[: original[-1]] if p != path and _may_overlap(p, path)
    ]
    assert any(r.path == path for r in health.router.routes if isinstance(r, APIRoute))


def test_the_openapi_document_lists_each_route_once():
    app = create_app(Settings(database_url="sqlite+aiosqlite://"))
    document = app.openapi()
    ids = [
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
    ]
    assert len(ids) == len(set(ids))
    for method, path in HOT:
        assert method.lower() in document["paths"]["/v1" + path]
        assert "/workflows/v1" + path not in document["paths"]


async def test_the_hot_routes_answer_under_both_prefixes(team: Team):
    workflow_id = await new_workflow(team)
    for prefix in ("/v1", "/workflows/v1"):
        started = await team.client.post(
            f"{prefix}/workflows/{workflow_id}/execute", json={"run_input": START}
        )
        assert started.status_code == 200, started.text
        run_id = started.json()["run_id"]
        read = await team.client.get(f"{prefix}/workflow-runs/{run_id}")
        assert read.status_code == 200, read.text
        assert read.json()["workflow_run"]["_id"] == run_id
        bad = await team.client.get(f"{prefix}/workflow-runs/not-an-id")
        assert bad.status_code == 422
        schema = await team.client.get(f"{prefix}/workflow-runs/schema")
        assert schema.status_code == 200, schema.text


def test_freeze_heap_freezes_what_is_alive_and_raises_the_thresholds():
    before = gc.get_threshold()
    try:
        freeze_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] > before[0]
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
