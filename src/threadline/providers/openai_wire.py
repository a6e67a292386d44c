"""OpenAI SDK clients that send a request's big parts without the per-call transform.

The ``openai`` SDK's ``chat.completions.create`` runs every argument through its
request transform (``openai._utils._transform``), which walks each message, tool
and schema with type introspection: about 5 ms for a 40-message request on a
2-core machine, and it grows with every turn of a conversation. Our messages are
already plain JSON (pydantic-ai builds them as ``TypedDict`` dicts), so the
transform has nothing to change in them.

``FastAsyncOpenAI`` and ``FastAsyncAzureOpenAI`` are the SDK's clients with one
difference: ``chat.completions.create`` moves ``messages``, ``tools`` and
``response_format`` into ``extra_body``, which the SDK merges into the JSON body
as is (it takes precedence over the transformed fields), and passes the SDK an
empty message list. The bytes on the wire are the same JSON; everything else
(headers, auth, timeouts, streaming, errors, response parsing) is the SDK's own.
The same workaround is described for Anthropic's generated SDK in
anthropics/anthropic-sdk-python#1195.
"""

from functools import cached_property
from typing import Any

from openai import AsyncAzureOpenAI, AsyncOpenAI
from openai.resources.chat import AsyncChat
from openai.resources.chat.completions import AsyncCompletions

_PREBUILT = ("messages", "tools", "response_format")
"""The arguments sent through ``extra_body``: the large, already-JSON parts."""


class _PrebuiltCompletions(AsyncCompletions):
    async def create(self, **kwargs: Any) -> Any:
        body = dict(kwargs.pop("extra_body", None) or {})
        for name in _PREBUILT:
            value = kwargs.get(name)
            if isinstance(value, list | dict):
                # An explicit extra_body entry (model_kwargs) still wins.
                body.setdefault(name, value)
                del kwargs[name]
        kwargs.setdefault("messages", [])
        return await super().create(extra_body=body or None, **kwargs)


class _Chat(AsyncChat):
    @cached_property
    def completions(self) -> AsyncCompletions:
        return _PrebuiltCompletions(self._client)


class FastAsyncOpenAI(AsyncOpenAI):
    """``AsyncOpenAI`` whose chat completions skip the transform (see module)."""

    @cached_property
    def chat(self) -> AsyncChat:
        return _Chat(self)


class FastAsyncAzureOpenAI(AsyncAzureOpenAI):
    """``AsyncAzureOpenAI`` whose chat completions skip the transform."""

    @cached_property
    def chat(self) -> AsyncChat:
        return _Chat(self)
