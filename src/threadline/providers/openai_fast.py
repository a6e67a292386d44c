"""The plain chat call to an OpenAI-compatible endpoint, straight to the wire.

Most model calls of a conversation are plain: text messages in, text out, no
tools, no output schema, no streaming. For those, ``FastLane.call`` builds the
Chat Completions JSON body itself, posts it with the SDK client's own HTTP client
(its connection pool, timeouts and the SSRF guard for tenant URLs) and reads the
answer with ``orjson``: no pydantic-ai message mapping, no SDK request transform
or response model, so the layer costs about what the bytes cost.

Everything else about the call stays what pydantic-ai and the SDK do, so the two
paths cannot drift apart unnoticed (``tests/providers/test_openai_fast.py`` sends
the same requests both ways and compares the bytes and the answers):

- the body: ``model``, ``stream: false``, the messages (``role``/``content``),
  ``max_completion_tokens`` or ``max_tokens`` as the model's profile says,
  ``seed``, ``temperature``, then ``model_kwargs`` (extra body) over them;
- on profiles that may tokenize special tokens (open-weight models behind
  custom endpoints), pydantic-ai's own ``break_special_tokens`` on the way out and
  ``restore_special_tokens`` on the way back;
- headers: the SDK client's (auth, organization, custom headers);
- errors: an HTTP error status becomes the SDK's status error and a transport
  failure its connection or timeout error, mapped by pydantic-ai's
  ``map_api_errors``: ``PydanticAILLM`` classifies and retries them as before.

``FastLane.takes(request)`` says whether a request is plain; reasoning models
(whose sampling parameters pydantic-ai drops) and profiles with another system
role always take the full path.
"""

import json
from typing import Any

import httpx2
import orjson
from openai import APIConnectionError, APITimeoutError, AsyncOpenAI
from pydantic_ai._special_tokens import break_special_tokens, restore_special_tokens
from pydantic_ai.models import Model
from pydantic_ai.models.openai._errors import map_api_errors

from threadline.providers.base import ChatMessage, ChatRequest, LLMError, ToolCall
from threadline.providers.base import Usage as ChatUsage
from threadline.providers.wire_conn import WireTimeout
from threadline.providers.wire_pool import WirePool
from threadline.providers.wire_send import as_response, request_head, timeouts, wire_for

JsonDict = dict[str, Any]
_PLAIN_ROLES = frozenset({"system", "user", "assistant"})


class FastLane:
    """Plain chat calls of one OpenAI-compatible client (see the module)."""

    def __init__(
        self, client: AsyncOpenAI, model: Model, url: str, *, own_client: bool = False
    ) -> None:
        profile = model.profile
        self.client = client
        self.model_name = model.model_name
        self.url = url
        self.namespace = str(
            getattr(getattr(model, "_provider", None), "model_id_namespace", "openai")
        )
        self.max_tokens_field = (
            "max_completion_tokens"
            if profile.get("openai_chat_supports_max_completion_tokens", True)
            else "max_tokens"
        )
        self.breaks_tokens = bool(
            profile.get("may_tokenize_special_tokens_in_content", False)
        )
        self.usable = not profile.get("openai_supports_reasoning", False) and (
            profile.get("openai_system_prompt_role") in (None, "system")
        )
        self._headers: dict[str, str] | None = None
        self.wire: WirePool | None = (
            wire_for(client._client, url) if own_client else None
        )
        """The keep-alive client of plain calls (``wire_pool``), when it can make
        them as the SDK's client would (``wire_send.wire_for``); the builder says
        whether ``client`` has the SDK's own HTTP client (``own_client``)."""
        self._head = b""

    def takes(self, request: ChatRequest, streaming: bool) -> bool:
        """Whether ``request`` is a plain call this lane makes like the full path."""
        if not self.usable or streaming or request.tools:
            return False
        if request.response_schema is not None or request.tool_choice is not None:
            return False
        return all(_plain(m) for m in request.messages)

    def body(self, request: ChatRequest, settings: JsonDict) -> bytes:
        """The request's JSON, as pydantic-ai and the SDK would send it."""
        text = break_special_tokens if self.breaks_tokens else None
        messages = [
            {"role": m.role, "content": text(m.content) if text else m.content}
            for m in request.messages
        ]
        body: JsonDict = {
            "model": self.model_name,
            "stream": False,
            "messages": messages,
        }
        if "max_tokens" in settings:
            body[self.max_tokens_field] = settings["max_tokens"]
        for name in ("seed", "temperature"):
            if name in settings:
                body[name] = settings[name]
        body.update(settings.get("extra_body") or {})
        return orjson.dumps(body)

    def headers(self) -> dict[str, str]:
        if self._headers is None:
            merged = {**self.client.default_headers, **self.client.auth_headers}
            self._headers = {
                k: str(v) for k, v in merged.items() if isinstance(v, str | int)
            }
            self._headers["Content-Type"] = "application/json"
            self._headers["Accept"] = "application/json"
        return self._headers

    async def call(
        self, request: ChatRequest, settings: JsonDict
    ) -> tuple[str, tuple[ToolCall, ...], ChatUsage, str]:
        """One attempt: (text, tool calls, usage, response model)."""
        http: httpx2.AsyncClient = self.client._client
        timeout = settings.get("timeout", self.client.timeout)
        content = self.body(request, settings)
        if self.wire is not None and not http.cookies:
            return await self._call_wire(http, content, timeout)
        return self._parse(await self._send(http, content, timeout))

    async def _send(
        self, http: httpx2.AsyncClient, content: bytes, timeout: Any
    ) -> bytes:
        """Post ``content`` with the SDK's client; the response body."""
        sent = http.build_request(
            "POST", self.url, content=content, headers=self.headers(), timeout=timeout
        )
        with map_api_errors(self.model_name, self.namespace):
            try:
                answer = await http.send(sent)
                raw = await answer.aread()
            except httpx2.TimeoutException as exc:
                raise APITimeoutError(request=sent) from exc
            except Exception as exc:  # as the SDK does: any transport failure
                raise APIConnectionError(request=sent) from exc
            if answer.status_code >= 400:
                raise self.client._make_status_error_from_response(answer)
        return raw

    async def _call_wire(
        self, http: httpx2.AsyncClient, content: bytes, timeout: Any
    ) -> tuple[str, tuple[ToolCall, ...], ChatUsage, str]:
        """Post ``content`` on the lane's own keep-alive client (``wire_pool``),
        with the same errors as ``_send``."""
        assert self.wire is not None
        if not self._head:
            self._head = request_head(http, self.url, self.headers())
        data = b"%sContent-Length: %d\r\n\r\n%s" % (self._head, len(content), content)
        with map_api_errors(self.model_name, self.namespace):
            try:
                answer = await self.wire.request(data, timeouts(timeout))
            except WireTimeout as exc:
                raise APITimeoutError(request=self._request(http, content)) from exc
            except Exception as exc:  # as the SDK does: any transport failure
                raise APIConnectionError(request=self._request(http, content)) from exc
            if answer.header("set-cookie") is not None:
                # For the SDK client's jar: the calls after this one take its path.
                request = self._request(http, content)
                http.cookies.extract_cookies(as_response(answer, request))
            if answer.status >= 400:
                response = as_response(answer, self._request(http, content))
                raise self.client._make_status_error_from_response(response)
        if 300 <= answer.status < 400:
            # A redirect, which the SDK's client follows: it sends the call again.
            return self._parse(await self._send(http, content, timeout))
        return self._parse(answer.body)

    def _request(self, http: httpx2.AsyncClient, content: bytes) -> httpx2.Request:
        return http.build_request(
            "POST", self.url, content=content, headers=self.headers()
        )

    def _parse(self, raw: bytes) -> tuple[str, tuple[ToolCall, ...], ChatUsage, str]:
        try:
            data = orjson.loads(raw)
            message = data["choices"][0]["message"]
            usage = data.get("usage") or {}
            prompt = int(usage.get("prompt_tokens") or 0)
            completion = int(usage.get("completion_tokens") or 0)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise LLMError(
                f"{self.url} answered with an unexpected chat completion: {raw[:200]!r}"
            ) from exc
        text = str(message.get("content") or "")
        if self.breaks_tokens:
            text = restore_special_tokens(text)
        calls = tuple(_call(c) for c in message.get("tool_calls") or ())
        model = str(data.get("model") or self.model_name)
        return text, calls, ChatUsage(prompt, completion, prompt + completion), model


def _plain(message: ChatMessage) -> bool:
    if message.role not in _PLAIN_ROLES or message.tool_calls:
        return False
    return bool(message.content) or message.role != "assistant"


def _call(raw: JsonDict) -> ToolCall:
    function = raw.get("function") or {}
    name = str(function.get("name") or "")
    text = function.get("arguments") or "{}"
    try:
        arguments = json.loads(text)
    except ValueError:
        arguments = None
    if not isinstance(arguments, dict):
        raise LLMError(
            f"tool call {name!r} has arguments that are not a JSON "
            f"object: {str(text)[:200]!r}"
        )
    return ToolCall(id=str(raw.get("id") or ""), name=name, arguments=arguments)
