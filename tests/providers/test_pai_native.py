"""anthropic_llm, google_llm and bedrock_llm over their own wire formats (fake server)."""

import json

import pytest

from tests.fakes.openai_server import (
    FakeOpenAIServer,
    error_reply,
    text_reply,
    tool_calls_reply,
)
from tests.providers.pai_support import (
    LOOKUP,
    SCHEMA,
    SERVER_KEY,
    USER_KEY,
    chat,
    server_keys,
)
from threadline.providers.base import LLMError, ToolCall
from threadline.providers.builders import build_client
from threadline.providers.pai_messages import OUTPUT_TOOL

ANTHROPIC = {
    "type": "anthropic_llm",
    "model": "claude-sonnet-4-6",
    "api_key": USER_KEY,
    "temperature": 0.4,
    "max_tokens": 99,
    "seed": 3,  # Anthropic has no seed: dropped without a warning
}
GOOGLE = {
    "type": "google_llm",
    "model": "gemini-2.5-flash",
    "temperature": 0.1,
    "max_tokens": 50,
    "seed": 4,
}
BEDROCK = {
    "type": "bedrock_llm",
    "model": "zai.glm-4.7-flash",
    "region": "eu-west-1",
    "aws_access_key_id": "AKIAFAKETEAM",
    "aws_secret_access_key": "team-aws-secret",
    "temperature": 0.2,
    "max_tokens": 30,
}


async def test_anthropic_messages_request_and_tool_use_answer(
    openai_server: FakeOpenAIServer,
):
    openai_server.queue(
        tool_calls_reply(
            [("lookup", {"q": 1})], content="Let me look.", model="claude-x"
        )
    )
    llm = build_client(ANTHROPIC, server_keys(openai_server))
    response = await llm.chat(chat(ANTHROPIC, tools=(LOOKUP,), tool_choice="auto"))
    sent = openai_server.requests[0]
    assert (sent.path, sent.wire) == ("/v1/messages", "anthropic")
    assert USER_KEY in (sent.headers.get("x-api-key") or sent.headers["authorization"])
    body = sent.body
    assert (body["model"], body["max_tokens"], body["temperature"]) == (
        "claude-sonnet-4-6",
        99,
        0.4,
    )
    assert "seed" not in body
    assert body["system"] == "Be brief."
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {"id": "call_a", "type": "tool_use", "name": "lookup", "input": {"q": 2}}
        ],
    }
    assert body["messages"][2]["content"][0]["tool_use_id"] == "call_a"
    assert body["tools"] == [
        {
            "name": "lookup",
            "description": "Find a claim.",
            "input_schema": LOOKUP.parameters,
        }
    ]
    assert body["tool_choice"] == {"type": "auto"}
    assert response.content == "Let me look."
    assert response.tool_calls == (
        ToolCall(id="call_0_lookup", name="lookup", arguments={"q": 1}),
    )
    assert (response.usage.input_tokens, response.usage.output_tokens) == (11, 7)
    assert (response.model, response.provider, response.user_key) == (
        "claude-x",
        "anthropic",
        True,
    )


async def test_anthropic_streams_text_deltas_with_usage(
    openai_server: FakeOpenAIServer,
):
    openai_server.queue(text_reply("One two three", prompt_tokens=20))
    deltas: list[str] = []

    async def on_text(delta: str) -> None:
        deltas.append(delta)

    config = {**ANTHROPIC, "streaming": True}
    llm = build_client(config, server_keys(openai_server))
    response = await llm.chat(chat(config, on_text=on_text))
    assert openai_server.requests[0].body["stream"] is True
    assert deltas == ["One ", "two ", "three"]
    assert response.content == "One two three"
    assert response.ttft_ms is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (20, 7)


async def test_anthropic_rate_limit_is_retried_and_counted_once(
    openai_server: FakeOpenAIServer,
):
    openai_server.queue(error_reply(429, "rate limited"), text_reply("fine"))
    llm = build_client(ANTHROPIC, server_keys(openai_server))
    response = await llm.chat(chat(ANTHROPIC))
    assert len(openai_server.requests) == 2
    assert (response.content, response.extra["attempts"]) == ("fine", 2)


async def test_anthropic_auth_error_hides_the_key(openai_server: FakeOpenAIServer):
    openai_server.queue(error_reply(401, f"invalid x-api-key {USER_KEY}"))
    llm = build_client(ANTHROPIC, server_keys(openai_server))
    with pytest.raises(LLMError) as info:
        await llm.chat(chat(ANTHROPIC))
    assert info.value.code == "llm_auth_error"
    assert USER_KEY not in info.value.message
    assert "anthropic" in info.value.message


async def test_structured_output_falls_back_to_an_output_tool(
    openai_server: FakeOpenAIServer,
):
    openai_server.queue(tool_calls_reply([(OUTPUT_TOOL, {"ok": True})]))
    llm = build_client(ANTHROPIC, server_keys(openai_server))
    llm.native_output = False  # as for a model without native JSON-schema output
    response = await llm.chat(chat(ANTHROPIC, response_schema=SCHEMA))
    body = openai_server.requests[0].body
    assert body["tools"][0]["name"] == OUTPUT_TOOL
    assert body["tools"][0]["input_schema"]["properties"] == SCHEMA["properties"]
    assert json.loads(response.content) == {"ok": True}
    assert response.tool_calls == ()


async def test_google_generate_content_request_and_answer(
    openai_server: FakeOpenAIServer,
):
    openai_server.queue(
        tool_calls_reply([("lookup", {"q": 5})], content="Looking.", model="gemini-x")
    )
    keys = server_keys(openai_server, api_keys={"google": SERVER_KEY})
    response = await build_client(GOOGLE, keys).chat(chat(GOOGLE, tools=(LOOKUP,)))
    sent = openai_server.requests[0]
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == SERVER_KEY
    body = sent.body
    assert body["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    assert body["contents"][0] == {
        "role": "user",
        "parts": [{"text": "Where is my claim?"}],
    }
    call = body["contents"][1]["parts"][0]["functionCall"]
    assert (call["name"], call["args"]) == ("lookup", {"q": 2})
    response_part = body["contents"][2]["parts"][0]["functionResponse"]
    assert response_part["name"] == "lookup"
    declaration = body["tools"][0]["functionDeclarations"][0]
    assert declaration["name"] == "lookup"
    config = body["generationConfig"]
    assert (config["temperature"], config["maxOutputTokens"], config["seed"]) == (
        0.1,
        50,
        4,
    )
    assert response.content == "Looking."
    assert [(c.name, c.arguments) for c in response.tool_calls] == [
        ("lookup", {"q": 5})
    ]
    assert (response.usage.input_tokens, response.usage.output_tokens) == (11, 7)
    assert (response.model, response.provider, response.user_key) == (
        "gemini-x",
        "google",
        False,
    )


async def test_google_native_schema_and_streaming(openai_server: FakeOpenAIServer):
    keys = server_keys(openai_server, api_keys={"google": SERVER_KEY})
    openai_server.queue(text_reply('{"ok": false}'), text_reply("Hi you there"))
    llm = build_client(GOOGLE, keys)
    structured = await llm.chat(chat(GOOGLE, response_schema=SCHEMA))
    generation = openai_server.requests[0].body["generationConfig"]
    assert generation["responseMimeType"] == "application/json"
    assert generation["responseJsonSchema"]["properties"] == SCHEMA["properties"]
    assert json.loads(structured.content) == {"ok": False}

    deltas: list[str] = []

    async def on_text(delta: str) -> None:
        deltas.append(delta)

    streamed = {**GOOGLE, "streaming": True}
    response = await llm.chat(chat(streamed, on_text=on_text))
    assert openai_server.requests[1].path.startswith(
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    )
    assert "".join(deltas) == response.content == "Hi you there"
    assert response.ttft_ms is not None
    assert response.usage.input_tokens == 11


async def test_bedrock_converse_request_is_signed_with_the_team_keys(
    openai_server: FakeOpenAIServer,
):
    openai_server.queue(
        error_reply(429, "Too many requests"),
        tool_calls_reply([("lookup", {"q": 3})], content="Sure."),
    )
    llm = build_client(BEDROCK, server_keys(openai_server))
    response = await llm.chat(chat(BEDROCK, tools=(LOOKUP,)))
    assert len(openai_server.requests) == 2  # throttled once, retried by us
    sent = openai_server.requests[1]
    assert (sent.path, sent.wire) == ("/model/zai.glm-4.7-flash/converse", "bedrock")
    auth = sent.headers["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIAFAKETEAM/")
    assert "/eu-west-1/bedrock/" in auth
    assert "team-aws-secret" not in json.dumps(sent.headers)
    body = sent.body
    assert body["system"] == [{"text": "Be brief."}]
    assert body["inferenceConfig"] == {"maxTokens": 30, "temperature": 0.2}
    assert body["messages"][1]["content"][0]["toolUse"]["toolUseId"] == "call_a"
    assert body["toolConfig"]["tools"][0]["toolSpec"]["name"] == "lookup"
    assert response.content == "Sure."
    assert response.tool_calls == (
        ToolCall(id="call_0_lookup", name="lookup", arguments={"q": 3}),
    )
    assert (response.usage.input_tokens, response.usage.total_tokens) == (11, 18)
    assert (response.provider, response.user_key, response.extra["attempts"]) == (
        "bedrock",
        True,
        2,
    )


async def test_bedrock_without_team_keys_uses_the_aws_chain_as_fallback(
    openai_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASERVERCHAIN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "server-secret")
    openai_server.queue(text_reply("ok"))
    config = {"type": "bedrock_llm", "model": "zai.glm-5"}
    keys = server_keys(openai_server, aws_region="us-east-2")
    response = await build_client(config, keys).chat(chat(config))
    auth = openai_server.requests[0].headers["authorization"]
    assert "Credential=AKIASERVERCHAIN/" in auth
    assert "/us-east-2/" in auth
    assert response.user_key is False
