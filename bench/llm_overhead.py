"""Scenario: what our LLM layer adds per call over a direct provider SDK call.

Both sides call the same loopback fake OpenAI-compatible server (no latency): the
direct side with the ``openai`` SDK's ``AsyncOpenAI``, ours through the router every
node uses (``ConfigurableLLM`` with the override URL), including request building,
response mapping and the accounting record. The difference of the p50s is the
layer's overhead per call (target: under 2 ms).
"""

from openai import AsyncOpenAI

from bench.common import Case, Options, make_case, measure_async
from threadline.providers.base import ChatMessage, ChatRequest
from threadline.providers.fake_server import FakeOpenAIServer, auto_reply
from threadline.providers.router import ConfigurableLLM

NAME = "llm"
TITLE = "LLM layer overhead per call (fake OpenAI-compatible server on loopback)"
CONFIG = {"type": "openai_llm", "provider": "openai", "model": "gpt-4o-mini"}


async def run(opts: Options) -> list[Case]:
    server = FakeOpenAIServer(auto_reply(), record=False)
    await server.start()
    try:
        url = server.base_url
        direct = AsyncOpenAI(base_url=url, api_key="sk-bench", max_retries=0)
        ours = ConfigurableLLM(override_url=server.base_url)
        messages = [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
        ]
        request = ChatRequest(
            llm_config=CONFIG,
            messages=(ChatMessage("system", "Be brief."), ChatMessage("user", "hi")),
        )

        async def call_direct() -> None:
            await direct.chat.completions.create(
                model="gpt-4o-mini",
                messages=messages,  # type: ignore[arg-type]  # plain dicts suffice
            )

        async def call_ours() -> None:
            await ours.chat(request)

        base = await measure_async(call_direct, opts)
        layer = await measure_async(call_ours, opts)
        await direct.close()
    finally:
        await server.stop()
    direct_case = make_case(NAME, "direct openai SDK call", 1, base)
    ours_case = make_case(NAME, "threadline LLM layer call", 1, layer)
    overhead_ms = (ours_case.per_turn.p50 - direct_case.per_turn.p50) / 1000
    ours_case.extra["overhead_vs_direct_p50_ms"] = round(overhead_ms, 3)
    return [direct_case, ours_case]
