"""The USD price of a model's token counts, from the maintained price table of
``genai-prices`` (the ``cost_usd`` of run usage and the run budgets' ``max_cost_usd``).
"""

from functools import lru_cache

import genai_prices


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
