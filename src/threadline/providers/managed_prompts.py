"""Managed-prompt expansion at inference time: the last step before a model call.

A prompt may embed ``<<<managed_prompt:NAME>>>``; the run's snapshot carries the
text of every name it references (``service.reuse.managed_prompts``).
``ExpandingLLM`` wraps the LLM a turn's executors use and replaces each marker in
every string of a request that reaches a model: the messages (system prompt,
history, tool results), the tool descriptions and every string inside the LLM
config (a group's backchannel prompts, ...). A marker whose name the run does not
know becomes the empty string and is reported once per name (``drain``): the
literal is never sent to a model. Managed texts are inserted as they are: markers
inside them are removed too (no nesting), and ``{{...}}`` inside them is not
rendered (variables are substituted before expansion).
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from threadline.providers.base import LLM, ChatMessage, ChatRequest, ChatResponse
from threadline.providers.prefix_memo import PrefixMemo

JsonDict = dict[str, Any]

MARKER = "<<<managed_prompt:"
PATTERN = re.compile(r"<<<managed_prompt:([^<>]*)>>>")
"""One reference; the name is the stripped group (anything up to ``>>>``)."""
_OPEN_MARKER = re.compile(r"<<<managed_prompt:")


def names_in(text: str) -> list[str]:
    """The managed-prompt names ``text`` references, in order, with repeats."""
    return [m.group(1).strip() for m in PATTERN.finditer(text)]


def expand(text: str, texts: Mapping[str, str], missing: set[str]) -> str:
    """``text`` with every reference replaced; unknown names (added to
    ``missing``) become empty, and so does any marker left in a managed text."""
    if MARKER not in text:
        return text

    def one(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name in texts:
            return texts[name]
        missing.add(name)
        return ""

    out = PATTERN.sub(one, text)
    if MARKER in out:
        # A marker from inside a managed text, or one never closed.
        out = PATTERN.sub("", out)
        out = _OPEN_MARKER.sub("", out)
    return out


def expand_tree(value: Any, texts: Mapping[str, str], missing: set[str]) -> Any:
    """Every string inside ``value`` (dicts, lists) expanded."""
    if isinstance(value, str):
        return expand(value, texts, missing)
    if isinstance(value, dict):
        return {k: expand_tree(v, texts, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_tree(v, texts, missing) for v in value]
    return value


def _expanded(
    message: ChatMessage, texts: Mapping[str, str], missing: set[str]
) -> ChatMessage:
    content = expand(message.content, texts, missing)
    return message if content is message.content else replace(message, content=content)


@dataclass(slots=True)
class _Expanded:
    """Messages expanded with ``texts`` so far, and the unknown names they met."""

    texts: Mapping[str, str]
    messages: list[ChatMessage] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)

    def extend(self, added: tuple[ChatMessage, ...]) -> None:
        self.messages.extend(_expanded(m, self.texts, self.missing) for m in added)


_MIDDLES: PrefixMemo[_Expanded] = PrefixMemo()
"""The requests' middle messages expanded last, per conversation."""


class ExpandingLLM:
    """An ``LLM`` that expands managed-prompt references before every call.

    ``texts``: name -> text, as the run's snapshot resolved them. Unknown names
    are collected; ``drain`` returns a ``workflow_warning`` event for each name
    not reported yet (the caller attaches them to the node that made the call).
    """

    def __init__(self, inner: LLM, texts: Mapping[str, str]) -> None:
        self.inner = inner
        self.texts = dict(texts)
        self._missing: set[str] = set()
        self._reported: set[str] = set()

    def _message(self, message: ChatMessage) -> ChatMessage:
        return _expanded(message, self.texts, self._missing)

    def _messages(self, messages: Sequence[ChatMessage]) -> tuple[ChatMessage, ...]:
        """``messages`` expanded. The middle ones (a conversation's history) are
        expanded once per process and reused by the next, longer requests of the
        same conversation (``_MIDDLES``): the first (the system prompt) and the
        last (a new message) are expanded on every call."""
        if len(messages) <= 2:
            return tuple(map(self._message, messages))
        middle = _MIDDLES.extended(
            messages[1:-1], lambda: _Expanded(self.texts), tag=self.texts
        )
        self._missing |= middle.missing
        first, last = self._message(messages[0]), self._message(messages[-1])
        return (first, *middle.messages, last)

    def rewrite(self, request: ChatRequest) -> ChatRequest:
        """``request`` with every reference expanded."""
        tools = tuple(
            replace(t, description=expand(t.description, self.texts, self._missing))
            for t in request.tools
        )
        return replace(
            request,
            messages=self._messages(request.messages),
            tools=tools,
            llm_config=expand_tree(request.llm_config, self.texts, self._missing),
        )

    async def chat(self, request: ChatRequest) -> ChatResponse:
        return await self.inner.chat(self.rewrite(request))

    def drain(self) -> list[JsonDict]:
        """One ``workflow_warning`` per unknown name met since the last drain."""
        fresh = sorted(self._missing - self._reported)
        self._reported |= self._missing
        self._missing.clear()
        return [
            {
                "type": "workflow_warning",
                "warning_message": (
                    f"managed prompt {name!r} does not exist in this team (it did "
                    "not when the run started); the reference was sent to the "
                    "model as empty text"
                ),
            }
            for name in fresh
        ]
