"""A tiny fake provider server: the fake model for tests, demos and benchmarks.

Pure asyncio on loopback. ``threadline fake-llm`` runs it with ``auto_reply``, which
needs no script: it echoes the user, fills structured-output schemas with sample
values, and can wait a fixed latency. Point ``THREADLINE_LLM_OVERRIDE_URL`` at it.

It answers with the next scripted ``Reply`` (or with ``reply_fn(body)`` when the
queue is empty) and records every request (path, headers, JSON body, wire). Replies
are scripted once, as OpenAI ``chat.completion`` objects (``text_reply``,
``tool_calls_reply``, ``error_reply``), and rendered in the wire format of the route:

- ``POST .../chat/completions``: OpenAI chat completions; ``"stream": true`` gets
  SSE chunks, plus a usage chunk with ``stream_options.include_usage``;
- ``POST .../messages``: Anthropic Messages (``tool_use`` blocks, ``usage``), SSE
  events (``message_start`` ... ``message_stop``) with ``"stream": true``;
- ``POST .../models/<m>:generateContent`` and ``:streamGenerateContent`` (SSE):
  Gemini;
- ``POST .../model/<id>/converse``: Bedrock Converse (no ``converse-stream``: its
  binary event-stream framing is not faked).

A reply whose body is not a ``chat.completion`` is sent as is (a native body).
Errors are rendered in each provider's error shape. One request per connection
(``Connection: close``), which is all the SDK clients need.

    async with running_openai_server() as server:
        server.queue(text_reply("hi"), tool_calls_reply([("lookup", {"q": 1})]))
        llm = OpenAICompatibleLLM(server.base_url, "sk-test", "gpt-fake")
"""

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

JsonDict = dict[str, Any]
_REASONS = {200: "OK", 401: "Unauthorized", 429: "Too Many Requests", 500: "Error"}
Wire = Literal["openai", "anthropic", "gemini", "bedrock"]


@dataclass
class Reply:
    """One scripted HTTP answer."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    """Wait this long before answering (timeouts)."""
    chunk_delay_s: float = 0.0
    """When streamed: wait this long between SSE events."""


@dataclass
class Recorded:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    wire: str = "openai"
    """Which provider format the route speaks (``openai``, ``anthropic``, ...)."""


def completion(
    message: JsonDict,
    *,
    model: str = "gpt-fake-2026",
    prompt_tokens: int = 11,
    completion_tokens: int = 7,
    finish_reason: str = "stop",
) -> JsonDict:
    """A ``chat.completion`` object around ``message``."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_780_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def text_reply(content: str, **kwargs: Any) -> Reply:
    """A plain assistant answer."""
    return Reply(body=completion({"role": "assistant", "content": content}, **kwargs))


def tool_calls_reply(
    calls: list[tuple[str, JsonDict]], content: str | None = None, **kwargs: Any
) -> Reply:
    """An answer calling functions (``arguments`` as JSON strings, as OpenAI does)."""
    message = {
        "role": "assistant",
        "content": content,
        "tool_calls": [
            {
                "id": f"call_{i}_{name}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for i, (name, args) in enumerate(calls)
        ],
    }
    return Reply(body=completion(message, finish_reason="tool_calls", **kwargs))


def error_reply(status: int, message: str, **headers: str) -> Reply:
    """An OpenAI-style error answer."""
    return Reply(
        status=status,
        body={"error": {"message": message, "type": "error", "code": None}},
        headers=headers,
    )


class FakeOpenAIServer:
    """The server; ``start``/``stop`` or use ``running_openai_server()``."""

    def __init__(
        self,
        reply_fn: Callable[[Any], Reply] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        record: bool = True,
    ) -> None:
        self.replies: deque[Reply] = deque()
        self.reply_fn = reply_fn
        self.requests: list[Recorded] = []
        self.record = record
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self.host = host
        self.port = port

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (``.../v1``)."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def root_url(self) -> str:
        """The bare origin: Anthropic, Gemini and Bedrock clients add their paths."""
        return f"http://{self.host}:{self.port}"

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _next(self, body: Any) -> Reply:
        if self.replies:
            return self.replies.popleft()
        if self.reply_fn is not None:
            return self.reply_fn(body)
        return error_reply(500, "FakeOpenAIServer: no scripted reply left")

    async def _read(self, reader: asyncio.StreamReader) -> Recorded:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        size = int(headers.get("content-length", "0"))
        raw = await reader.readexactly(size) if size else b""
        body = json.loads(raw) if raw else None
        return Recorded(method, path, headers, body)

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            request = await self._read(reader)
            wire = route_wire(request.path) if request.method == "POST" else None
            request.wire = wire or "openai"
            if self.record:
                self.requests.append(request)
            if wire is None:
                reply = error_reply(404, f"no route {request.method} {request.path}")
            else:
                reply = self._next(request.body)
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            await self._respond(writer, request, reply)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if task is not None:
                self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _respond(
        self, writer: asyncio.StreamWriter, request: Recorded, reply: Reply
    ) -> None:
        wire: Wire = request.wire  # type: ignore[assignment]  # set from route_wire
        status, body, headers = render(wire, reply)
        reason = _REASONS.get(status, "Status")
        events = stream_events(wire, request, body) if status < 400 else None
        if events is None:
            payload = json.dumps(body).encode()
            head = [
                f"HTTP/1.1 {status} {reason}",
                "Content-Type: application/json",
                f"Content-Length: {len(payload)}",
                "Connection: close",
                *(f"{k}: {v}" for k, v in headers.items()),
            ]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
            await writer.drain()
            return
        head = [
            f"HTTP/1.1 {status} {reason}",
            "Content-Type: text/event-stream",
            "Cache-Control: no-cache",
            "Connection: close",
        ]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        for event in events:
            writer.write(event.encode())
            await writer.drain()
            if reply.chunk_delay_s:
                await asyncio.sleep(reply.chunk_delay_s)


@contextlib.asynccontextmanager
async def running_openai_server(
    reply_fn: Callable[[Any], Reply] | None = None,
) -> AsyncIterator[FakeOpenAIServer]:
    """A started server, stopped on exit."""
    server = FakeOpenAIServer(reply_fn)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def _sample(schema: Any) -> Any:
    """A value that satisfies a (simple) JSON schema."""
    if not isinstance(schema, dict):
        return "sample"
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        return {k: _sample(v) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [_sample(schema.get("items"))]
    return {"integer": 1, "number": 1.5, "boolean": True, "null": None}.get(
        str(kind), "sample"
    )


def _last_user_text(body: JsonDict) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def auto_reply(latency_ms: float = 0.0) -> Callable[[Any], Reply]:
    """Answer any request without a script (``threadline fake-llm``)."""

    def reply(body: Any) -> Reply:
        body = body if isinstance(body, dict) else {}
        fmt = body.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema")
        if schema is not None:
            content = json.dumps(_sample(schema))
        else:
            content = f"(fake model) You said: {_last_user_text(body)[:200]}"
        message = {"role": "assistant", "content": content}
        model = str(body.get("model") or "fake-model")
        return Reply(body=completion(message, model=model), delay_s=latency_ms / 1000)

    return reply


# --- wire formats ------------------------------------------------------------------

_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
}
_BEDROCK_ERRORS = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    429: "ThrottlingException",
    503: "ServiceUnavailableException",
}


def route_wire(path: str) -> Wire | None:
    """The provider format a request path speaks; None: no such route."""
    route = path.split("?", 1)[0]
    if route.endswith("/chat/completions"):
        return "openai"
    if route.endswith("/messages"):
        return "anthropic"
    if route.endswith((":generateContent", ":streamGenerateContent")):
        return "gemini"
    if route.endswith("/converse"):
        return "bedrock"
    return None


def _completion_parts(body: JsonDict) -> tuple[JsonDict, JsonDict, str]:
    choice = (body.get("choices") or [{}])[0]
    return choice.get("message") or {}, body.get("usage") or {}, str(body.get("model"))


def _calls(message: JsonDict) -> list[tuple[str, str, JsonDict]]:
    out = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        arguments = function.get("arguments") or "{}"
        args = json.loads(arguments) if isinstance(arguments, str) else arguments
        out.append((str(call.get("id")), str(function.get("name")), args))
    return out


def _error_message(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or "")
    return json.dumps(body)


def render(wire: Wire, reply: Reply) -> tuple[int, Any, dict[str, str]]:
    """``reply`` as ``wire``: (status, body, headers)."""
    body, status, headers = reply.body, reply.status, dict(reply.headers)
    if wire == "openai" or not isinstance(body, dict):
        return status, body, headers
    if status >= 400:
        if "error" not in body:
            return status, body, headers
        message = _error_message(body)
        if wire == "anthropic":
            kind = _ANTHROPIC_ERRORS.get(status, "api_error")
            return (
                status,
                {"type": "error", "error": {"type": kind, "message": message}},
                headers,
            )
        if wire == "gemini":
            state = _GEMINI_STATUS.get(status, "INTERNAL")
            return (
                status,
                {"error": {"code": status, "message": message, "status": state}},
                headers,
            )
        headers.setdefault(
            "x-amzn-ErrorType", _BEDROCK_ERRORS.get(status, "InternalServerException")
        )
        return status, {"message": message}, headers
    if "choices" not in body:
        return status, body, headers
    render_ok = {"anthropic": anthropic_message, "gemini": gemini_response}
    return status, render_ok.get(wire, bedrock_response)(body), headers


def anthropic_message(completion_body: JsonDict) -> JsonDict:
    """A ``chat.completion`` as an Anthropic Messages response."""
    message, usage, model = _completion_parts(completion_body)
    content: list[JsonDict] = []
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    for call_id, name, args in _calls(message):
        content.append({"type": "tool_use", "id": call_id, "name": name, "input": args})
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if message.get("tool_calls") else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": int(usage.get("prompt_tokens") or 0),
            "output_tokens": int(usage.get("completion_tokens") or 0),
        },
    }


def gemini_response(completion_body: JsonDict) -> JsonDict:
    """A ``chat.completion`` as a Gemini ``GenerateContentResponse``."""
    message, usage, model = _completion_parts(completion_body)
    parts: list[JsonDict] = []
    if message.get("content"):
        parts.append({"text": message["content"]})
    for _, name, args in _calls(message):
        parts.append({"functionCall": {"name": name, "args": args}})
    prompt = int(usage.get("prompt_tokens") or 0)
    output = int(usage.get("completion_tokens") or 0)
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": parts},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": prompt,
            "candidatesTokenCount": output,
            "totalTokenCount": prompt + output,
        },
        "modelVersion": model,
        "responseId": "fake-response",
    }


def bedrock_response(completion_body: JsonDict) -> JsonDict:
    """A ``chat.completion`` as a Bedrock Converse response."""
    message, usage, _ = _completion_parts(completion_body)
    content: list[JsonDict] = []
    if message.get("content"):
        content.append({"text": message["content"]})
    for call_id, name, args in _calls(message):
        content.append({"toolUse": {"toolUseId": call_id, "name": name, "input": args}})
    prompt = int(usage.get("prompt_tokens") or 0)
    output = int(usage.get("completion_tokens") or 0)
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": "tool_use" if message.get("tool_calls") else "end_turn",
        "usage": {
            "inputTokens": prompt,
            "outputTokens": output,
            "totalTokens": prompt + output,
        },
        "metrics": {"latencyMs": 1},
    }


def _pieces(text: str) -> list[str]:
    """``text`` cut into word-sized deltas (the spaces stay attached)."""
    words = text.split(" ")
    return [w + " " for w in words[:-1]] + [words[-1]] if text else []


def _sse(data: Any, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n"


def stream_events(wire: Wire, request: Recorded, body: Any) -> list[str] | None:
    """The SSE events answering a streamed request; None: not streamed."""
    payload = request.body if isinstance(request.body, dict) else {}
    if wire == "gemini":
        streamed = ":streamGenerateContent" in request.path
    else:
        streamed = wire != "bedrock" and bool(payload.get("stream"))
    if not streamed or not isinstance(body, dict):
        return None
    if wire == "openai" and "choices" in body:
        usage = bool((payload.get("stream_options") or {}).get("include_usage"))
        return _openai_events(body, include_usage=usage)
    if wire == "anthropic" and body.get("type") == "message":
        return _anthropic_events(body)
    if wire == "gemini" and "candidates" in body:
        return _gemini_events(body)
    return None


def _openai_events(body: JsonDict, *, include_usage: bool) -> list[str]:
    message, usage, model = _completion_parts(body)
    choice = (body.get("choices") or [{}])[0]

    def chunk(delta: JsonDict, finish: str | None = None) -> str:
        return _sse(
            {
                "id": body.get("id"),
                "object": "chat.completion.chunk",
                "created": body.get("created"),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": p}) for p in _pieces(message.get("content") or "")]
    for index, call in enumerate(message.get("tool_calls") or []):
        events.append(chunk({"tool_calls": [{"index": index, **call}]}))
    events.append(chunk({}, str(choice.get("finish_reason") or "stop")))
    if include_usage:
        events.append(
            _sse(
                {
                    "id": body.get("id"),
                    "object": "chat.completion.chunk",
                    "created": body.get("created"),
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
            )
        )
    return [*events, "data: [DONE]\n\n"]


def _anthropic_events(message: JsonDict) -> list[str]:
    usage = message.get("usage") or {}
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": usage.get("input_tokens", 0), "output_tokens": 1},
    }
    events = [_sse({"type": "message_start", "message": start}, "message_start")]
    for index, block in enumerate(message.get("content") or []):
        if block.get("type") == "text":
            opening: JsonDict = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in _pieces(block["text"])]
        else:
            opening = {**block, "input": {}}
            deltas = [
                {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            ]
        events.append(
            _sse(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": opening,
                },
                "content_block_start",
            )
        )
        events += [
            _sse(
                {"type": "content_block_delta", "index": index, "delta": delta},
                "content_block_delta",
            )
            for delta in deltas
        ]
        events.append(
            _sse({"type": "content_block_stop", "index": index}, "content_block_stop")
        )
    delta = {"stop_reason": message.get("stop_reason"), "stop_sequence": None}
    events.append(
        _sse(
            {
                "type": "message_delta",
                "delta": delta,
                "usage": {"output_tokens": usage.get("output_tokens", 0)},
            },
            "message_delta",
        )
    )
    return [*events, _sse({"type": "message_stop"}, "message_stop")]


def _gemini_events(response: JsonDict) -> list[str]:
    candidate = response["candidates"][0]
    parts = candidate["content"]["parts"]
    events = []
    for part in parts:
        pieces = _pieces(part["text"]) if "text" in part else [None]
        for piece in pieces:
            chunk_part = {"text": piece} if piece is not None else part
            chunk = {
                "candidates": [
                    {"content": {"role": "model", "parts": [chunk_part]}, "index": 0}
                ],
                "modelVersion": response.get("modelVersion"),
                "responseId": response.get("responseId"),
            }
            events.append(_sse(chunk))
    last = {
        **response,
        "candidates": [
            {**candidate, "content": {"role": "model", "parts": [{"text": ""}]}}
        ],
    }
    return [*events, _sse(last)]
