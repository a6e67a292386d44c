"""The pure budget arithmetic: what would pass a limit, and how many calls a
request with an LLM group may make."""

from threadline.engine import budgets
from threadline.engine.state import RunState
from threadline.engine.usage import add_calls
from threadline.providers.groups import most_calls


def spent(**values: float) -> dict[str, float]:
    base = dict.fromkeys(budgets.NAMES, 0.0)
    return {**base, **values}


def test_calls_count_what_the_request_may_make():
    limits = {"max_llm_calls": 3}
    assert budgets.would_pass(limits, spent(max_llm_calls=1), calls=2) is None
    report = budgets.would_pass(limits, spent(max_llm_calls=2), calls=2)
    assert report == {
        "budget": "max_llm_calls",
        "limit": 3,
        "used": 2,
        "would_use": 4,
    }
    # At a turn boundary (no call planned) a used-up budget stops the run.
    assert budgets.would_pass(limits, spent(max_llm_calls=3)) is not None
    assert budgets.would_pass(limits, spent(max_llm_calls=2)) is None


def test_tokens_cost_and_seconds_stop_once_reached_and_turns_count_the_next():
    assert budgets.would_pass({"max_tokens": 10}, spent(max_tokens=9), calls=1) is None
    assert budgets.would_pass({"max_tokens": 10}, spent(max_tokens=10), calls=1)
    assert budgets.would_pass({"max_seconds": 5}, spent(max_seconds=5.0), calls=1)
    assert budgets.would_pass({"max_cost_usd": 0.5}, spent(max_cost_usd=0.49)) is None
    assert budgets.would_pass({"max_turns": 2}, spent(max_turns=1), turns=1) is None
    report = budgets.would_pass({"max_turns": 2}, spent(max_turns=2), turns=1)
    assert report is not None and report["would_use"] == 3


def test_used_adds_calls_not_yet_in_the_totals_and_prices_them():
    state = RunState(run_id="r", turn=2, started_at=100.0)
    record = {
        "response_model": "m",
        "provider": "p",
        "input_tokens": 3,
        "output_tokens": 2,
        "total_tokens": 5,
    }
    add_calls(state.usage, [record])
    used = budgets.used(state, 130.0, lambda *_: 0.25, extra_calls=[record, record])
    assert used == {
        "max_tokens": 15,
        "max_cost_usd": 0.25,  # one (model, provider) entry priced once
        "max_llm_calls": 3,
        "max_seconds": 30.0,
        "max_turns": 2,
    }
    assert state.usage["m\x1fp"]["calls"] == 1  # the state is left alone


def test_a_group_counts_every_member_it_may_race():
    solo = {"type": "openai_llm", "model": "a"}
    group = {
        "type": "llm_group",
        "llms": [solo, solo, {"type": "llm_group", "llms": [solo, solo]}],
    }
    assert most_calls(solo) == 1
    assert most_calls(group) == 4
    with_filler = {
        "type": "llm_group_with_backchannel",
        "main_llm_config": group,
        "backchannel_llm_config": {"type": "llm_group", "llms": [solo]},
    }
    assert most_calls(with_filler) == 5
    static_filler = {**with_filler, "backchannel_static_responses": ["One moment"]}
    assert most_calls(static_filler) == 4
