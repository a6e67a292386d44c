"""Cost of LLM usage, from the maintained price table of ``genai-prices``.

Costs are shown beside the tokens: each ``breakdown_by_models`` entry gets
``cost_usd`` (None when the model is not in the table, e.g. a local or fake model)
and the total gets ``cost_usd`` (the sum of the known entries) and
``cost_complete`` (False when some entry has no price).
"""

from functools import lru_cache
from typing import Any

import genai_prices

JsonDict = dict[str, Any]


@lru_cache(maxsize=256)
def _unit_price(
    model: str, provider: str, tokens_in: int, tokens_out: int
) -> float | None:
    usage = genai_prices.Usage(input_tokens=tokens_in, output_tokens=tokens_out)
    try:
        result = genai_prices.calc_price(usage, model, provider_id=provider or None)
    except LookupError:
        try:  # the provider name may not match the table's ids ("fake", "custom")
            result = genai_prices.calc_price(usage, model)
        except LookupError:
            return None
    return float(result.total_price)


def price(model: str, provider: str, tokens_in: int, tokens_out: int) -> float | None:
    """USD cost of one model's token counts, or None when the model is unknown."""
    if not model:
        return None
    return _unit_price(model, provider, tokens_in, tokens_out)


def with_costs(usage: JsonDict | None) -> JsonDict | None:
    """A copy of an ``LLMTokenUsage`` with ``cost_usd`` fields added."""
    if not usage:
        return usage
    breakdown = []
    total, complete = 0.0, True
    for entry in usage.get("breakdown_by_models") or []:
        cost = price(
            str(entry.get("response_model") or ""),
            str(entry.get("provider") or ""),
            int(entry.get("total_input_tokens") or 0),
            int(entry.get("total_output_tokens") or 0),
        )
        breakdown.append({**entry, "cost_usd": cost})
        complete = complete and cost is not None
        total += cost or 0.0
    return {
        **usage,
        "breakdown_by_models": breakdown,
        "cost_usd": total,
        "cost_complete": complete,
    }


def price_events(events: list[JsonDict]) -> None:
    """Add costs to the usage carried by ``end_workflow``/``workflow_error`` events."""
    for event in events:
        if event.get("llm_token_usage"):
            event["llm_token_usage"] = with_costs(event["llm_token_usage"])
