"""The lean routes (``api/lean_routes.py``) answer what FastAPI's own handler
answers: the same requests, sent both ways, get the same status and body; only
plainly valid requests skip the parameter solver."""

from typing import Any

import fastapi.routing
import pytest
from fastapi import APIRouter, FastAPI, Request

from tests.api.conftest import Team
from tests.api.test_execute import START, new_workflow
from threadline.api.lean_routes import EXECUTE, LeanRoute, lean
from threadline.ids import new_object_id

JSON = {"content-type": "application/json"}


def _app(team: Team) -> FastAPI:
    app: FastAPI = team.client._transport.app  # type: ignore[attr-defined]
    return app


def _full() -> None:
    """A dependency override no route uses: its presence sends every request to
    FastAPI's own handler."""


@pytest.fixture
def solved(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths whose request went through FastAPI's parameter solver."""
    calls: list[str] = []
    original = fastapi.routing.__dict__["solve_dependencies"]

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["request"].url.path)
        return await original(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counted)
    return calls


async def _both(team: Team, method: str, url: str, **kwargs: Any) -> Any:
    """(lean answer, full answer), each as (status, JSON body)."""
    app = _app(team)
    lean_answer = await team.client.request(method, url, **kwargs)
    app.dependency_overrides[_full] = _full
    try:
        full_answer = await team.client.request(method, url, **kwargs)
    finally:
        app.dependency_overrides.pop(_full)
    return (
        (lean_answer.status_code, lean_answer.json()),
        (full_answer.status_code, full_answer.json()),
    )


def _refusals(wid: str) -> list[tuple[str, dict[str, Any]]]:
    execute = f"/v1/workflows/{wid}/execute"
    body = b'{"run_input": {"command": "start"}}'
    return [
        ("/v1/workflows/not-an-id/execute", {"content": body, "headers": JSON}),
        (f"/v1/workflows/{new_object_id()}/execute", {"json": {"run_input": START}}),
        (execute, {"content": b"{", "headers": JSON}),
        (execute, {"content": b"[1, 2]", "headers": JSON}),
        (execute, {"content": b"null", "headers": JSON}),
        (execute, {"content": b"", "headers": JSON}),
        (execute, {"content": b'"text"', "headers": JSON}),
        (execute, {"content": body, "headers": {"content-type": "text/plain"}}),
        (execute, {"content": body}),
        (execute, {"content": body, "headers": JSON, "params": {"version": "x"}}),
        (execute, {"content": body, "headers": JSON, "params": {"version": "-1"}}),
        (
            execute,
            {"content": body, "headers": JSON, "params": {"version": str(2**31)}},
        ),
        (execute, {"json": {"run_input": START}, "params": {"version": "99"}}),
        (execute, {"json": {"run_input": [1]}}),
        (execute, {"json": {"run_input": START}, "headers": {"teamid": "nope"}}),
        (execute, {"json": {"run_input": START}, "headers": {"uuid": "nope"}}),
        (
            execute,
            {"json": {"run_input": START}, "headers": {"authorization": "Bearer x"}},
        ),
        (execute, {"content": b"{", "headers": {**JSON, "authorization": "Bearer x"}}),
        (
            "/v1/workflows/not-an-id/execute",
            {"content": body, "headers": {**JSON, "authorization": "Bearer x"}},
        ),
        (
            execute,
            {"json": {"run_input": START, "run_id": new_object_id()}},
        ),
    ]


async def test_execute_refusals_are_the_same_both_ways(team: Team):
    wid = await new_workflow(team)
    for url, kwargs in _refusals(wid):
        lean_answer, full_answer = await _both(team, "POST", url, **kwargs)
        assert lean_answer == full_answer, (url, kwargs)
        assert lean_answer[0] >= 400, (url, kwargs, lean_answer)


async def test_read_run_answers_are_the_same_both_ways(team: Team):
    wid = await new_workflow(team)
    started = await team.client.post(
        f"/v1/workflows/{wid}/execute", json={"run_input": START}
    )
    run_id = started.json()["run_id"]
    for url, kwargs in [
        (f"/v1/workflow-runs/{run_id}", {}),
        (f"/workflows/v1/workflow-runs/{run_id}", {"params": {"x": "1"}}),
        ("/v1/workflow-runs/not-an-id", {}),
        (f"/v1/workflow-runs/{new_object_id()}", {}),
        (f"/v1/workflow-runs/{run_id}", {"headers": {"authorization": "Bearer x"}}),
        (f"/v1/workflow-runs/{run_id}", {"headers": {"teamid": "other"}}),
    ]:
        lean_answer, full_answer = await _both(team, "GET", url, **kwargs)
        assert lean_answer == full_answer, (url, kwargs)


async def test_plain_requests_skip_the_solver_and_others_do_not(
    team: Team, solved: list[str]
):
    wid = await new_workflow(team)
    solved.clear()
    url = f"/v1/workflows/{wid}/execute"
    started = await team.client.post(url, json={"run_input": START})
    assert started.status_code == 200, started.text
    run_id = started.json()["run_id"]
    read = await team.client.get(f"/v1/workflow-runs/{run_id}")
    assert read.status_code == 200
    versioned = await team.client.post(
        url, json={"run_input": START}, params={"version": 7}
    )
    assert versioned.status_code == 404, versioned.text  # the endpoint's answer
    assert solved == []
    refused = await team.client.post(url, content=b"[]", headers=JSON)
    assert refused.status_code == 422
    assert solved == [url]


async def test_a_started_run_answers_the_same_shape_both_ways(team: Team):
    wid = await new_workflow(team)
    lean_answer, full_answer = await _both(
        team, "POST", f"/v1/workflows/{wid}/execute", json={"run_input": START}
    )
    assert lean_answer[0] == full_answer[0] == 200
    assert lean_answer[1].keys() == full_answer[1].keys()
    assert lean_answer[1]["run_id"] != full_answer[1]["run_id"]
    for key in ("status", "turn_number", "is_waiting_for_input"):
        assert lean_answer[1][key] == full_answer[1][key]
    kinds = [
        [e["type"] for e in answer[1]["events"]]
        for answer in (lean_answer, full_answer)
    ]
    assert kinds[0] == kinds[1]


def test_a_reader_must_name_every_parameter_of_its_route():
    router = APIRouter(route_class=LeanRoute)

    async def fewer(request: Request, workflow_id: str) -> None:
        """Not EXECUTE's parameters."""

    with pytest.raises(RuntimeError, match="lean reader"):
        router.post("/workflows/{workflow_id}/execute")(lean(EXECUTE)(fewer))
