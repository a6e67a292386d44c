"""Exact LLM accounting: token usage and latency per model and provider.

A call record is ``{response_model, provider, input_tokens, output_tokens,
total_tokens, latency_ms, user_key}``; totals are recomputed from the records, so a
call is counted once whatever happens around it.
"""

from collections.abc import Iterable
from typing import Any

JsonDict = dict[str, Any]


def _tokens(calls: list[JsonDict]) -> JsonDict:
    user = sum(1 for c in calls if c.get("user_key"))
    return {
        "total_input_tokens": sum(int(c.get("input_tokens") or 0) for c in calls),
        "total_output_tokens": sum(int(c.get("output_tokens") or 0) for c in calls),
        "total_tokens": sum(int(c.get("total_tokens") or 0) for c in calls),
        "call_count_with_user_keys": user,
        "call_count_with_fallback_keys": len(calls) - user,
        "call_count": len(calls),
    }


def _latency(calls: list[JsonDict]) -> JsonDict:
    total = sum(round(float(c.get("latency_ms") or 0)) for c in calls)
    return {
        "call_count": len(calls),
        "total_latency_milliseconds": total,
        "average_latency_milliseconds": total / len(calls) if calls else 0.0,
    }


def _by_model(calls: Iterable[JsonDict]) -> dict[tuple[str, str], list[JsonDict]]:
    groups: dict[tuple[str, str], list[JsonDict]] = {}
    for call in calls:
        key = (str(call.get("response_model") or ""), str(call.get("provider") or ""))
        groups.setdefault(key, []).append(call)
    return groups


def token_usage(calls: list[JsonDict]) -> JsonDict:
    """``LLMTokenUsage`` of a list of call records."""
    breakdown = [
        {"response_model": model, "provider": provider, **_tokens(group)}
        for (model, provider), group in sorted(_by_model(calls).items())
    ]
    return {**_tokens(calls), "breakdown_by_models": breakdown}


def latency_stats(calls: list[JsonDict]) -> JsonDict:
    """``LLMLatencyStats`` of a list of call records."""
    breakdown = [
        {"response_model": model, "provider": provider, **_latency(group)}
        for (model, provider), group in sorted(_by_model(calls).items())
    ]
    return {**_latency(calls), "breakdown_by_models": breakdown}
