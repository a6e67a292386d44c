"""SSE streams of the fake provider server: a scripted reply, streamed.

A reply scripted as an OpenAI ``chat.completion`` (``fake_wires``) is cut into the
events each provider streams (OpenAI chunks, Anthropic's message events, Gemini's
``streamGenerateContent`` chunks), its text in word-sized deltas. See
``fake_server``.
"""

import json
from typing import Any

from threadline.providers.fake_wires import JsonDict, Recorded, Wire, completion_parts


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
    message, usage, model = completion_parts(body)
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
