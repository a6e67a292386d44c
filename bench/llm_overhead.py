"""Scenario: what our LLM layer adds per call over the raw bytes and over the SDK.

Three clients call the same loopback fake OpenAI-compatible server (no latency,
keep-alive), each with a 2-message and a 40-message history:

- ``raw``: an ``httpx.AsyncClient`` posting the request's JSON, encoded once
  before the measurement, and reading the answer's bytes: what the bytes on the
  wire cost (the floor);
- ``direct``: the ``openai`` SDK's ``AsyncOpenAI.chat.completions.create`` with
  the messages as plain dicts (the SDK's per-call request transform included);
- ``ours``: the router every node uses (``ConfigurableLLM`` with the override
  URL): history conversion, request building, the call, response mapping and the
  accounting record.

``overhead_vs_raw_p50_ms`` (ours - raw, p50) is issue 15's figure (goal: at most
0.3 ms at a 40-message history); ``overhead_vs_direct_p50_ms`` is ours - direct.
"""

import json

import httpx
from openai import AsyncOpenAI

from bench.common import Case, Options, make_case, measure_async
from threadline.providers.base import ChatMessage, ChatRequest
from threadline.providers.fake_server import FakeOpenAIServer, auto_reply
from threadline.providers.router import ConfigurableLLM

NAME = "llm"
TITLE = "LLM layer overhead per call (fake OpenAI-compatible server on loopback)"
CONFIG = {"type": "openai_llm", "provider": "openai", "model": "gpt-4o-mini"}
HISTORIES = (2, 40)


def history(size: int) -> list[ChatMessage]:
    """A system prompt, then alternating user and assistant turns: ``size`` in all."""
    out = [ChatMessage("system", "You help the patients of Northside book visits.")]
    for i in range(size - 1):
        if i % 2 == 0:
            out.append(ChatMessage("user", f"Message {i}: I would like a visit."))
        else:
            out.append(ChatMessage("assistant", f"Reply {i}: which day suits you?"))
    return out


async def _cases(server: FakeOpenAIServer, size: int, opts: Options) -> list[Case]:
    url = server.base_url
    messages = history(size)
    plain = [{"role": m.role, "content": m.content} for m in messages]
    body = json.dumps({"model": "gpt-4o-mini", "messages": plain}).encode()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-b"}
    raw = httpx.AsyncClient(base_url=url, timeout=30)
    direct = AsyncOpenAI(base_url=url, api_key="sk-bench", max_retries=0)
    ours = ConfigurableLLM(override_url=url)
    request = ChatRequest(llm_config=CONFIG, messages=tuple(messages))

    async def call_raw() -> None:
        answer = await raw.post("/chat/completions", content=body, headers=headers)
        answer.raise_for_status()
        json.loads(answer.content)

    async def call_direct() -> None:
        await direct.chat.completions.create(
            model="gpt-4o-mini",
            messages=plain,  # type: ignore[arg-type]  # plain dicts suffice
        )

    async def call_ours() -> None:
        await ours.chat(request)

    try:
        base = await measure_async(call_raw, opts)
        sdk = await measure_async(call_direct, opts)
        layer = await measure_async(call_ours, opts)
    finally:
        await raw.aclose()
        await direct.close()
    label = f"{size} messages"
    raw_case = make_case(NAME, f"raw httpx bytes, {label}", 1, base)
    direct_case = make_case(NAME, f"direct openai SDK call, {label}", 1, sdk)
    ours_case = make_case(NAME, f"threadline LLM layer call, {label}", 1, layer)
    ours_case.extra["overhead_vs_raw_p50_ms"] = round(
        (ours_case.per_turn.p50 - raw_case.per_turn.p50) / 1000, 3
    )
    ours_case.extra["overhead_vs_direct_p50_ms"] = round(
        (ours_case.per_turn.p50 - direct_case.per_turn.p50) / 1000, 3
    )
    return [raw_case, direct_case, ours_case]


async def run(opts: Options) -> list[Case]:
    server = FakeOpenAIServer(auto_reply(), record=False, keep_alive=True)
    await server.start()
    cases: list[Case] = []
    try:
        for size in HISTORIES:
            cases += await _cases(server, size, opts)
    finally:
        await server.stop()
    return cases
