"""Streaming: a say_llm node's text reaches the stream sink as it is produced."""

from typing import Any

from tests.nodes.test_llm import say, task
from threadline.nodes.base import Ports
from threadline.nodes.llm import LLM_EXECUTORS
from threadline.providers.base import ChatRequest, ChatResponse


class StreamingLLM:
    """Delivers its answer in chunks through ``on_text``, as a provider would."""

    def __init__(self) -> None:
        self.requests: list[ChatRequest] = []

    async def chat(self, request: ChatRequest) -> ChatResponse:
        self.requests.append(request)
        chunks = ["Hel", "lo ", "Ann"]
        if request.on_text is not None:
            for chunk in chunks:
                await request.on_text(chunk)
        return ChatResponse(
            content="".join(chunks), model="m", provider="p", ttft_ms=3.0
        )


def config(streaming: bool) -> dict[str, Any]:
    return {
        "type": "openai_llm",
        "provider": "openai",
        "model": "m",
        "streaming": streaming,
    }


async def test_deltas_reach_the_sink_in_order_and_the_reply_is_spoken_whole():
    deltas: list[dict[str, Any]] = []

    async def sink(event: dict[str, Any]) -> None:
        deltas.append(event)

    llm = StreamingLLM()
    ports = Ports(llm=llm, clock=lambda: 0.0, stream=sink)
    result = await LLM_EXECUTORS["say_llm"](task(say(llms_config=config(True))), ports)
    assert [d["content"] for d in deltas] == ["Hel", "lo ", "Ann"]
    assert {d["type"] for d in deltas} == {"assistant_response_delta"}
    assert deltas[0]["origin_node_logical_id"] == "node_say"
    spoken = [e["content"] for e in result.events if e["type"] == "assistant_response"]
    assert spoken == ["Hello Ann"]
    assert result.llm_calls[0]["ttft_ms"] == 3.0


async def test_a_node_that_does_not_stream_sends_no_deltas():
    deltas: list[dict[str, Any]] = []

    async def sink(event: dict[str, Any]) -> None:
        deltas.append(event)

    llm = StreamingLLM()
    ports = Ports(llm=llm, clock=lambda: 0.0, stream=sink)
    await LLM_EXECUTORS["say_llm"](task(say(llms_config=config(False))), ports)
    assert deltas == []
    assert llm.requests[0].on_text is None
