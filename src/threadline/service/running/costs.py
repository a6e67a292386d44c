"""Cost of LLM usage, from the maintained price table of ``genai-prices``
(``providers.prices``).

Costs are shown beside the tokens: each ``breakdown_by_models`` entry gets
``cost_usd`` (None when the model is not in the table, e.g. a local or fake model)
and the total gets ``cost_usd`` (the sum of the known entries) and
``cost_complete`` (False when some entry has no price).
"""

from typing import Any

from threadline.providers.prices import price

__all__ = ["price", "price_events", "with_costs"]

JsonDict = dict[str, Any]


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
