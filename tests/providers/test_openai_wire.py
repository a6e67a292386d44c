"""The OpenAI-compatible clients send messages, tools and schemas untransformed."""

import json

from threadline.providers.base import ChatMessage, ChatRequest, ToolSpec
from threadline.providers.builders import build_client
from threadline.providers.fake_server import (
    running_openai_server,
    text_reply,
    tool_calls_reply,
)
from threadline.providers.keys import ServerKeys


def _client(url: str, **extra: object):
    config = {"type": "custom_llm", "base_url": url, "model": "m", **extra}
    return build_client(config, ServerKeys(endpoints={"custom": url}))


async def test_the_wire_body_carries_every_message_tool_and_schema():
    history = [ChatMessage("system", "Be brief.")]
    for i in range(20):
        history.append(ChatMessage("user", f"question {i}"))
        history.append(ChatMessage("assistant", f"answer {i}"))
    history.append(ChatMessage("user", "last"))
    tool = ToolSpec(
        name="lookup",
        description="Find a slot.",
        parameters={"type": "object", "properties": {"day": {"type": "string"}}},
    )
    async with running_openai_server() as server:
        server.queue(tool_calls_reply([("lookup", {"day": "mon"})]), text_reply("ok"))
        llm = _client(server.base_url)
        called = await llm.chat(
            ChatRequest(
                llm_config={"temperature": 0.5},
                messages=tuple(history),
                tools=(tool,),
            )
        )
        schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
        await llm.chat(
            ChatRequest(
                llm_config={},
                messages=(ChatMessage("user", "count"),),
                response_schema=schema,
            )
        )
    first, second = (r.body for r in server.requests)
    assert [m["content"] for m in first["messages"]] == [m.content for m in history]
    assert [m["role"] for m in first["messages"]] == [m.role for m in history]
    assert first["tools"][0]["function"]["name"] == "lookup"
    sent = first["tools"][0]["function"]["parameters"]
    assert sent["properties"] == tool.parameters["properties"]
    assert first["temperature"] == 0.5
    assert called.tool_calls[0].name == "lookup"
    assert called.tool_calls[0].arguments == {"day": "mon"}
    assert second["messages"] == [{"role": "user", "content": "count"}]
    assert second["response_format"]["json_schema"]["schema"]["properties"] == {
        "n": {"type": "integer"}
    }


async def test_the_sdk_transform_never_walks_the_history(monkeypatch):
    from openai.resources.chat.completions import completions as sdk

    seen: list[object] = []
    original = sdk.__dict__["async_maybe_transform"]

    async def spy(data, expected_type):
        seen.append(data)
        return await original(data, expected_type)

    monkeypatch.setattr(sdk, "async_maybe_transform", spy)
    history = tuple(ChatMessage("user", f"m{i}") for i in range(40))
    # Offering a tool takes the SDK path (a plain call skips the SDK altogether).
    tool = ToolSpec(name="lookup", description="Find.", parameters={"type": "object"})
    async with running_openai_server() as server:
        server.queue(text_reply("ok"))
        answer = await _client(server.base_url).chat(
            ChatRequest(llm_config={}, messages=history, tools=(tool,))
        )
    assert answer.content == "ok"
    assert len(server.requests[0].body["messages"]) == 40
    assert [d["messages"] for d in seen] == [[]]  # type: ignore[index]


async def test_model_kwargs_still_win_over_the_built_body():
    async with running_openai_server() as server:
        server.queue(text_reply("ok"))
        llm = _client(server.base_url)
        own = [{"role": "user", "content": "from model_kwargs"}]
        await llm.chat(
            ChatRequest(
                llm_config={"model_kwargs": {"messages": own, "top_k": 3}},
                messages=(ChatMessage("user", "built"),),
            )
        )
    body = server.requests[0].body
    assert body["messages"] == own
    assert body["top_k"] == 3
    assert json.dumps(body)  # the body is plain JSON
