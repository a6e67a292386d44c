"""Exact LLM accounting: token usage and latency per model and provider.

A call record is ``{response_model, provider, input_tokens, output_tokens,
total_tokens, latency_ms, user_key}``. The run keeps one running total per
(model, provider) pair, so its size does not grow with the number of calls, and
every recorded call is added exactly once.
"""

from collections.abc import Iterable
from typing import Any

JsonDict = dict[str, Any]
_COUNTERS = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "user_key_calls",
    "calls",
    "latency_ms",
)


def add_calls(totals: JsonDict, calls: Iterable[JsonDict]) -> None:
    """Add call records to ``totals`` (``{"model\\x1fprovider": counters}``)."""
    for call in calls:
        model = str(call.get("response_model") or "")
        provider = str(call.get("provider") or "")
        entry = totals.setdefault(
            f"{model}\x1f{provider}",
            {
                "response_model": model,
                "provider": provider,
                **dict.fromkeys(_COUNTERS, 0),
            },
        )
        for key in ("input_tokens", "output_tokens", "total_tokens"):
            entry[key] += int(call.get(key) or 0)
        entry["user_key_calls"] += 1 if call.get("user_key") else 0
        entry["calls"] += 1
        entry["latency_ms"] += round(float(call.get("latency_ms") or 0))


def _tokens(entries: list[JsonDict]) -> JsonDict:
    calls = sum(e["calls"] for e in entries)
    user = sum(e["user_key_calls"] for e in entries)
    return {
        "total_input_tokens": sum(e["input_tokens"] for e in entries),
        "total_output_tokens": sum(e["output_tokens"] for e in entries),
        "total_tokens": sum(e["total_tokens"] for e in entries),
        "call_count_with_user_keys": user,
        "call_count_with_fallback_keys": calls - user,
        "call_count": calls,
    }


def _latency(entries: list[JsonDict]) -> JsonDict:
    calls = sum(e["calls"] for e in entries)
    total = sum(e["latency_ms"] for e in entries)
    return {
        "call_count": calls,
        "total_latency_milliseconds": total,
        "average_latency_milliseconds": total / calls if calls else 0.0,
    }


def _sorted(totals: JsonDict) -> list[JsonDict]:
    return [totals[k] for k in sorted(totals)]


def token_usage(totals: JsonDict) -> JsonDict:
    """``LLMTokenUsage`` of the running totals."""
    entries = _sorted(totals)
    breakdown = [
        {
            "response_model": e["response_model"],
            "provider": e["provider"],
            **_tokens([e]),
        }
        for e in entries
    ]
    return {**_tokens(entries), "breakdown_by_models": breakdown}


def latency_stats(totals: JsonDict) -> JsonDict:
    """``LLMLatencyStats`` of the running totals."""
    entries = _sorted(totals)
    breakdown = [
        {
            "response_model": e["response_model"],
            "provider": e["provider"],
            **_latency([e]),
        }
        for e in entries
    ]
    return {**_latency(entries), "breakdown_by_models": breakdown}
