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
  binary event-stream framing is not faked);
- ``POST .../embeddings``: OpenAI embeddings, deterministic and unscripted
  (``fake_embedding``: hashed bag of words, so texts sharing words are near).

A reply whose body is not a ``chat.completion`` is sent as is (a native body).
Errors are rendered in each provider's error shape. One request per connection
(``Connection: close``) unless ``keep_alive=True`` (``threadline fake-llm`` and the
benchmarks): then a JSON answer keeps the connection open for the client's next
request, as a real provider does (``Connection: close`` from the client ends it;
a streamed answer, which carries no length, always closes it).

    async with running_openai_server() as server:
        server.queue(text_reply("hi"), tool_calls_reply([("lookup", {"q": 1})]))
        config = {"type": "custom_llm", "base_url": server.base_url, "model": "m"}
        # The fake is the operator's endpoint here (a tenant URL on loopback
        # would be refused by the SSRF guard).
        llm = build_client(config, ServerKeys(endpoints={"custom": server.base_url}))
"""

import asyncio
import contextlib
import hashlib
import json
import math
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from threadline.providers.fake_streams import stream_events
from threadline.providers.fake_wires import (
    Recorded,
    Reply,
    Wire,
    completion,
    error_reply,
    render,
    route_wire,
    text_reply,
    tool_calls_reply,
)

JsonDict = dict[str, Any]
_REASONS = {200: "OK", 401: "Unauthorized", 429: "Too Many Requests", 500: "Error"}

__all__ = [
    "FakeOpenAIServer",
    "Recorded",
    "Reply",
    "Wire",
    "auto_reply",
    "body_hash",
    "completion",
    "embeddings_reply",
    "error_reply",
    "fake_embedding",
    "log_request",
    "running_openai_server",
    "text_reply",
    "tool_calls_reply",
]


class FakeOpenAIServer:
    """The server; ``start``/``stop`` or use ``running_openai_server()``."""

    def __init__(
        self,
        reply_fn: Callable[[Any], Reply] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        record: bool = True,
        log_path: str | None = None,
        keep_alive: bool = False,
    ) -> None:
        self.replies: deque[Reply] = deque()
        self.reply_fn = reply_fn
        self.requests: list[Recorded] = []
        self.record = record
        self.log_path = log_path
        self.keep_alive = keep_alive
        """Append one JSON line per request here (``threadline fake-llm --log``)."""
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
            while await self._serve_one(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            # ``stop`` cancels open connections (idle keep-alive ones included);
            # the handler ends quietly instead of asyncio logging the cancel.
            pass
        finally:
            if task is not None:
                self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _serve_one(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; whether the connection stays open for another."""
        request = await self._read(reader)
        wire = route_wire(request.path) if request.method == "POST" else None
        request.wire = wire or "openai"
        if self.record:
            self.requests.append(request)
        if self.log_path is not None:
            log_request(self.log_path, request)
        if request.method == "POST" and _is_embeddings(request.path):
            await _send_json(writer, 200, embeddings_reply(request.body))
            return False
        if wire is None:
            reply = error_reply(404, f"no route {request.method} {request.path}")
        else:
            reply = self._next(request.body)
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        return await self._respond(writer, request, reply)

    async def _respond(
        self, writer: asyncio.StreamWriter, request: Recorded, reply: Reply
    ) -> bool:
        """Write the answer; whether the connection stays open (keep-alive)."""
        wire: Wire = request.wire  # type: ignore[assignment]  # set from route_wire
        status, body, headers = render(wire, reply)
        reason = _REASONS.get(status, "Status")
        events = stream_events(wire, request, body) if status < 400 else None
        if events is None:
            payload = json.dumps(body).encode()
            asked_close = request.headers.get("connection", "").lower() == "close"
            keep = self.keep_alive and not asked_close
            head = [
                f"HTTP/1.1 {status} {reason}",
                "Content-Type: application/json",
                f"Content-Length: {len(payload)}",
                "Connection: keep-alive" if keep else "Connection: close",
                *(f"{k}: {v}" for k, v in headers.items()),
            ]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
            await writer.drain()
            return keep
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
        return False


EMBEDDING_DIMENSIONS = 64


def _is_embeddings(path: str) -> bool:
    return path.split("?", 1)[0].endswith("/embeddings")


def fake_embedding(text: str) -> list[float]:
    """A deterministic unit vector: each lower-case word adds to the dimension its
    SHA-256 picks (a hashed bag of words)."""
    vector = [0.0] * EMBEDDING_DIMENSIONS
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        digest = hashlib.sha256(word.encode()).digest()
        vector[digest[0] % EMBEDDING_DIMENSIONS] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def embeddings_reply(body: Any) -> JsonDict:
    """The OpenAI ``/embeddings`` answer for ``body`` (``input``: text or list)."""
    body = body if isinstance(body, dict) else {}
    inputs = body.get("input")
    texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
    data = [
        {"object": "embedding", "index": i, "embedding": fake_embedding(str(t))}
        for i, t in enumerate(texts)
    ]
    tokens = sum(len(str(t).split()) for t in texts)
    return {
        "object": "list",
        "data": data,
        "model": str(body.get("model") or "fake-embeddings"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


async def _send_json(writer: asyncio.StreamWriter, status: int, body: Any) -> None:
    payload = json.dumps(body).encode()
    head = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        "Connection: close",
    ]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
    await writer.drain()


def body_hash(body: Any) -> str:
    """SHA-256 of a JSON body with sorted keys (equal bodies, equal hashes)."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def log_request(path: str, request: Recorded) -> None:
    """Append ``{"t", "method", "path", "sha256", "body"}`` as one JSON line.

    ``t`` is the wall-clock time the request was read (before any reply delay).
    """
    line = {
        "t": time.time(),
        "method": request.method,
        "path": request.path,
        "sha256": body_hash(request.body),
        "body": request.body,
    }
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


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
