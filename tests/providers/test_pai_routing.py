"""Keys, defaults, override and the group hook of the pydantic-ai router."""

import json
from typing import Any

import pytest

from tests.fakes.openai_server import FakeOpenAIServer, text_reply
from tests.providers.pai_support import SERVER_KEY, USER_KEY, chat, server_keys
from threadline.providers.base import LLM, ChatRequest, ChatResponse, JsonDict, LLMError
from threadline.providers.builders import build_client
from threadline.providers.keys import ServerKeys, parse_default_llm
from threadline.providers.router import ConfigurableLLM
from threadline.service.processes import runtime_from_settings
from threadline.settings import Settings
from threadline.tools.http_call import HttpPolicy
from threadline.tools.llm_endpoints import EndpointGuard


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (
            {"type": "openai_llm", "model": "gpt-4o"},
            ["'openai'", "llms_config.api_key", "THREADLINE_OPENAI_API_KEY"],
        ),
        (
            {"type": "anthropic_llm", "model": "claude-sonnet-4-6"},
            ["'anthropic'", "THREADLINE_ANTHROPIC_API_KEY"],
        ),
        (
            {"type": "google_llm", "model": "gemini-2.5-flash"},
            ["'google'", "THREADLINE_GOOGLE_API_KEY"],
        ),
        (
            {"type": "azure_openai_llm", "model": "dep", "api_key": "k"},
            ["'azure_openai'", "THREADLINE_AZURE_OPENAI_ENDPOINT"],
        ),
        (
            {"type": "bedrock_llm", "model": "zai.glm-5"},
            ["'bedrock'", "THREADLINE_AWS_REGION"],
        ),
        ({"type": "openai_llm", "api_key": "k"}, ["'openai'", "llms_config.model"]),
        ({"type": "custom_llm"}, ["base_url"]),
        ({"type": "global_default_llm"}, ["THREADLINE_DEFAULT_LLM"]),
        ({"type": "no_llm"}, ["this node has no LLM", "no_llm"]),
        ({"type": "mystery_llm"}, ["'mystery_llm'"]),
    ],
)
def test_missing_settings_are_named_in_a_not_configured_error(config, words):
    with pytest.raises(LLMError) as info:
        build_client(config, ServerKeys())
    assert info.value.code == "llm_not_configured"
    for word in words:
        assert word in info.value.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("openai:gpt-4o-mini", {"type": "openai_llm", "model": "gpt-4o-mini"}),
        (
            "anthropic:claude-haiku-4-5",
            {"type": "anthropic_llm", "model": "claude-haiku-4-5"},
        ),
        (
            '{"type": "custom_llm", "base_url": "http://h/v1"}',
            {"type": "custom_llm", "base_url": "http://h/v1"},
        ),
    ],
)
def test_default_llm_setting_parses(value, expected):
    assert parse_default_llm(value) == expected


def test_a_malformed_default_llm_setting_is_not_configured():
    with pytest.raises(LLMError) as info:
        parse_default_llm("gpt-4o")
    assert info.value.code == "llm_not_configured"
    assert "provider:model" in info.value.message


async def test_global_default_uses_the_server_default_with_the_node_params(
    openai_server: FakeOpenAIServer,
):
    openai_server.queue(text_reply("default here"))
    keys = server_keys(
        openai_server, default_llm="openai:gpt-4o-mini", api_keys={"openai": SERVER_KEY}
    )
    llm = ConfigurableLLM(keys=keys)
    config = {"type": "global_default_llm", "temperature": 0.2}
    response = await llm.chat(chat(config))
    body = openai_server.requests[0].body
    assert (body["model"], body["temperature"]) == ("gpt-4o-mini", 0.2)
    assert (response.provider, response.user_key) == ("openai", False)


async def test_override_sends_every_provider_to_one_endpoint(
    openai_server: FakeOpenAIServer,
):
    openai_server.queue(text_reply("a"), text_reply("b"))
    llm = ConfigurableLLM(
        override_url=openai_server.base_url,
        override_model="served",
        api_keys={"override": "gw-key"},
    )
    anthropic = {
        "type": "anthropic_llm",
        "model": "claude-sonnet-4-6",
        "api_key": USER_KEY,
        "max_tokens": 10,
    }
    first = await llm.chat(chat(anthropic))
    second = await llm.chat(chat({"type": "no_llm"}))
    assert [r.path for r in openai_server.requests] == ["/v1/chat/completions"] * 2
    sent = openai_server.requests[0]
    assert sent.headers["authorization"] == "Bearer gw-key"  # never the team key
    assert sent.body["model"] == "served"
    assert sent.body["max_tokens"] == 10
    assert (first.content, second.content) == ("a", "b")
    assert (first.provider, first.user_key) == ("override", False)
    assert first.extra["key_source"] == "override"
    assert first.extra["configured_provider"] == "anthropic_llm"


async def test_group_factory_receives_groups_and_client_for_serves_members(
    openai_server: FakeOpenAIServer,
):
    seen: list[JsonDict] = []

    class FirstMember:
        def __init__(self, group: JsonDict, client_for: Any) -> None:
            self.group, self.client_for = group, client_for

        async def chat(self, request: ChatRequest) -> ChatResponse:
            seen.append(request.llm_config)
            member = self.group["llms"][1]
            answer = await self.client_for(member).chat(
                ChatRequest(llm_config=member, messages=request.messages)
            )
            return ChatResponse(content=answer.content, winner="second")

    def factory(group, client_for) -> LLM:
        return FirstMember(group, client_for)

    openai_server.queue(text_reply("from member two"))
    member = {"type": "custom_llm", "base_url": openai_server.base_url, "model": "m2"}
    group = {"type": "llm_group", "llms": [{"type": "no_llm"}, member]}
    loopback = EndpointGuard(HttpPolicy(allow_private=True))
    llm = ConfigurableLLM(keys=ServerKeys(guard=loopback), group_factory=factory)
    response = await llm.chat(chat(group))
    assert seen == [group]
    assert (response.content, response.winner) == ("from member two", "second")
    assert openai_server.requests[0].body["model"] == "m2"
    assert llm.client_for(group) is llm.client_for(group)


async def test_runtime_from_settings_passes_the_server_keys(
    openai_server: FakeOpenAIServer,
):
    openai_server.queue(text_reply("ok"))
    default = json.dumps(
        {"type": "openai_llm", "model": "gpt-4o", "base_url": openai_server.base_url}
    )
    settings = Settings(
        openai_api_key=SERVER_KEY, default_llm=default, database_url="sqlite://"
    )
    runtime = runtime_from_settings(settings)
    assert isinstance(runtime.llm, ConfigurableLLM)
    assert runtime.llm.keys.api_keys == {"openai": SERVER_KEY}
    assert runtime.llm.keys.default_llm == default
    # The default model's URL is the operator's: the server key goes there.
    response = await runtime.llm.chat(chat({"type": "global_default_llm"}))
    assert openai_server.requests[0].headers["authorization"] == f"Bearer {SERVER_KEY}"
    assert response.user_key is False
