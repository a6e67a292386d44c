"""Fakes and a ``NodeTask`` builder shared by the node-executor tests."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from threadline.engine.steps import NodeTask, Scope
from threadline.nodes.base import Ports
from threadline.providers.base import ChatRequest, ChatResponse, LLMError, Usage

JsonDict = dict[str, Any]


class FakeLLM:
    """Answers every request with ``reply`` (or raises ``LLMError``)."""

    def __init__(self, reply: str = "ok", *, fail: bool = False) -> None:
        self.reply = reply
        self.fail = fail
        self.requests: list[ChatRequest] = []

    async def chat(self, request: ChatRequest) -> ChatResponse:
        self.requests.append(request)
        if self.fail:
            raise LLMError("provider down")
        usage = Usage(input_tokens=10, output_tokens=5, total_tokens=15)
        return ChatResponse(self.reply, usage=usage, model="fake-1", provider="fake")


class FakeVendor:
    """Records calls; answers with ``reply`` or raises ``error``."""

    def __init__(self, reply: Any = None, *, error: Exception | None = None) -> None:
        self.reply = {} if reply is None else reply
        self.error = error
        self.calls: list[tuple[str, JsonDict]] = []

    async def call(self, operation: str, payload: JsonDict) -> JsonDict:
        self.calls.append((operation, payload))
        if self.error is not None:
            raise self.error
        reply: JsonDict = self.reply
        return reply


class FakeRuns:
    """A run reader over a dict of runs."""

    def __init__(self, runs: dict[str, JsonDict] | None = None) -> None:
        self.runs = runs or {}
        self.asked: list[str] = []

    async def get_run(self, run_id: str) -> JsonDict | None:
        self.asked.append(run_id)
        return self.runs.get(run_id)


@dataclass
class FakePorts(Ports):
    """``Ports`` plus the optional seams executors read with ``getattr``."""

    http_transport: httpx.AsyncBaseTransport | None = None
    retriever: Any = None


def make_ports(**kwargs: Any) -> FakePorts:
    kwargs.setdefault("llm", FakeLLM())
    kwargs.setdefault("clock", lambda: 1000.0)
    return FakePorts(**kwargs)


def make_task(
    node: JsonDict,
    *,
    runtime: JsonDict | None = None,
    dynamic: JsonDict | None = None,
    globals_: JsonDict | None = None,
    history: tuple[JsonDict, ...] = (),
    node_run_id: int = 1,
    workflow: JsonDict | None = None,
) -> NodeTask:
    node = {"logical_id": "node_1", "name": "Node One", **node}
    scope = Scope(
        dynamic=dynamic or {},
        runtime=runtime or {},
        threads={"0": runtime or {}},
        globals_=globals_ or {},
    )
    return NodeTask(
        thread_id="0",
        node=node,
        node_run_id=node_run_id,
        messages=(),
        history=history,
        scope=scope,
        workflow=workflow or {},
    )


def mock_transport(
    handler: Callable[[httpx.Request], httpx.Response],
) -> tuple[list[httpx.Request], httpx.MockTransport]:
    """A transport recording every request it answers."""
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return seen, httpx.MockTransport(record)


@dataclass
class FakeRetriever:
    """Returns ``chunks`` and records the searches."""

    chunks: list[JsonDict] = field(default_factory=list)
    searches: list[tuple[str, list[str], int | None]] = field(default_factory=list)

    async def search(
        self,
        query: str,
        knowledge_base_ids: Any,
        *,
        timeout_ms: int | None = None,
        team_id: str = "",
    ) -> Any:
        self.searches.append((query, list(knowledge_base_ids), timeout_ms))
        return self.chunks
