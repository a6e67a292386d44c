"""The lean routes answered straight from ASGI (``api/hot_path.py``) answer what the
whole app answers: limits, the JSON guard, error envelopes, headers, server errors
and the access log, on the hot route and on an ordinary one."""

import functools
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.conftest import Team
from tests.api.test_execute import START, new_workflow, says
from tests.factories import static_node
from threadline.api import hot_path
from threadline.api.hot_path import App
from threadline.ids import new_object_id
from threadline.service.running import runs

JSON = {"content-type": "application/json"}


def _app(team: Team) -> FastAPI:
    app: FastAPI = team.client._transport.app  # type: ignore[attr-defined]
    return app


def _whole_app() -> None:
    """A dependency override no route uses: with it, every request crosses the
    whole app (the hot path steps aside)."""


async def _both(team: Team, method: str, url: str, **kwargs: Any) -> Any:
    """(hot answer, whole-app answer), each as (status, headers, body bytes)."""
    app = _app(team)
    hot = await team.client.request(method, url, **kwargs)
    app.dependency_overrides[_whole_app] = _whole_app
    try:
        whole = await team.client.request(method, url, **kwargs)
    finally:
        app.dependency_overrides.pop(_whole_app)
    return (
        (hot.status_code, _headers(hot), hot.content),
        (whole.status_code, _headers(whole), whole.content),
    )


def _headers(response: httpx.Response) -> list[tuple[str, str]]:
    return sorted(response.headers.items())


def _nested(depth: int) -> bytes:
    inner = "[" * depth + "]" * depth
    return ('{"run_input": {"command": "start", "x": ' + inner + "}}").encode()


async def test_the_app_serves_the_hot_path(team: Team):
    assert isinstance(_app(team), App)


async def test_an_oversized_body_gets_the_same_413_on_the_hot_and_an_ordinary_route(
    team: Team,
):
    wid = await new_workflow(team)
    big = b'{"run_input": {"command": "start", "pad": "' + b"x" * 200_001 + b'"}}'
    for url in (f"/v1/workflows/{wid}/execute", "/v1/workflows"):
        hot, whole = await _both(team, "POST", url, content=big, headers=JSON)
        assert hot == whole, url
        assert hot[0] == 413 and json.loads(hot[2])["code"] == "payload_too_large"


async def test_too_deep_json_gets_the_same_422_on_the_hot_and_an_ordinary_route(
    team: Team,
):
    wid = await new_workflow(team)
    for url in (f"/v1/workflows/{wid}/execute", "/v1/workflows"):
        hot, whole = await _both(team, "POST", url, content=_nested(200), headers=JSON)
        assert hot == whole, url
        assert hot[0] == 422 and json.loads(hot[2])["code"] == "json_too_deep"


async def test_a_body_in_several_chunks_and_one_over_64_kib_run_a_turn(team: Team):
    wid = await new_workflow(team)
    url = f"/v1/workflows/{wid}/execute"

    async def chunks() -> Any:
        body = json.dumps({"run_input": START}).encode()
        for at in range(0, len(body), 7):
            yield body[at : at + 7]

    chunked = await team.client.post(url, content=chunks(), headers=JSON)
    assert chunked.status_code == 200, chunked.text
    padded = {"run_input": {**START, "pad": "x" * 70_000}}
    large = await team.client.post(url, json=padded)
    assert large.status_code == 200, large.text
    assert large.json()["status"] == chunked.json()["status"]


async def test_refusals_keep_their_status_envelope_and_headers(team: Team):
    wid = await new_workflow(team)
    url = f"/v1/workflows/{wid}/execute"
    body = json.dumps({"run_input": START}).encode()
    for kwargs in (
        {"content": body, "headers": {"authorization": "Bearer nope", **JSON}},
        {"content": body, "headers": {"content-type": "text/plain"}},
        {"content": b'{"run_input": {"n": 9007199254740993}}', "headers": JSON},
        {"content": b'{"run_input": "\\u0000"}', "headers": JSON},
        {"content": b"{", "headers": JSON},
        {"content": body, "headers": {**JSON, "idempotency-key": " "}},
        {"json": {"run_id": new_object_id(), "run_input": says("hi", "data")}},
    ):
        hot, whole = await _both(team, "POST", url, **kwargs)
        assert hot == whole, kwargs
        assert hot[0] >= 400 and set(json.loads(hot[2])) == {
            "code",
            "message",
            "detail",
            "errors",
        }


async def test_a_turn_and_a_read_have_the_same_headers_both_ways(team: Team):
    wid = await new_workflow(team)
    hot, whole = await _both(
        team, "POST", f"/v1/workflows/{wid}/execute", json={"run_input": START}
    )
    assert hot[0] == whole[0] == 200
    assert [name for name, _ in hot[1]] == [name for name, _ in whole[1]]
    assert dict(hot[1])["content-type"] == "application/json"
    run_id = json.loads(hot[2])["run_id"]
    hot, whole = await _both(team, "GET", f"/workflows/v1/workflow-runs/{run_id}")
    assert hot == whole


async def test_an_unexpected_error_gets_the_500_envelope_and_reaches_the_server(
    team: Team, monkeypatch: pytest.MonkeyPatch
):
    wid = await new_workflow(team)

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(runs, "run_one_turn", broken)
    app = _app(team)
    answers = []
    for whole in (False, True):
        if whole:
            app.dependency_overrides[_whole_app] = _whole_app
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver"
        ) as client:
            answer = await client.post(
                f"/v1/workflows/{wid}/execute",
                json={"run_input": START},
                headers={"authorization": f"Bearer {team.key}"},
            )
        answers.append((answer.status_code, answer.json()))
        with pytest.raises(RuntimeError, match="boom"):  # uvicorn logs it
            await team.client.post(
                f"/v1/workflows/{wid}/execute", json={"run_input": START}
            )
    app.dependency_overrides.pop(_whole_app)
    assert answers[0] == answers[1]
    assert answers[0][0] == 500 and answers[0][1]["code"] == "internal_error"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_the_access_log_has_a_line_for_the_hot_and_an_ordinary_route(
    tmp_path: Path,
):
    key, port = "tl_hot_path_key_0123456789", _free_port()
    env = {
        **os.environ,
        "THREADLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'hot.db'}",
        "THREADLINE_BOOTSTRAP_API_KEY": key,
        "THREADLINE_LOG_LEVEL": "info",
    }
    env.pop("THREADLINE_SECRET_KEY", None)
    threadline = Path(sys.executable).parent / "threadline"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(threadline), "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                httpx.get(f"{base}/health", timeout=2).raise_for_status()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {key}"}
        workflow = {
            "name": "Hello",
            "node_configs": [static_node("node_say", "Hi", is_start=True)],
            "edge_configs": [],
        }
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            made = client.post("/v1/workflows", json=workflow)
            wid = made.json()["workflow"]["_id"]
            ran = client.post(f"/v1/workflows/{wid}/execute", json={"run_input": START})
            assert ran.status_code == 200, ran.text
            assert ran.headers["server"] == "uvicorn" and "date" in ran.headers
            refused = client.post(f"/v1/workflows/{wid}/execute", content=b"{")
            assert refused.status_code == 422
    finally:
        process.terminate()
        process.wait(timeout=30)
    text = log_path.read_text()
    assert '"POST /v1/workflows HTTP/1.1" 200' in text, text
    assert f'"POST /v1/workflows/{wid}/execute HTTP/1.1" 200' in text, text
    assert f'"POST /v1/workflows/{wid}/execute HTTP/1.1" 422' in text, text


class _Base(Exception):
    pass


class _Middle(_Base):
    pass


class _Leaf(_Middle):
    pass


def test_an_error_is_answered_by_the_handler_of_its_nearest_class():
    def base(request: Any, exc: Exception) -> str:
        return "base"

    def middle(request: Any, exc: Exception) -> str:
        return "middle"

    handlers: dict[Any, Any] = {_Base: base, _Middle: middle}
    assert hot_path._handler_for(handlers, _Leaf()) is middle
    assert hot_path._handler_for(handlers, _Base()) is base
    assert hot_path._handler_for(handlers, ValueError()) is None


def test_async_handlers_are_awaited_and_plain_ones_go_to_the_thread_pool():
    async def coroutine(request: Any, exc: Exception) -> str:
        return "async"

    def plain(request: Any, exc: Exception) -> str:
        return "plain"

    class AsyncCallable:
        async def __call__(self, request: Any, exc: Exception) -> str:
            return "object"

    assert hot_path._is_async(coroutine)
    assert hot_path._is_async(functools.partial(functools.partial(coroutine)))
    assert hot_path._is_async(AsyncCallable())
    assert not hot_path._is_async(plain)
    assert not hot_path._is_async(functools.partial(plain))
