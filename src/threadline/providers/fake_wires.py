"""Wire formats of the fake provider server: scripted replies and their rendering.

Replies are scripted once, as OpenAI ``chat.completion`` objects, and rendered in
the format of the route a request came in on (OpenAI, Anthropic, Gemini, Bedrock),
with each provider's error shape (its SSE streams: ``fake_streams``). See
``fake_server``.
"""

import json
from dataclasses import dataclass, field
from typing import Any, Literal

JsonDict = dict[str, Any]
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


def completion_parts(body: JsonDict) -> tuple[JsonDict, JsonDict, str]:
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
    message, usage, model = completion_parts(completion_body)
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
    message, usage, model = completion_parts(completion_body)
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
    message, usage, _ = completion_parts(completion_body)
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
