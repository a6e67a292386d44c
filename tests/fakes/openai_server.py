"""The fake OpenAI-compatible server lives in the package; tests import it from here."""

from threadline.providers.fake_server import (
    FakeOpenAIServer,
    Recorded,
    Reply,
    completion,
    error_reply,
    running_openai_server,
    text_reply,
    tool_calls_reply,
)

__all__ = [
    "FakeOpenAIServer",
    "Recorded",
    "Reply",
    "completion",
    "error_reply",
    "running_openai_server",
    "text_reply",
    "tool_calls_reply",
]
