"""openai_llm, azure_openai_llm and custom_llm through pydantic-ai and the fake server."""

import json

import pytest

from tests.fakes.openai_server import (
    FakeOpenAIServer,
    Reply,
    error_reply,
    text_reply,
    tool_calls_reply,
)
from tests.providers.pai_support import (
    HISTORY,
    LOOKUP,
    SCHEMA,
    SERVER_KEY,
    USER_KEY,
    chat,
    server_keys,
)
from threadline.providers.base import ChatMessage, LLMError, ToolCall
from threadline.providers.builders import build_client

OPENAI = {
    "type": "openai_llm",
    "provider": "openai",
    "model": "gpt-5.4-mini",
    "api_key": USER_KEY,
    "temperature": 0.3,
    "max_tokens": 64,
    "seed": 7,
    "model_kwargs": {"top_p": 0.5},
}


async def test_openai_sends_messages_tools_params_and_the_team_key(
    openai_server: FakeOpenAIServer,
):
    openai_server.queue(
        tool_calls_reply(
            [("lookup", {"q": 9})],
            content="Checking.",
            prompt_tokens=40,
            completion_tokens=5,
            model="gpt-5.4-mini-2026",
        )
    )
    llm = build_client(OPENAI, server_keys(openai_server))
    response = await llm.chat(chat(OPENAI, tools=(LOOKUP,), tool_choice="required"))

    sent = openai_server.requests[0]
    assert (sent.path, sent.wire) == ("/v1/chat/completions", "openai")
    assert sent.headers["authorization"] == f"Bearer {USER_KEY}"
    body = sent.body
    assert body["model"] == "gpt-5.4-mini"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where is my claim?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q":2}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "in review"},
        {"role": "user", "content": "And now?"},
    ]
    assert body["tools"][0]["function"]["name"] == "lookup"
    assert body["tools"][0]["function"]["description"] == "Find a claim."
    assert body["tools"][0]["function"]["parameters"]["properties"] == {
        "q": {"type": "integer"}
    }
    assert body["tool_choice"] == "required"
    assert (body["temperature"], body["seed"], body["top_p"]) == (0.3, 7, 0.5)
    assert body["max_completion_tokens"] == 64

    assert response.content == "Checking."
    assert response.tool_calls == (
        ToolCall(id="call_0_lookup", name="lookup", arguments={"q": 9}),
    )
    assert (response.usage.input_tokens, response.usage.output_tokens) == (40, 5)
    assert response.usage.total_tokens == 45
    assert response.model == "gpt-5.4-mini-2026"
    assert (response.provider, response.user_key) == ("openai", True)
    assert response.extra["key_source"] == "user"
    assert response.call_record()["user_key"] is True


async def test_openai_without_a_team_key_uses_the_server_key_as_fallback(
    openai_server: FakeOpenAIServer,
):
    openai_server.queue(text_reply("hi"))
    config = {"type": "openai_llm", "model": "gpt-4o-mini"}
    keys = server_keys(openai_server, api_keys={"openai": SERVER_KEY})
    response = await build_client(config, keys).chat(chat(config))
    assert openai_server.requests[0].headers["authorization"] == f"Bearer {SERVER_KEY}"
    assert (response.content, response.user_key) == ("hi", False)
    assert response.extra["key_source"] == "fallback"


async def test_response_schema_is_native_json_schema_output(
    openai_server: FakeOpenAIServer,
):
    openai_server.queue(text_reply('{"ok": true}'))
    llm = build_client(OPENAI, server_keys(openai_server))
    response = await llm.chat(chat(OPENAI, response_schema=SCHEMA))
    fmt = openai_server.requests[0].body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Verdict"
    assert fmt["json_schema"]["strict"] is False
    assert fmt["json_schema"]["schema"]["properties"] == SCHEMA["properties"]
    assert json.loads(response.content) == {"ok": True}


async def test_streaming_delivers_deltas_and_records_time_to_first_token(
    openai_server: FakeOpenAIServer,
):
    reply = text_reply("Hello there, friend.", prompt_tokens=12, completion_tokens=4)
    reply.chunk_delay_s = 0.01
    openai_server.queue(reply)
    deltas: list[str] = []

    async def on_text(delta: str) -> None:
        deltas.append(delta)

    config = {**OPENAI, "streaming": True}
    llm = build_client(config, server_keys(openai_server))
    response = await llm.chat(chat(config, on_text=on_text))
    body = openai_server.requests[0].body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert len(deltas) > 1
    assert "".join(deltas) == response.content == "Hello there, friend."
    assert response.ttft_ms is not None
    assert 0 < response.ttft_ms <= response.latency_ms
    assert (response.usage.input_tokens, response.usage.output_tokens) == (12, 4)


async def test_a_429_then_success_is_one_call_with_two_attempts(
    openai_server: FakeOpenAIServer,
):
    openai_server.queue(error_reply(429, "slow down"), text_reply("done"))
    llm = build_client(OPENAI, server_keys(openai_server))
    response = await llm.chat(chat(OPENAI))
    assert len(openai_server.requests) == 2
    assert response.content == "done"
    assert response.extra["attempts"] == 2
    assert response.call_record()["provider"] == "openai"


async def test_5xx_retries_stop_at_max_retries(openai_server: FakeOpenAIServer):
    openai_server.queue(*(error_reply(500, "boom") for _ in range(3)))
    config = {**OPENAI, "max_retries": 1}
    with pytest.raises(LLMError) as info:
        await build_client(config, server_keys(openai_server)).chat(chat(config))
    assert len(openai_server.requests) == 2
    assert info.value.code == "llm_error"
    assert "after 2 attempts" in info.value.message
    assert "HTTP 500" in info.value.message


async def test_a_401_is_an_auth_error_that_never_shows_the_key(
    openai_server: FakeOpenAIServer,
):
    openai_server.queue(error_reply(401, f"Incorrect API key provided: {USER_KEY}"))
    llm = build_client(OPENAI, server_keys(openai_server))
    with pytest.raises(LLMError) as info:
        await llm.chat(chat(OPENAI))
    assert len(openai_server.requests) == 1  # not retried
    assert info.value.code == "llm_auth_error"
    assert USER_KEY not in info.value.message
    assert USER_KEY not in str(info.value)
    assert "openai" in info.value.message
    assert openai_server.base_url in info.value.message


async def test_a_slow_answer_is_a_timeout(openai_server: FakeOpenAIServer):
    openai_server.queue(Reply(body=None, delay_s=2.0))
    config = {**OPENAI, "request_timeout_ms": 200, "max_retries": 0}
    with pytest.raises(LLMError) as info:
        await build_client(config, server_keys(openai_server)).chat(chat(config))
    assert info.value.code == "llm_timeout"


async def test_azure_openai_uses_the_deployment_url_and_api_key_header(
    openai_server: FakeOpenAIServer,
):
    openai_server.queue(text_reply("azure says hi"))
    config = {
        "type": "azure_openai_llm",
        "model": "my-deployment",
        "api_version": "2025-01-01-preview",
        "temperature": 0.1,
    }
    keys = server_keys(
        openai_server,
        api_keys={"azure_openai": SERVER_KEY},
        azure_openai_endpoint=openai_server.root_url,
    )
    response = await build_client(config, keys).chat(chat(config))
    sent = openai_server.requests[0]
    assert sent.path == (
        "/openai/deployments/my-deployment/chat/completions"
        "?api-version=2025-01-01-preview"
    )
    assert sent.headers["api-key"] == SERVER_KEY
    assert sent.body["temperature"] == 0.1
    assert (response.content, response.provider, response.user_key) == (
        "azure says hi",
        "azure_openai",
        False,
    )


async def test_custom_llm_talks_to_any_openai_compatible_endpoint(
    openai_server: FakeOpenAIServer,
):
    openai_server.queue(text_reply("llama here", model="llama3.2"))
    config = {
        "type": "custom_llm",
        "base_url": openai_server.base_url,
        "model": "llama3.2",
        "api_key": USER_KEY,
        "default_headers": {"X-Team": "blue"},
        "max_tokens": 20,
    }
    response = await build_client(config, server_keys(openai_server)).chat(
        chat(config, messages=(ChatMessage(role="user", content="hi"),))
    )
    sent = openai_server.requests[0]
    assert sent.headers["authorization"] == f"Bearer {USER_KEY}"
    assert sent.headers["x-team"] == "blue"
    assert sent.body["max_tokens"] == 20  # generic servers get max_tokens
    assert (response.content, response.provider, response.user_key) == (
        "llama here",
        "custom",
        True,
    )


async def test_history_round_trips_unchanged_through_the_conversion(
    openai_server: FakeOpenAIServer,
):
    openai_server.queue(text_reply("ok"))
    config = {"type": "custom_llm", "base_url": openai_server.base_url}
    await build_client(config, server_keys(openai_server)).chat(chat(config))
    roles = [m["role"] for m in openai_server.requests[0].body["messages"]]
    assert roles == [m.role for m in HISTORY]
