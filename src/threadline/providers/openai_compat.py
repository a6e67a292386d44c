"""An ``LLM`` over any OpenAI-compatible ``/chat/completions`` endpoint (httpx).

Wire mapping:

- messages: ``system``/``user`` as is; ``assistant`` with ``tool_calls``
  (``{"id", "type": "function", "function": {"name", "arguments": <JSON string>}}``);
  ``tool`` with ``tool_call_id``;
- tools as ``{"type": "function", "function": {name, description, parameters}}``
  and ``tool_choice`` (only sent when tools are);
- ``response_schema`` as ``response_format = {"type": "json_schema", "json_schema":
  {name, schema, strict: false}}`` (``strict`` stays off: OpenAI's strict mode
  rejects ordinary schemas with optional fields; the node validates the answer);
- ``temperature``, ``max_tokens``, ``seed`` from ``request.llm_config`` when set, and
  ``model_kwargs`` merged in (never over ``model``/``messages``/``tools``).

The response's ``usage`` (``prompt_tokens``, ``completion_tokens``, ``total_tokens``)
and ``model`` are mapped onto ``ChatResponse``; ``latency_ms`` is the wall time of
the whole call, retries included.

Retries: 408, 409, 429 and 5xx answers, timeouts and transport errors are retried up
to ``max_retries`` times with exponential backoff (``backoff_s * 2**n``, capped at
``max_backoff_s``; a numeric ``Retry-After`` is honoured within the cap). Anything
else fails at once. Every failure raises ``LLMError`` naming the provider and URL;
the API key is never part of a message (echoes of it in a body are redacted).
A new ``httpx.AsyncClient`` is opened per call, so an instance is safe to share
across event loops.
"""

import asyncio
import json
import re
import time
from typing import Any

import httpx

from threadline.providers.base import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    LLMError,
    ToolCall,
    Usage,
)

JsonDict = dict[str, Any]
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
_RESERVED = frozenset({"model", "messages", "tools", "tool_choice", "response_format"})
_SCHEMA_NAME = re.compile(r"[^a-zA-Z0-9_-]")
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")


def message_to_wire(message: ChatMessage) -> JsonDict:
    """One ``ChatMessage`` in OpenAI chat format."""
    out: JsonDict = {"role": message.role, "content": message.content}
    if message.role == "assistant" and message.tool_calls:
        out["content"] = message.content or None
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": json.dumps(call.arguments),
                },
            }
            for call in message.tool_calls
        ]
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id or ""
    if message.name:
        out["name"] = message.name
    return out


def _schema_name(schema: JsonDict) -> str:
    raw = str(schema.get("title") or "structured_output")
    return (_SCHEMA_NAME.sub("_", raw) or "structured_output")[:64]


def request_body(request: ChatRequest, model: str) -> JsonDict:
    """The JSON body of ``POST /chat/completions`` for ``request``."""
    config = request.llm_config or {}
    body: JsonDict = {
        key: value
        for key, value in (config.get("model_kwargs") or {}).items()
        if key not in _RESERVED
    }
    body["model"] = model
    body["messages"] = [message_to_wire(m) for m in request.messages]
    for key in ("temperature", "max_tokens", "seed"):
        if config.get(key) is not None:
            body[key] = config[key]
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
            for t in request.tools
        ]
        if request.tool_choice is not None:
            body["tool_choice"] = request.tool_choice
    if request.response_schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": _schema_name(request.response_schema),
                "schema": request.response_schema,
                "strict": False,
            },
        }
    return body


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(
            str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content
        )
    return str(content)


class OpenAICompatibleLLM:
    """Chat completions against ``{base_url}/chat/completions``."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str,
        *,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        provider: str = "openai_compatible",
        headers: dict[str, str] | None = None,
        user_key: bool = False,
        verify_ssl: bool = True,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.model = model
        self.timeout_s = timeout_s
        self.max_retries = max(0, max_retries)
        self.provider = provider
        self.user_key = user_key
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._api_key = api_key or ""
        self._transport = transport
        self._verify = verify_ssl
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        if self._api_key:
            self._headers["Authorization"] = f"Bearer {self._api_key}"

    def __repr__(self) -> str:
        return (
            f"OpenAICompatibleLLM(url={self.url!r}, model={self.model!r}, "
            f"provider={self.provider!r})"
        )

    def _redact(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return _BEARER.sub(r"\1***", text)

    def _error(
        self, what: str, *, code: str = "llm_error", status: int | None = None
    ) -> LLMError:
        message = self._redact(
            f"{self.provider} LLM call to {self.url} "
            f"(model {self.model!r}) failed: {what}"
        )
        return LLMError(
            message,
            code=code,
            details={"provider": self.provider, "url": self.url, "status": status},
        )

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        delay = self.backoff_s * (2**attempt)
        if response is not None:
            retry_after = str(response.headers.get("retry-after", ""))
            if retry_after.replace(".", "", 1).isdigit():
                delay = max(delay, float(retry_after))
        return float(min(delay, self.max_backoff_s))

    async def chat(self, request: ChatRequest) -> ChatResponse:
        body = request_body(request, self.model)
        started = time.perf_counter()
        async with httpx.AsyncClient(
            transport=self._transport, timeout=self.timeout_s, verify=self._verify
        ) as client:
            data = await self._post_with_retries(client, body)
        latency_ms = (time.perf_counter() - started) * 1000.0
        return self._parse(data, latency_ms)

    async def _post_with_retries(
        self, client: httpx.AsyncClient, body: JsonDict
    ) -> JsonDict:
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = await client.post(self.url, json=body, headers=self._headers)
            except httpx.TimeoutException as exc:
                failure = self._error(f"timed out after {self.timeout_s}s ({exc!r})")
                failure.code = "llm_timeout"
            except httpx.TransportError as exc:
                failure = self._error(f"transport error: {exc!r}")
            else:
                if response.status_code < 400:
                    return self._json(response)
                failure = self._http_error(response)
                if response.status_code not in RETRY_STATUSES:
                    raise failure
            if attempt >= self.max_retries:
                failure.message = f"{failure.message} (after {attempt + 1} attempts)"
                failure.args = (failure.message,)
                raise failure
            await asyncio.sleep(self._delay(attempt, response))
            attempt += 1

    def _http_error(self, response: httpx.Response) -> LLMError:
        detail = response.text[:500]
        try:
            payload = response.json()
            err = payload.get("error") if isinstance(payload, dict) else None
            if isinstance(err, dict) and err.get("message"):
                detail = str(err["message"])[:500]
            elif isinstance(err, str):
                detail = err[:500]
        except ValueError:
            pass
        code = "llm_auth_error" if response.status_code in (401, 403) else "llm_error"
        return self._error(
            f"HTTP {response.status_code}: {detail}",
            code=code,
            status=response.status_code,
        )

    def _json(self, response: httpx.Response) -> JsonDict:
        try:
            data = response.json()
        except ValueError as exc:
            raise self._error(f"response is not JSON: {response.text[:200]!r}") from exc
        if not isinstance(data, dict) or not data.get("choices"):
            raise self._error(f"response has no choices: {str(data)[:200]}")
        return data

    def _parse(self, data: JsonDict, latency_ms: float) -> ChatResponse:
        message = (data["choices"][0] or {}).get("message") or {}
        calls: list[ToolCall] = []
        for raw in message.get("tool_calls") or []:
            function = raw.get("function") or {}
            arguments = function.get("arguments") or "{}"
            if isinstance(arguments, str):
                try:
                    arguments = json.loads(arguments) if arguments.strip() else {}
                except ValueError as exc:
                    raise self._error(
                        f"tool call {function.get('name')!r} has arguments that are "
                        f"not JSON: {arguments[:200]!r}"
                    ) from exc
            if not isinstance(arguments, dict):
                arguments = {"value": arguments}
            calls.append(
                ToolCall(
                    id=str(raw.get("id") or f"call_{len(calls)}"),
                    name=str(function.get("name") or ""),
                    arguments=arguments,
                )
            )
        usage = data.get("usage") or {}
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        return ChatResponse(
            content=_content_text(message.get("content")),
            tool_calls=tuple(calls),
            usage=Usage(
                input_tokens=prompt,
                output_tokens=completion,
                total_tokens=int(usage.get("total_tokens") or prompt + completion),
            ),
            model=str(data.get("model") or self.model),
            provider=self.provider,
            latency_ms=latency_ms,
            user_key=self.user_key,
        )
