"""A deterministic, scripted ``LLM`` for unit tests.

``ScriptedLLM`` answers each request with the next entry of its script:

- a ``str``: a plain text reply;
- a ``ToolCall`` or a list/tuple of them: a reply that only calls tools;
- a ``ChatResponse``: returned as given (usage, model and provider are filled in
  when left at their defaults);
- an ``Exception`` instance: raised (e.g. ``LLMError`` to simulate a failed call);
- a callable ``(ChatRequest) -> reply``: called, and its result treated as above.

Requests whose ``purpose`` has a queue in ``by_purpose`` take their reply from that
queue instead, so concurrent calls (condition judges next to the main call) stay
deterministic. Every request is recorded in ``requests``. Usage is fixed and easy to
predict: input tokens = words in the request messages, output tokens = words in the
reply text plus the words of the JSON-encoded tool-call arguments.
"""

import json
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, TypeAlias

from threadline.providers.base import ChatRequest, ChatResponse, ToolCall, Usage

FAKE_MODEL = "fake-model"
FAKE_PROVIDER = "fake"

Reply: TypeAlias = (
    str
    | ToolCall
    | list[ToolCall]
    | tuple[ToolCall, ...]
    | ChatResponse
    | Exception
    | Callable[[ChatRequest], Any]
)


class ScriptExhaustedError(AssertionError):
    """The fake was asked more often than its script allows (a test bug).

    An ``AssertionError`` on purpose: LLM nodes treat provider exceptions as
    failed calls, but let assertion errors through so tests fail loudly.
    """


def tool_call(
    name: str, arguments: dict[str, Any] | None = None, *, id: str = ""
) -> ToolCall:
    """A ``ToolCall`` with a generated id when none is given."""
    return ToolCall(id=id or f"call_{name}", name=name, arguments=arguments or {})


def _words(text: str) -> int:
    return len(text.split())


def _request_words(request: ChatRequest) -> int:
    total = 0
    for message in request.messages:
        total += _words(message.content)
        for call in message.tool_calls:
            total += _words(json.dumps(call.arguments))
    return total


class ScriptedLLM:
    """An ``LLM`` that replays a script and records what it was asked."""

    def __init__(
        self,
        script: Iterable[Reply] = (),
        *,
        by_purpose: dict[str, Iterable[Reply]] | None = None,
        latency_ms: float = 5.0,
        user_key: bool = False,
    ) -> None:
        self._script: deque[Reply] = deque(script)
        self._by_purpose: dict[str, deque[Reply]] = {
            purpose: deque(replies) for purpose, replies in (by_purpose or {}).items()
        }
        self.latency_ms = latency_ms
        self.user_key = user_key
        self.requests: list[ChatRequest] = []

    def extend(self, *replies: Reply, purpose: str | None = None) -> None:
        """Append replies to the main script (or to ``purpose``'s queue)."""
        if purpose is None:
            self._script.extend(replies)
        else:
            self._by_purpose.setdefault(purpose, deque()).extend(replies)

    @property
    def remaining(self) -> int:
        """Replies not used yet (all queues)."""
        return len(self._script) + sum(len(q) for q in self._by_purpose.values())

    def requests_for(self, purpose: str) -> list[ChatRequest]:
        """The recorded requests made for ``purpose``."""
        return [r for r in self.requests if r.purpose == purpose]

    async def chat(self, request: ChatRequest) -> ChatResponse:
        self.requests.append(request)
        queue = self._by_purpose.get(request.purpose, self._script)
        if not queue:
            raise ScriptExhaustedError(
                f"ScriptedLLM has no reply left for request #{len(self.requests)} "
                f"(purpose={request.purpose!r}, last message="
                f"{request.messages[-1].content[:80] if request.messages else ''!r})"
            )
        entry = queue.popleft()
        if callable(entry) and not isinstance(entry, ChatResponse | Exception):
            entry = entry(request)
        return self._response(entry, request)

    def _response(self, entry: Any, request: ChatRequest) -> ChatResponse:
        if isinstance(entry, Exception):
            raise entry
        if isinstance(entry, str):
            response = ChatResponse(content=entry)
        elif isinstance(entry, ToolCall):
            response = ChatResponse(content="", tool_calls=(entry,))
        elif isinstance(entry, list | tuple):
            response = ChatResponse(content="", tool_calls=tuple(entry))
        elif isinstance(entry, ChatResponse):
            response = entry
        else:
            raise TypeError(f"ScriptedLLM cannot reply with {type(entry).__name__}")
        return self._fill(response, request)

    def _fill(self, response: ChatResponse, request: ChatRequest) -> ChatResponse:
        usage = response.usage
        if usage == Usage():
            out = _words(response.content) + sum(
                _words(json.dumps(c.arguments)) for c in response.tool_calls
            )
            inp = _request_words(request)
            usage = Usage(input_tokens=inp, output_tokens=out, total_tokens=inp + out)
        return replace(
            response,
            usage=usage,
            model=response.model or FAKE_MODEL,
            provider=response.provider or FAKE_PROVIDER,
            latency_ms=response.latency_ms or self.latency_ms,
            user_key=response.user_key or self.user_key,
        )
