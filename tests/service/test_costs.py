"""Costs beside tokens, from the genai-prices table."""

import pytest

from threadline.service.running.costs import price, with_costs


def usage(*entries: tuple[str, str, int, int]) -> dict[str, object]:
    return {
        "total_tokens": sum(i + o for _, _, i, o in entries),
        "breakdown_by_models": [
            {
                "response_model": m,
                "provider": p,
                "total_input_tokens": i,
                "total_output_tokens": o,
            }
            for m, p, i, o in entries
        ],
    }


def test_a_known_model_is_priced_from_the_table():
    cost = price("gpt-4o-mini", "openai", 1_000_000, 0)
    assert cost == pytest.approx(0.15)


def test_unknown_models_have_no_price_and_mark_the_total_incomplete():
    priced = with_costs(
        usage(
            ("gpt-4o-mini", "openai", 1_000_000, 1_000_000),
            ("fake-model", "fake", 10, 5),
        )
    )
    assert priced is not None
    known, unknown = priced["breakdown_by_models"]
    assert known["cost_usd"] == pytest.approx(0.15 + 0.60)
    assert unknown["cost_usd"] is None
    assert priced["cost_usd"] == pytest.approx(0.75)
    assert priced["cost_complete"] is False


def test_empty_usage_is_left_alone():
    assert with_costs(None) is None
    assert with_costs({}) == {}
