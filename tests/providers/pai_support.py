"""Shared helpers for the pydantic-ai provider tests (the fake server's wires)."""

from typing import Any

from threadline.providers.base import ChatMessage, ChatRequest, ToolCall, ToolSpec
from threadline.providers.fake_server import FakeOpenAIServer
from threadline.providers.keys import ServerKeys
from threadline.providers.pai_retries import Backoff

USER_KEY = "sk-team-OWN-0000111122223333"
SERVER_KEY = "sk-server-FALLBACK-999988887777"
LOOKUP = ToolSpec(
    name="lookup",
    description="Find a claim.",
    parameters={"type": "object", "properties": {"q": {"type": "integer"}}},
)
HISTORY = (
    ChatMessage(role="system", content="Be brief."),
    ChatMessage(role="user", content="Where is my claim?"),
    ChatMessage(
        role="assistant",
        content="",
        tool_calls=(ToolCall(id="call_a", name="lookup", arguments={"q": 2}),),
    ),
    ChatMessage(role="tool", content="in review", tool_call_id="call_a"),
    ChatMessage(role="user", content="And now?"),
)
SCHEMA = {
    "title": "Verdict",
    "type": "object",
    "properties": {"ok": {"type": "boolean"}},
}


def server_keys(server: FakeOpenAIServer, **kwargs: Any) -> ServerKeys:
    """Every provider pointed at the fake server, no backoff."""
    kwargs.setdefault(
        "endpoints",
        {
            "openai": server.base_url,
            "anthropic": server.root_url,
            "google": server.root_url,
            "bedrock": server.root_url,
        },
    )
    kwargs.setdefault("backoff", Backoff(0.0, 0.0))
    return ServerKeys(**kwargs)


def chat(config: dict[str, Any], **kwargs: Any) -> ChatRequest:
    kwargs.setdefault("messages", HISTORY)
    return ChatRequest(llm_config=config, **kwargs)
