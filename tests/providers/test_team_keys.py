"""Team vendor credentials in LLM routing: node key -> team credential -> server key."""

from tests.providers.pai_support import SERVER_KEY, USER_KEY, chat, server_keys
from threadline.providers.fake_server import FakeOpenAIServer, text_reply
from threadline.providers.groups import GroupLLM
from threadline.providers.keys import TeamKeys, with_team_key
from threadline.providers.router import ConfigurableLLM, TeamLLM

TEAM_KEY = "sk-team-STORED-5555666677778888"
TEAM = TeamKeys(team_id="t1", credentials={"openai": {"api_key": TEAM_KEY}})


def test_a_team_credential_fills_only_configs_without_a_key() -> None:
    bare = {"type": "openai_llm", "model": "m"}
    assert with_team_key(bare, TEAM) == {**bare, "api_key": TEAM_KEY}
    assert with_team_key({**bare, "api_key": USER_KEY}, TEAM) is None
    assert with_team_key({"type": "anthropic_llm", "model": "m"}, TEAM) is None
    assert with_team_key({"type": "llm_group", "llms": [bare]}, TEAM) is None
    azure = TeamKeys(
        credentials={
            "azure_openai": {"api_key": "k", "endpoint": "https://team.example.test"}
        }
    )
    own_endpoint = {"type": "azure_openai_llm", "endpoint": "https://node.example"}
    filled = with_team_key(own_endpoint, azure)
    assert filled is not None and filled["endpoint"] == "https://node.example"
    bedrock = TeamKeys(
        credentials={
            "bedrock": {"aws_access_key_id": "AK", "aws_secret_access_key": "SK"}
        }
    )
    filled = with_team_key({"type": "bedrock_llm", "model": "m"}, bedrock)
    assert filled is not None and filled["aws_secret_access_key"] == "SK"


async def test_the_lookup_order_is_node_key_then_team_then_server(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.queue(text_reply("a"), text_reply("b"), text_reply("c"))
    router = ConfigurableLLM(
        keys=server_keys(openai_server, api_keys={"openai": SERVER_KEY})
    )
    bare = {"type": "openai_llm", "model": "gpt-x"}

    async def load() -> TeamKeys:
        return TEAM

    team = TeamLLM(router, load)
    by_team = await team.chat(chat(bare))
    by_node = await team.chat(chat({**bare, "api_key": USER_KEY}))
    by_server = await router.chat(chat(bare))  # another team: no credentials
    sent = [r.headers["authorization"] for r in openai_server.requests]
    assert sent == [f"Bearer {TEAM_KEY}", f"Bearer {USER_KEY}", f"Bearer {SERVER_KEY}"]
    assert (by_team.user_key, by_team.extra["key_source"]) == (True, "team")
    assert (by_node.user_key, by_node.extra["key_source"]) == (True, "user")
    assert (by_server.user_key, by_server.extra["key_source"]) == (False, "fallback")


async def test_group_members_use_the_team_credential(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.queue(text_reply("grouped"), text_reply("again"))
    router = ConfigurableLLM(
        keys=server_keys(openai_server, api_keys={"openai": SERVER_KEY}),
        group_factory=GroupLLM,
    )
    group = {"type": "llm_group", "llms": [{"type": "openai_llm", "model": "gpt-g"}]}
    response = await router.for_team(TEAM).chat(chat(group))
    plain = await router.chat(chat(group))  # the shared cache keeps teams apart
    assert (response.content, response.user_key) == ("grouped", True)
    assert (plain.content, plain.user_key) == ("again", False)
    sent = [r.headers["authorization"] for r in openai_server.requests]
    assert sent == [f"Bearer {TEAM_KEY}", f"Bearer {SERVER_KEY}"]


async def test_the_override_endpoint_wins_over_team_credentials(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.queue(text_reply("o"))
    router = ConfigurableLLM(
        override_url=openai_server.base_url, api_keys={"override": "gw-key"}
    )
    response = await router.for_team(TEAM).chat(
        chat({"type": "openai_llm", "model": "m"})
    )
    assert openai_server.requests[0].headers["authorization"] == "Bearer gw-key"
    assert (response.provider, response.user_key) == ("override", False)
