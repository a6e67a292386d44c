"""build_llm / ConfigurableLLM routing rules."""

import pytest

from tests.fakes.openai_server import FakeOpenAIServer, text_reply
from threadline.providers.base import ChatMessage, ChatRequest, LLMError
from threadline.providers.keys import ServerKeys
from threadline.providers.pai import PydanticAILLM
from threadline.providers.router import ConfigurableLLM, build_llm, primary_config
from threadline.tools.llm_endpoints import EndpointGuard

GUARDED = ServerKeys(guard=EndpointGuard())


@pytest.mark.parametrize(
    "config",
    [
        {"type": "openai_llm", "model": "gpt-5.4-mini"},
        {"type": "anthropic_llm", "model": "claude-sonnet-4-6"},
        {"type": "no_llm"},
        {"type": "global_default_llm"},
        {"type": "llm_group", "llms": [{"type": "google_llm", "model": "gemini-x"}]},
    ],
)
def test_override_url_takes_every_config(config):
    llm = build_llm(config, override_url="http://gw.local/v1", override_model=None)
    assert isinstance(llm, PydanticAILLM)
    assert (llm.provider, llm.user_key) == ("override", False)
    assert llm.url == "http://gw.local/v1/chat/completions"
    assert llm.model == primary_config(config).get("model", "default")


def test_override_model_wins_and_override_key_is_used():
    llm = build_llm(
        {
            "type": "openai_llm",
            "model": "gpt-5.4-mini",
            "max_retries": 1,
            "request_timeout_ms": 2500,
        },
        override_url="http://gw.local/v1",
        override_model="llama-3",
        api_keys={"override": "k-1"},
    )
    assert llm.model == "llama-3"
    assert llm.max_retries == 1
    assert llm.timeout_s == 2.5


def test_custom_llm_with_base_url_uses_its_own_key():
    llm = build_llm(
        {
            "type": "custom_llm",
            "base_url": "https://gateway.example/v1/",
            "model": "mixtral",
            "api_key": "team-key",
            "default_headers": {"X-Team": "a"},
        },
        api_keys={"custom": "server-key"},
        keys=GUARDED,
    )
    assert llm.url == "https://gateway.example/v1/chat/completions"
    assert llm.model == "mixtral"
    assert llm.user_key is True
    assert llm.provider == "custom"


def test_a_tenant_custom_url_never_gets_the_server_key():
    llm = build_llm(
        {"type": "custom_llm", "base_url": "https://g/v1"},
        api_keys={"custom": "server-key"},
        keys=GUARDED,
    )
    assert llm.user_key is False
    assert llm.model == "default"
    assert "server-key" not in llm._secrets


def test_the_operator_custom_url_gets_the_server_key():
    operator = ServerKeys(endpoints={"custom": "https://G/v1/"})
    llm = build_llm(
        {"type": "custom_llm", "base_url": "https://g/v1"},
        api_keys={"custom": "server-key"},
        keys=operator,
    )
    assert llm.user_key is False
    assert "server-key" in llm._secrets


def test_tenant_urls_are_refused_without_a_guard():
    with pytest.raises(LLMError) as info:
        build_llm({"type": "custom_llm", "base_url": "https://g/v1"})
    assert info.value.code == "llm_address_refused"


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (
            {"type": "openai_llm", "provider": "openai"},
            ["'openai'", "THREADLINE_LLM_OVERRIDE_URL"],
        ),
        ({"type": "custom_llm"}, ["base_url", "THREADLINE_LLM_OVERRIDE_URL"]),
        ({"type": "no_llm"}, ["no LLM is configured", "llms_config"]),
        (None, ["no LLM is configured"]),
    ],
)
def test_unsupported_configs_name_the_provider_and_the_setting(config, words):
    with pytest.raises(LLMError) as info:
        build_llm(config)
    assert info.value.code == "llm_not_configured"
    for word in words:
        assert word in info.value.message


def test_primary_config_unwraps_groups():
    inner = {"type": "custom_llm", "model": "m"}
    group = {"type": "llm_group", "llms": [inner, {"type": "openai_llm"}]}
    assert primary_config(group) == inner
    assert (
        primary_config({"type": "llm_group_with_backchannel", "main_llm_config": group})
        == inner
    )
    assert primary_config({"type": "llm_group", "llms": []}) == {}


async def test_configurable_llm_dispatches_per_request(openai_server: FakeOpenAIServer):
    openai_server.queue(text_reply("one"), text_reply("two"))
    llm = ConfigurableLLM(override_url=openai_server.base_url, override_model="served")
    group = {
        "type": "llm_group",
        "llms": [{"type": "openai_llm", "model": "gpt-x", "temperature": 0.3}],
    }
    messages = (ChatMessage(role="user", content="hi"),)
    first = await llm.chat(ChatRequest(llm_config=group, messages=messages))
    second = await llm.chat(ChatRequest(llm_config=group, messages=messages))
    assert (first.content, second.content) == ("one", "two")
    assert llm.client_for(group) is llm.client_for(primary_config(group))
    body = openai_server.requests[0].body
    assert body["model"] == "served"
    assert body["temperature"] == 0.3  # read from the unwrapped member


async def test_configurable_llm_raises_for_unroutable_configs():
    llm = ConfigurableLLM()
    with pytest.raises(LLMError, match="THREADLINE_ANTHROPIC_API_KEY"):
        await llm.chat(
            ChatRequest(
                llm_config={
                    "type": "anthropic_llm",
                    "provider": "anthropic",
                    "model": "claude-sonnet-4-6",
                },
                messages=(ChatMessage(role="user", content="hi"),),
            )
        )
