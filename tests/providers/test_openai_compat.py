"""OpenAICompatibleLLM over real HTTP against the fake OpenAI server."""

import json

import pytest

from tests.fakes.openai_server import (
    FakeOpenAIServer,
    Reply,
    error_reply,
    text_reply,
    tool_calls_reply,
)
from threadline.providers.base import (
    ChatMessage,
    ChatRequest,
    LLMError,
    ToolCall,
    ToolSpec,
)
from threadline.providers.openai_compat import OpenAICompatibleLLM

KEY = "sk-test-SECRET-1234567890"


def client(server: FakeOpenAIServer, **kwargs) -> OpenAICompatibleLLM:
    kwargs.setdefault("backoff_s", 0.0)
    return OpenAICompatibleLLM(server.base_url, KEY, "gpt-fake", **kwargs)


def request(**kwargs) -> ChatRequest:
    kwargs.setdefault("llm_config", {"type": "custom_llm"})
    kwargs.setdefault(
        "messages",
        (
            ChatMessage(role="system", content="Be brief."),
            ChatMessage(role="user", content="Hi"),
        ),
    )
    return ChatRequest(**kwargs)


async def test_round_trip_with_tool_calls_and_usage(openai_server: FakeOpenAIServer):
    openai_server.queue(
        tool_calls_reply(
            [("lookup_claim", {"claim_id": "C-9"})],
            content="Let me check.",
            prompt_tokens=42,
            completion_tokens=8,
            model="gpt-fake-2026-01-01",
        )
    )
    history = (
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", content="Where is my claim?"),
        ChatMessage(
            role="assistant",
            content="",
            tool_calls=(ToolCall(id="call_a", name="get_user", arguments={"x": 1}),),
        ),
        ChatMessage(
            role="tool",
            content='{"user": "ann"}',
            tool_call_id="call_a",
            name="get_user",
        ),
    )
    tools = (
        ToolSpec(
            name="lookup_claim",
            description="Look a claim up.",
            parameters={
                "type": "object",
                "properties": {"claim_id": {"type": "string"}},
            },
        ),
    )
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    response = await client(openai_server).chat(
        request(
            llm_config={
                "type": "custom_llm",
                "temperature": 0.2,
                "max_tokens": 50,
                "seed": 7,
            },
            messages=history,
            tools=tools,
            tool_choice="auto",
            response_schema=schema,
        )
    )

    assert response.content == "Let me check."
    assert response.tool_calls == (
        ToolCall(
            id="call_0_lookup_claim", name="lookup_claim", arguments={"claim_id": "C-9"}
        ),
    )
    assert (response.usage.input_tokens, response.usage.output_tokens) == (42, 8)
    assert response.usage.total_tokens == 50
    assert response.model == "gpt-fake-2026-01-01"
    assert response.provider == "openai_compatible"
    assert response.latency_ms > 0
    record = response.call_record()
    assert record["response_model"] == "gpt-fake-2026-01-01"
    assert record["total_tokens"] == 50

    (sent,) = openai_server.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    body = sent.body
    assert body["model"] == "gpt-fake"
    assert (body["temperature"], body["max_tokens"], body["seed"]) == (0.2, 50, 7)
    assert [m["role"] for m in body["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
    ]
    assistant = body["messages"][2]
    assert assistant["content"] is None
    call = assistant["tool_calls"][0]
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_user"
    assert json.loads(call["function"]["arguments"]) == {"x": 1}
    assert body["messages"][3]["tool_call_id"] == "call_a"
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "lookup_claim",
                "description": "Look a claim up.",
                "parameters": tools[0].parameters,
            },
        }
    ]
    assert body["tool_choice"] == "auto"
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "structured_output", "schema": schema, "strict": False},
    }


async def test_no_tools_means_no_tool_choice_and_defaults_stay_unsent(
    openai_server: FakeOpenAIServer,
):
    openai_server.queue(text_reply("Hello!"))
    response = await client(openai_server).chat(request(tool_choice="auto"))
    assert response.content == "Hello!"
    body = openai_server.requests[0].body
    assert "tools" not in body
    assert "tool_choice" not in body
    assert "temperature" not in body
    assert "response_format" not in body


async def test_model_kwargs_are_merged_but_never_override_the_request(
    openai_server: FakeOpenAIServer,
):
    openai_server.queue(text_reply("ok"))
    config = {"type": "custom_llm", "model_kwargs": {"top_p": 0.5, "model": "evil"}}
    await client(openai_server).chat(request(llm_config=config))
    body = openai_server.requests[0].body
    assert body["top_p"] == 0.5
    assert body["model"] == "gpt-fake"


async def test_a_500_is_retried_then_succeeds(openai_server: FakeOpenAIServer):
    openai_server.queue(error_reply(500, "upstream exploded"), text_reply("Recovered."))
    response = await client(openai_server, max_retries=2).chat(request())
    assert response.content == "Recovered."
    assert len(openai_server.requests) == 2


async def test_retries_give_up_after_max_retries(openai_server: FakeOpenAIServer):
    openai_server.queue(
        *(error_reply(429, "slow down", **{"Retry-After": "0"}) for _ in range(3))
    )
    with pytest.raises(LLMError) as info:
        await client(openai_server, max_retries=2).chat(request())
    assert len(openai_server.requests) == 3
    assert "HTTP 429" in info.value.message
    assert "after 3 attempts" in info.value.message


async def test_a_401_is_not_retried_and_never_leaks_the_key(
    openai_server: FakeOpenAIServer,
):
    openai_server.queue(error_reply(401, f"Incorrect API key provided: {KEY}."))
    llm = client(openai_server, max_retries=3)
    with pytest.raises(LLMError) as info:
        await llm.chat(request())
    err = info.value
    assert len(openai_server.requests) == 1
    assert err.code == "llm_auth_error"
    assert "openai_compatible" in err.message
    assert openai_server.base_url in err.message
    assert "HTTP 401" in err.message
    assert KEY not in str(err)
    assert KEY not in repr(err.details)
    assert KEY not in repr(llm)


async def test_timeouts_are_retried_and_reported(openai_server: FakeOpenAIServer):
    openai_server.queue(Reply(body={}, delay_s=1.0), text_reply("late but fine"))
    response = await client(openai_server, timeout_s=0.2, max_retries=1).chat(request())
    assert response.content == "late but fine"

    openai_server.queue(Reply(body={}, delay_s=1.0))
    with pytest.raises(LLMError) as info:
        await client(openai_server, timeout_s=0.2, max_retries=0).chat(request())
    assert info.value.code == "llm_timeout"


async def test_unreachable_endpoint_raises_llm_error():
    llm = OpenAICompatibleLLM(
        "http://127.0.0.1:9/v1", KEY, "m", max_retries=0, timeout_s=2
    )
    with pytest.raises(LLMError) as info:
        await llm.chat(request())
    assert "127.0.0.1:9" in info.value.message
    assert KEY not in info.value.message


async def test_a_malformed_answer_raises_llm_error(openai_server: FakeOpenAIServer):
    openai_server.queue(Reply(body={"choices": []}))
    with pytest.raises(LLMError, match="no choices"):
        await client(openai_server).chat(request())
    openai_server.queue(
        Reply(
            body={
                "choices": [
                    {
                        "message": {
                            "role": "assistant",
                            "tool_calls": [
                                {
                                    "id": "c",
                                    "function": {"name": "f", "arguments": "{nope"},
                                }
                            ],
                        }
                    }
                ]
            }
        )
    )
    with pytest.raises(LLMError, match="not JSON"):
        await client(openai_server).chat(request())
