"""The one interface every LLM call goes through, and its request/response types."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from threadline.errors import ThreadlineError

JsonDict = dict[str, Any]
Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the model asked for."""

    id: str
    name: str
    arguments: JsonDict


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function offered to the model."""

    name: str
    description: str
    parameters: JsonDict


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a chat request."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One model call: the LLM config (wire JSON), messages, tools, output schema."""

    llm_config: JsonDict
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: Literal["auto", "required", "none"] | None = None
    response_schema: JsonDict | None = None
    """JSON schema the answer must follow (structured output)."""
    purpose: str = "node"
    """What the call is for (``node``, ``condition``, ``structured_output``, ...)."""
    on_text: Callable[[str], Awaitable[None]] | None = None
    """Called with each text delta when the config streams (``streaming: true``)."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the provider reported them."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ChatResponse:
    """The model's answer with everything accounting needs."""

    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    """The response model as the provider reported it."""
    provider: str = ""
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    user_key: bool = False
    """The call used the team's own key (else the server's fallback key)."""
    winner: str | None = None
    """For an LLM group: which member's answer this is."""
    extra: JsonDict = field(default_factory=dict)
    """Provider- or group-specific details (e.g. a backchannel filler)."""

    def call_record(self) -> JsonDict:
        """The accounting record of this call (see ``engine.usage``)."""
        return {
            "response_model": self.model,
            "provider": self.provider,
            "input_tokens": self.usage.input_tokens,
            "output_tokens": self.usage.output_tokens,
            "total_tokens": self.usage.total_tokens,
            "latency_ms": self.latency_ms,
            "ttft_ms": self.ttft_ms,
            "user_key": self.user_key,
        }


class LLMError(ThreadlineError):
    """An LLM call failed after its retries; ``code`` says why."""

    code = "llm_error"
    status = 502


class LLM(Protocol):
    """Anything that answers chat requests."""

    async def chat(self, request: ChatRequest) -> ChatResponse: ...
