"""Streaming: the SDK's WebSocket protocol and the Server-Sent Events endpoint.

The WebSocket is driven in-process through a minimal ASGI client on the test's own
event loop (the store is bound to it), so no network and no extra package.
"""

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.conftest import Team, make_team
from tests.api.test_execute import (
    START,
    assert_wire_events,
    chat_workflow,
    execute,
    says,
)
from tests.factories import edge, say_node, static_node
from threadline.api.app import bootstrap, create_app
from threadline.engine.turn import TurnOutcome
from threadline.ids import new_object_id
from threadline.providers.base import ChatRequest, ChatResponse
from threadline.providers.fake import ScriptedLLM, tool_call
from threadline.service.running import broadcast
from threadline.service.running.streaming import wait_detached
from threadline.service.runtime import Runtime
from threadline.settings import Settings
from threadline.store import Document, Store

TIMEOUT = 10.0


class StreamingLLM:
    """Answers in chunks through ``on_text``; may wait on ``gate`` afterwards."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.gate = gate
        self.spoke = asyncio.Event()
        """Set once the chunks of a call were handed out."""
        self.requests: list[ChatRequest] = []

    async def chat(self, request: ChatRequest) -> ChatResponse:
        self.requests.append(request)
        chunks = ["Hel", "lo ", "Ann"]
        if request.on_text is not None:
            for chunk in chunks:
                await request.on_text(chunk)
        self.spoke.set()
        if self.gate is not None:
            # The turn cannot end before the test has seen the deltas: proof
            # that they are sent live, not after the turn.
            await asyncio.wait_for(self.gate.wait(), TIMEOUT)
        return ChatResponse(content="".join(chunks), model="m", provider="p")


def streaming_workflow() -> dict[str, Any]:
    chat = say_node("node_chat", prompt="Be brief.")
    chat["llms_config"] = {
        "type": "openai_llm",
        "provider": "openai",
        "model": "m",
        "streaming": True,
    }
    return {
        "name": "Streaming chat",
        "node_configs": [static_node("node_greet", "Welcome!", is_start=True), chat],
        "edge_configs": [edge("edge_greet", "node_greet", "node_chat")],
    }


def build_app(settings: Settings, store: Store, llm: Any) -> FastAPI:
    clock = iter(range(1_700_000_000, 1_800_000_000))
    runtime = Runtime(llm=llm, clock=lambda: float(next(clock)), rng=random.Random(7))
    return create_app(settings, store=store, runtime=runtime)


class Closed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed {code}: {reason}")
        self.code = code
        self.reason = reason


class WebSocketClient:
    """A tiny in-process ASGI WebSocket client."""

    def __init__(
        self, app: FastAPI, path: str, headers: dict[str, str], query: str = ""
    ) -> None:
        self.app = app
        self.scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "http_version": "1.1",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": query.encode(),
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("testclient", 50000),
            "server": ("testserver", 80),
            "subprotocols": [],
            "state": {},
        }
        self.to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "WebSocketClient":
        self.to_app.put_nowait({"type": "websocket.connect"})

        async def send(message: dict[str, Any]) -> None:
            self.from_app.put_nowait(message)

        self.task = asyncio.create_task(
            self.app(self.scope, self.to_app.get, send)  # type: ignore[arg-type]
        )
        accept = await asyncio.wait_for(self.from_app.get(), TIMEOUT)
        assert accept["type"] == "websocket.accept", accept
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.to_app.put_nowait({"type": "websocket.disconnect", "code": 1000})
        assert self.task is not None
        await asyncio.wait_for(self.task, TIMEOUT)

    async def send(self, frame: Any) -> None:
        text = frame if isinstance(frame, str) else json.dumps(frame)
        self.to_app.put_nowait({"type": "websocket.receive", "text": text})

    async def receive(self) -> dict[str, Any]:
        message = await asyncio.wait_for(self.from_app.get(), TIMEOUT)
        if message["type"] == "websocket.close":
            raise Closed(message.get("code", 1000), message.get("reason") or "")
        assert message["type"] == "websocket.send", message
        frame: dict[str, Any] = json.loads(message["text"])
        return frame

    async def until(self, *types: str) -> list[dict[str, Any]]:
        """Frames up to and including the first of ``types``."""
        frames = [await self.receive()]
        while frames[-1]["type"] not in types:
            frames.append(await self.receive())
        return frames

    async def closed(self) -> Closed:
        with pytest.raises(Closed) as info:
            await self.receive()
        return info.value


@pytest.fixture
def make_app(settings: Settings, store: Store) -> Callable[[Any], FastAPI]:
    def make(llm: Any) -> FastAPI:
        return build_app(settings, store, llm)

    return make


@pytest.fixture
async def teardown_turns() -> AsyncIterator[None]:
    yield
    await wait_detached()


async def team_on(app: FastAPI, store: Store, settings: Settings) -> Team:
    await bootstrap(store, settings)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    return await make_team(store, client)


async def create_workflow(team: Team, body: dict[str, Any]) -> str:
    response = await team.client.post("/v1/workflows", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["workflow"]["_id"])


def socket(
    app: FastAPI, team: Team, *, prefix: str = "/v1", **headers: str
) -> WebSocketClient:
    return WebSocketClient(
        app,
        f"{prefix}/workflow-runs/ws",
        {"Authorization": f"Bearer {team.key}", **headers},
    )


def types(frames: list[dict[str, Any]]) -> list[str]:
    return [f["type"] for f in frames]


def without_run_id(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The frames as stored: without the transport's run id and sequence number."""
    transport = ("workflow_run_id", "seq")
    return [{k: v for k, v in f.items() if k not in transport} for f in frames]


@pytest.mark.usefixtures("teardown_turns")
async def test_a_conversation_over_one_socket_continues_the_same_run_and_closes_1000(
    make_app: Callable[[Any], FastAPI], store: Store, settings: Settings
):
    llm = ScriptedLLM(
        ["Of course, Ann.", [tool_call("Destination_Node__node_bye", {"j": "bye"})]]
    )
    app = make_app(llm)
    team = await team_on(app, store, settings)
    wid = await create_workflow(team, chat_workflow())
    async with socket(app, team, prefix="/workflows/v1", teamid=team.team_id) as ws:
        await ws.send(
            {
                **START,
                "workflow_id": wid,
                "run_by": "api",
                "dynamic_variables": {"patient": "Ann"},
            }
        )
        first = await ws.until("workflow_ready_for_input", "workflow_error")
        assert first[0]["type"] == "start_workflow"
        assert first[-1]["type"] == "workflow_ready_for_input"
        run_id = first[0]["workflow_run_id"]
        assert {f["workflow_run_id"] for f in first} == {run_id}
        assert "Welcome to Northside, Ann!" in [f.get("content") for f in first]
        assert_wire_events(without_run_id(first))

        # The next frame carries no run id: the socket remembers its run.
        await ws.send({**says("I need an appointment"), "workflow_id": wid})
        second = await ws.until("workflow_ready_for_input", "workflow_error")
        assert {f["workflow_run_id"] for f in second} == {run_id}
        assert "Of course, Ann." in [f.get("content") for f in second]

        await ws.send(says("bye", "data"))  # workflow_id may be left out, too
        third = await ws.until("end_workflow", "workflow_error")
        assert third[-1]["type"] == "end_workflow"
        assert "Goodbye!" in [f.get("content") for f in third]
        closed = await ws.closed()
        assert closed.code == 1000 and "completed" in closed.reason

    record = await team.client.get(f"/v1/workflow-runs/{run_id}")
    run = record.json()["workflow_run"]["workflow_run"]
    assert run["status"] == "completed"
    stored = [p["run_output"]["events"] for p in run["input_output_pairs"]]
    assert stored == [without_run_id(t) for t in (first, second, third)]
    await team.client.aclose()


@pytest.mark.usefixtures("teardown_turns")
async def test_deltas_reach_the_socket_live_before_the_turns_events(
    make_app: Callable[[Any], FastAPI], store: Store, settings: Settings
):
    gate = asyncio.Event()
    app = make_app(StreamingLLM(gate))
    team = await team_on(app, store, settings)
    wid = await create_workflow(team, streaming_workflow())
    async with socket(app, team) as ws:
        await ws.send({**START, "workflow_id": wid})
        first = await ws.until("workflow_ready_for_input")
        assert "assistant_response_delta" not in types(first)

        await ws.send({**says("Hi"), "workflow_id": wid})
        deltas = [await ws.receive() for _ in range(3)]
        # The model is still blocked on the gate: the turn has not ended yet.
        assert types(deltas) == ["assistant_response_delta"] * 3
        assert [d["content"] for d in deltas] == ["Hel", "lo ", "Ann"]
        assert deltas[0]["origin_node_logical_id"] == "node_chat"
        gate.set()
        events = await ws.until("workflow_ready_for_input")
        assert "assistant_response_delta" not in types(events)
        spoken = [e["content"] for e in events if e["type"] == "assistant_response"]
        assert spoken == ["Hello Ann"]
        assert {e["workflow_run_id"] for e in events} == {first[0]["workflow_run_id"]}
    await team.client.aclose()


@pytest.mark.usefixtures("teardown_turns")
async def test_bad_credentials_close_4001_and_a_foreign_teamid_closes_4003(
    make_app: Callable[[Any], FastAPI], store: Store, settings: Settings
):
    app = make_app(ScriptedLLM())
    team = await team_on(app, store, settings)
    async with WebSocketClient(app, "/v1/workflow-runs/ws", {}) as ws:
        closed = await ws.closed()
        assert closed.code == 4001 and "Bearer" in closed.reason
    bad = {"Authorization": "Bearer tl_nope"}
    async with WebSocketClient(app, "/v1/workflow-runs/ws", bad) as ws:
        assert (await ws.closed()).code == 4001
    async with socket(app, team, teamid="0" * 24) as ws:
        closed = await ws.closed()
        assert closed.code == 4003 and "teamid" in closed.reason
    await team.client.aclose()


@pytest.mark.usefixtures("teardown_turns")
async def test_a_query_token_authenticates_a_socket(
    make_app: Callable[[Any], FastAPI], store: Store, settings: Settings
):
    app = make_app(ScriptedLLM())
    team = await team_on(app, store, settings)
    wid = await create_workflow(team, chat_workflow())
    for param in ("token", "api_key"):
        path = "/v1/workflow-runs/ws"
        async with WebSocketClient(app, path, {}, f"{param}={team.key}") as ws:
            await ws.send({**START, "workflow_id": wid})
            frames = await ws.until("workflow_ready_for_input", "workflow_error")
            assert frames[-1]["type"] == "workflow_ready_for_input"
    await team.client.aclose()


@pytest.mark.usefixtures("teardown_turns")
@pytest.mark.parametrize(
    ("extra", "code"),
    [({"initial_state": {"threads": {}}}, 4006), ({"rerun_token": "rrt_x"}, 4007)],
)
async def test_client_state_closes_4006_and_an_unknown_rerun_token_4007(
    make_app: Callable[[Any], FastAPI],
    store: Store,
    settings: Settings,
    extra: dict[str, Any],
    code: int,
):
    app = make_app(ScriptedLLM())
    team = await team_on(app, store, settings)
    wid = await create_workflow(team, chat_workflow())
    async with socket(app, team) as ws:
        await ws.send({**START, "workflow_id": wid, **extra})
        closed = await ws.closed()
        assert closed.code == code and closed.reason
    listed = await team.client.get("/v1/workflow-runs", params={"workflow_id": wid})
    assert listed.json()["total"] == 0  # nothing ran
    await team.client.aclose()


async def _source_run_and_token(team: Team, wid: str, turn: int = 0) -> tuple[str, str]:
    """A two-turn run of ``chat_workflow`` and a re-run token for its turn ``turn``."""
    first = await execute(
        team, wid, {"run_input": {**START, "dynamic_variables": {"patient": "Ann"}}}
    )
    run_id = str(first["run_id"])
    await execute(team, wid, {"run_id": run_id, "run_input": says("hello")})
    minted = await team.client.post(
        f"/v1/workflow-runs/{run_id}/turns/{turn}/rerun-token"
    )
    assert minted.status_code == 200, minted.text
    return run_id, str(minted.json()["rerun_token"])


@pytest.mark.usefixtures("teardown_turns")
async def test_a_rerun_token_on_another_servers_socket_starts_the_rerun_and_runs_its_message(
    make_app: Callable[[Any], FastAPI], store: Store, settings: Settings
):
    minting = make_app(ScriptedLLM(["Hi there"]))
    team = await team_on(minting, store, settings)
    wid = await create_workflow(team, chat_workflow())
    run_id, token = await _source_run_and_token(team, wid)
    serving = make_app(ScriptedLLM(["Of course, Ann."]))  # no memory of the token
    frame = {
        **says("I need an appointment"),
        "workflow_id": wid,
        "run_by": "api",
        "rerun_token": token,
    }

    async with socket(serving, team) as ws:
        await ws.send(frame)
        frames = await ws.until("workflow_ready_for_input", "workflow_error")
    async with socket(serving, team) as ws:
        await ws.send(frame)  # a token is redeemed once
        closed = await ws.closed()

    assert frames[-1]["type"] == "workflow_ready_for_input", frames
    rerun_id = frames[-1]["workflow_run_id"]
    assert rerun_id != run_id
    assert {f["workflow_run_id"] for f in frames} == {rerun_id}
    assert "Of course, Ann." in [f.get("content") for f in frames]
    assert closed.code == 4007 and "unknown" in closed.reason
    record = await team.client.get(f"/v1/workflow-runs/{rerun_id}")
    assert token not in record.text  # the credential is not stored as run input
    run = record.json()["workflow_run"]["workflow_run"]
    assert run["source_workflow_run_id"] == run_id
    assert run["checkpoint_source_turn_index"] == 0
    said = [
        e["content"]
        for pair in run["input_output_pairs"]
        for e in pair["run_output"]["events"]
        if e["type"] == "assistant_response"
    ]
    assert said == ["Welcome to Northside, Ann!", "Of course, Ann."]  # no "Hi there"
    await team.client.aclose()


@pytest.mark.usefixtures("teardown_turns")
async def test_a_rerun_token_without_a_message_parks_the_rerun_and_says_it_is_ready(
    make_app: Callable[[Any], FastAPI], store: Store, settings: Settings
):
    app = make_app(ScriptedLLM(["Hi there", "Of course, Ann."]))
    team = await team_on(app, store, settings)
    wid = await create_workflow(team, chat_workflow())
    run_id, token = await _source_run_and_token(team, wid)
    calls = len(app.state.runtime.llm.requests)

    async with socket(app, team) as ws:
        await ws.send({**START, "workflow_id": wid, "rerun_token": token})
        ready = await ws.receive()
        assert len(app.state.runtime.llm.requests) == calls  # nothing ran again
        await ws.send(says("I need an appointment"))  # continues the re-run
        turn = await ws.until("workflow_ready_for_input", "workflow_error")

    assert ready["type"] == "workflow_ready_for_input"
    assert ready["workflow_run_id"] not in (None, run_id)
    assert {f["workflow_run_id"] for f in turn} == {ready["workflow_run_id"]}
    assert "Of course, Ann." in [f.get("content") for f in turn]
    await team.client.aclose()


@pytest.mark.usefixtures("teardown_turns")
async def test_a_rerun_token_for_another_workflow_closes_4007_and_stays_unused(
    make_app: Callable[[Any], FastAPI], store: Store, settings: Settings
):
    app = make_app(ScriptedLLM(["Hi there"]))
    team = await team_on(app, store, settings)
    wid = await create_workflow(team, chat_workflow())
    other = await create_workflow(team, chat_workflow())
    run_id, token = await _source_run_and_token(team, wid)

    async with socket(app, team) as ws:
        await ws.send({**START, "workflow_id": other, "rerun_token": token})
        closed = await ws.closed()

    assert closed.code == 4007 and "another workflow" in closed.reason
    preview = await team.client.get(
        f"/v1/workflow-runs/{run_id}/turns/0/rerun-token/{token}"
    )
    assert preview.status_code == 200  # a refused redemption does not spend it
    await team.client.aclose()


@pytest.mark.usefixtures("teardown_turns")
async def test_a_refused_frame_gets_an_error_frame_and_the_socket_stays_open(
    make_app: Callable[[Any], FastAPI], store: Store, settings: Settings
):
    app = make_app(ScriptedLLM())
    team = await team_on(app, store, settings)
    wid = await create_workflow(team, chat_workflow())
    async with socket(app, team) as ws:
        await ws.send(START)
        error = await ws.receive()
        assert error["type"] == "workflow_error" and error["code"] == "validation_error"
        await ws.send({**START, "workflow_id": "f" * 24})
        error = await ws.receive()
        assert error["type"] == "workflow_error" and error["status"] == 404
        await ws.send({**START, "workflow_id": wid})
        frames = await ws.until("workflow_ready_for_input", "workflow_error")
        assert frames[-1]["type"] == "workflow_ready_for_input"
        await ws.send("not json")
        assert (await ws.closed()).code == 1007
    await team.client.aclose()


def parse_sse(text: str) -> list[tuple[str, Any]]:
    frames = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        frames.append((fields["event"], json.loads(fields["data"])))
    return frames


@pytest.mark.usefixtures("teardown_turns")
async def test_sse_streams_deltas_then_events_then_done(
    make_app: Callable[[Any], FastAPI], store: Store, settings: Settings
):
    app = make_app(StreamingLLM())
    team = await team_on(app, store, settings)
    wid = await create_workflow(team, streaming_workflow())
    url = f"/v1/workflows/{wid}/execute/stream"
    response = await team.client.post(url, json={"run_input": START})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    first = parse_sse(response.text)
    assert first[-1][0] == "done" and first[-1][1]["is_waiting_for_input"] is True
    run_id = first[-1][1]["run_id"]

    response = await team.client.post(
        url, json={"run_id": run_id, "run_input": says("Hi")}
    )
    frames = parse_sse(response.text)
    kinds = [kind for kind, _ in frames]
    assert kinds == ["delta"] * 3 + ["event"] * (len(kinds) - 4) + ["done"]
    assert [d["content"] for _, d in frames[:3]] == ["Hel", "lo ", "Ann"]
    done = frames[-1][1]
    assert done["run_id"] == run_id and done["turn_number"] == 2
    assert done["events"] == [data for kind, data in frames if kind == "event"]
    assert_wire_events(done["events"])

    missing = await team.client.post(
        f"/v1/workflows/{'f' * 24}/execute/stream", json={"run_input": START}
    )
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    await team.client.aclose()


# Re-attaching after a reconnect.


def drop(ws: WebSocketClient) -> None:
    """The client goes away without a word: what the server sends is never read."""
    ws.to_app.put_nowait({"type": "websocket.disconnect", "code": 1006})


def attach(run_id: Any, after_seq: Any = 0) -> dict[str, Any]:
    return {"type": "attach", "workflow_run_id": run_id, "after_seq": after_seq}


async def last_segment(team: Team, run_id: str) -> list[dict[str, Any]]:
    record = await team.client.get(f"/v1/workflow-runs/{run_id}")
    run = record.json()["workflow_run"]["workflow_run"]
    events: list[dict[str, Any]] = run["input_output_pairs"][-1]["run_output"]["events"]
    return events


@pytest.mark.usefixtures("teardown_turns")
async def test_a_client_that_reconnects_mid_turn_receives_exactly_what_it_missed(
    make_app: Callable[[Any], FastAPI], store: Store, settings: Settings
):
    gate = asyncio.Event()
    app = make_app(StreamingLLM(gate))
    team = await team_on(app, store, settings)
    wid = await create_workflow(team, streaming_workflow())
    gone = socket(app, team)
    await gone.__aenter__()
    await gone.send({**START, "workflow_id": wid})
    first = await gone.until("workflow_ready_for_input")
    run_id = first[0]["workflow_run_id"]
    await gone.send({**says("Hi"), "workflow_id": wid})
    seen = [await gone.receive() for _ in range(2)]
    assert [f["content"] for f in seen] == ["Hel", "lo "]
    assert seen[0]["seq"] < seen[1]["seq"]
    drop(gone)  # the third delta was sent, never read; the turn is still running

    async with socket(app, team) as ws:
        await ws.send(attach(run_id, seen[-1]["seq"]))
        assert await ws.receive() == {
            "type": "attached",
            "workflow_run_id": run_id,
            "after_seq": seen[-1]["seq"],
            "replay": "buffer",
        }
        missed = [await ws.receive()]
        assert missed[0]["type"] == "assistant_response_delta"
        assert missed[0]["content"] == "Ann"
        gate.set()  # the turn goes on while the client is attached
        missed += await ws.until("workflow_ready_for_input", "workflow_error")
        assert missed[-1]["type"] == "workflow_ready_for_input"
        seqs = [f["seq"] for f in missed]
        assert seqs[0] == seen[-1]["seq"] + 1 and seqs == sorted(set(seqs))
        assert {f["workflow_run_id"] for f in missed} == {run_id}
        # Each missed frame once, in order: the one delta, then the turn as stored.
        assert types(missed).count("assistant_response_delta") == 1
        assert without_run_id(missed[1:]) == await last_segment(team, run_id)

        # The socket now drives the run; the next turn follows the ready frame.
        await ws.send(says("Again", "data"))
        after = await ws.until("workflow_ready_for_input", "workflow_error")
        assert types(after)[:3] == ["assistant_response_delta"] * 3
        assert after[-1]["type"] == "workflow_ready_for_input"
        assert min(f["seq"] for f in after) > seqs[-1]
    assert gone.task is not None
    await asyncio.wait_for(gone.task, TIMEOUT)
    await team.client.aclose()


@pytest.mark.usefixtures("teardown_turns")
async def test_attach_after_the_turn_ended_replays_the_buffer_else_the_stored_run(
    make_app: Callable[[Any], FastAPI], store: Store, settings: Settings
):
    app = make_app(StreamingLLM())
    team = await team_on(app, store, settings)
    wid = await create_workflow(team, streaming_workflow())
    async with socket(app, team) as ws:
        await ws.send({**START, "workflow_id": wid})
        first = await ws.until("workflow_ready_for_input")
        run_id = first[0]["workflow_run_id"]
        await ws.send(says("Hi", "data"))
        second = await ws.until("workflow_ready_for_input")
    after_seq = second[1]["seq"]

    async with socket(app, team) as ws:
        await ws.send(attach(run_id, after_seq))
        assert (await ws.receive())["replay"] == "buffer"
        replayed = await ws.until("workflow_ready_for_input", "workflow_error")
        assert replayed == second[2:]

    broadcast.REGISTRY.discard(team.team_id, run_id)  # as when the buffer expired
    async with socket(app, team) as ws:
        await ws.send(attach(run_id, after_seq))
        ack = await ws.receive()
        assert ack["type"] == "attached" and ack["replay"] == "stored"
        stored = await ws.until("workflow_ready_for_input", "workflow_error")
        assert all("seq" not in f for f in stored)
        assert {f["workflow_run_id"] for f in stored} == {run_id}
        assert without_run_id(stored) == without_run_id(second[3:])
        # The attached socket continues the run.
        await ws.send(says("Again", "data"))
        third = await ws.until("workflow_ready_for_input", "workflow_error")
        assert third[-1]["type"] == "workflow_ready_for_input"
        assert {f["workflow_run_id"] for f in third} == {run_id}
    await team.client.aclose()


@pytest.mark.usefixtures("teardown_turns")
async def test_attach_to_another_teams_run_or_with_a_bad_frame_gets_an_error_frame(
    make_app: Callable[[Any], FastAPI], store: Store, settings: Settings
):
    app = make_app(StreamingLLM())
    team = await team_on(app, store, settings)
    other = await team_on(app, store, settings)
    wid = await create_workflow(team, streaming_workflow())
    async with socket(app, team) as ws:
        await ws.send({**START, "workflow_id": wid})
        run_id = (await ws.until("workflow_ready_for_input"))[0]["workflow_run_id"]

    async with socket(app, other) as ws:
        await ws.send(attach(run_id, 0))
        refused = await ws.receive()
        assert refused["type"] == "workflow_error"
        assert refused["status"] == 404 and refused["code"] == "not_found"
        for frame, field in [
            ({"type": "attach"}, "workflow_run_id"),
            (attach("nope"), "workflow_run_id"),
            (attach(run_id, -1), "after_seq"),
            (attach(run_id, "3"), "after_seq"),
        ]:
            await ws.send(frame)
            error = await ws.receive()
            assert error["type"] == "workflow_error", frame
            assert error["code"] == "validation_error", frame
            assert error["error_message"].startswith(field), frame
        # The socket stays open; nothing of the other team's run was sent.
        await ws.send(attach("f" * 24))
        assert (await ws.receive())["status"] == 404

    response = await other.client.get(f"/v1/workflow-runs/{run_id}/stream")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    await team.client.aclose()
    await other.client.aclose()


def parse_sse_ids(text: str) -> list[tuple[str | None, str, Any]]:
    frames = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        frames.append((fields.get("id"), fields["event"], json.loads(fields["data"])))
    return frames


@pytest.mark.usefixtures("teardown_turns")
async def test_sse_frames_have_ids_and_last_event_id_reattaches(
    make_app: Callable[[Any], FastAPI], store: Store, settings: Settings
):
    app = make_app(StreamingLLM())
    team = await team_on(app, store, settings)
    wid = await create_workflow(team, streaming_workflow())
    url = f"/v1/workflows/{wid}/execute/stream"
    first = parse_sse_ids((await team.client.post(url, json={"run_input": START})).text)
    run_id = first[-1][2]["run_id"]
    second = parse_sse_ids(
        (
            await team.client.post(
                url, json={"run_id": run_id, "run_input": says("Hi")}
            )
        ).text
    )
    ids = [frame_id for frame_id, _, _ in first + second]
    assert all(i is not None and i.startswith(f"{run_id}:") for i in ids)
    numbers = [int(str(i).split(":")[1]) for i in ids]
    assert numbers == sorted(set(numbers))

    last_seen = {"Last-Event-ID": str(second[1][0])}
    resumed = await team.client.get(
        f"/v1/workflow-runs/{run_id}/stream", headers=last_seen
    )
    assert resumed.status_code == 200
    assert resumed.headers["content-type"].startswith("text/event-stream")
    assert parse_sse_ids(resumed.text) == second[2:]
    # The same request sent again with Last-Event-ID re-attaches, running nothing.
    again = await team.client.post(
        url, json={"run_id": run_id, "run_input": says("Hi")}, headers=last_seen
    )
    assert parse_sse_ids(again.text) == second[2:]
    record = await team.client.get(f"/v1/workflow-runs/{run_id}")
    assert len(record.json()["workflow_run"]["workflow_run"]["input_output_pairs"]) == 2

    bad = await team.client.get(
        f"/v1/workflow-runs/{run_id}/stream", headers={"Last-Event-ID": "nope"}
    )
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    assert "Last-Event-ID" in bad.text
    await team.client.aclose()


@pytest.mark.usefixtures("teardown_turns")
async def test_sse_reattach_during_a_turn_follows_it_to_its_end(
    make_app: Callable[[Any], FastAPI], store: Store, settings: Settings
):
    gate = asyncio.Event()
    llm = StreamingLLM(gate)
    app = make_app(llm)
    team = await team_on(app, store, settings)
    wid = await create_workflow(team, streaming_workflow())
    url = f"/v1/workflows/{wid}/execute/stream"
    first = parse_sse_ids((await team.client.post(url, json={"run_input": START})).text)
    run_id = first[-1][2]["run_id"]
    turn = asyncio.create_task(
        team.client.post(url, json={"run_id": run_id, "run_input": says("Hi")})
    )
    await asyncio.wait_for(llm.spoke.wait(), TIMEOUT)  # the turn is mid-way
    last = int(str(first[-1][0]).split(":")[1])
    resumed = asyncio.create_task(
        team.client.get(
            f"/v1/workflow-runs/{run_id}/stream",
            headers={"Last-Event-ID": f"{run_id}:{last + 1}"},
        )
    )
    channel = broadcast.REGISTRY.get(team.team_id, run_id)
    assert channel is not None

    async def subscribed() -> None:
        while not channel.subscribers:
            await asyncio.sleep(0)

    await asyncio.wait_for(subscribed(), TIMEOUT)  # attached while the turn runs
    gate.set()
    original = parse_sse_ids((await asyncio.wait_for(turn, TIMEOUT)).text)
    followed = parse_sse_ids((await asyncio.wait_for(resumed, TIMEOUT)).text)
    assert followed == original[1:]
    assert followed[-1][1] == "done" and followed[-1][2]["is_waiting_for_input"]
    await team.client.aclose()


@pytest.mark.usefixtures("teardown_turns")
async def test_attach_behind_the_bounded_buffer_is_served_from_the_stored_run(
    make_app: Callable[[Any], FastAPI],
    store: Store,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(broadcast.REGISTRY, "size", 4)
    app = make_app(StreamingLLM())
    team = await team_on(app, store, settings)
    wid = await create_workflow(team, streaming_workflow())
    async with socket(app, team) as ws:
        await ws.send({**START, "workflow_id": wid})
        run_id = (await ws.until("workflow_ready_for_input"))[0]["workflow_run_id"]
        await ws.send(says("Hi", "data"))
        second = await ws.until("workflow_ready_for_input")
    async with socket(app, team) as ws:
        # The frames after the first delta no longer all fit in the buffer.
        await ws.send(attach(run_id, second[0]["seq"]))
        assert (await ws.receive())["replay"] == "stored"
        stored = await ws.until("workflow_ready_for_input", "workflow_error")
        assert without_run_id(stored) == await last_segment(team, run_id)
    await team.client.aclose()


async def test_a_follower_ends_when_the_run_falls_idle_after_a_quiet_pass():
    registry = broadcast.Registry()
    team_id, run_id = new_object_id(), new_object_id()
    at = datetime.now(UTC)
    doc = Document(id=run_id, team_id=team_id, body={}, created_at=at, updated_at=at)
    ready = {"type": "workflow_ready_for_input"}
    turn = registry.turn(team_id, run_id)
    turn.publish(broadcast.Delta({"type": "assistant_response_delta"}))
    frames = turn.finish(doc, TurnOutcome("waiting_for_user_input", [ready]), False)
    assert [f.seq for f in frames] == [2, 3]

    channel = registry.get(team_id, run_id)
    assert channel is not None
    replay = [f.seq async for f in channel.follow(1)]
    assert replay == [2, 3]

    background = registry.turn(team_id, run_id)  # a pump is running
    follower = channel.follow(3)
    waiting = asyncio.ensure_future(anext(follower, None))
    while not channel.subscribers:
        await asyncio.sleep(0)
    quiet = background.finish(doc, TurnOutcome("waiting_for_user_input", []), True)
    assert [f.seq for f in quiet] == [None]  # kept from other clients
    assert await asyncio.wait_for(waiting, TIMEOUT) is None  # and the follower ends
