"""ScriptedLLM, the deterministic fake."""

import pytest

from threadline.providers.base import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    LLMError,
    Usage,
)
from threadline.providers.fake import ScriptedLLM, ScriptExhaustedError, tool_call


def req(text: str = "one two three", purpose: str = "node") -> ChatRequest:
    return ChatRequest(
        llm_config={},
        messages=(ChatMessage(role="user", content=text),),
        purpose=purpose,
    )


async def test_text_tool_calls_callables_and_responses():
    llm = ScriptedLLM(
        [
            "hello there",
            tool_call("f", {"a": 1}),
            [tool_call("g"), tool_call("h", id="x")],
            lambda r: f"echo {r.messages[-1].content}",
            ChatResponse(content="given", usage=Usage(1, 2, 3), model="m2"),
        ]
    )
    first = await llm.chat(req())
    assert first.content == "hello there"
    assert (
        first.usage.input_tokens,
        first.usage.output_tokens,
        first.usage.total_tokens,
    ) == (3, 2, 5)
    assert (first.model, first.provider) == ("fake-model", "fake")
    assert (await llm.chat(req())).tool_calls[0].arguments == {"a": 1}
    assert [c.id for c in (await llm.chat(req())).tool_calls] == ["call_g", "x"]
    assert (await llm.chat(req("ping"))).content == "echo ping"
    given = await llm.chat(req())
    assert (given.usage.total_tokens, given.model, given.provider) == (3, "m2", "fake")
    assert len(llm.requests) == 5
    assert llm.remaining == 0


async def test_exceptions_purposes_and_exhaustion():
    llm = ScriptedLLM([LLMError("down")], by_purpose={"condition": ["yes"]})
    llm.extend("later")
    assert (await llm.chat(req(purpose="condition"))).content == "yes"
    with pytest.raises(LLMError, match="down"):
        await llm.chat(req())
    assert (await llm.chat(req())).content == "later"
    assert len(llm.requests_for("condition")) == 1
    with pytest.raises(ScriptExhaustedError, match="no reply left"):
        await llm.chat(req())
