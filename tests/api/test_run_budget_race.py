"""Run budgets against LLM groups on the fake provider server: every member a race
may fire is counted before the race starts, and the run's totals are exactly what
the provider served (its reported usage, not an estimate)."""

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.api.conftest import SECRET_KEY, Team
from tests.api.provider_team import team_on_fake_provider
from tests.api.test_run_budgets import of_type, record, run, workflow
from tests.factories import moving_say_node, static_node
from threadline.providers.fake_server import (
    FakeOpenAIServer,
    Reply,
    running_openai_server,
    text_reply,
)
from threadline.settings import Settings
from threadline.store import Store

# model -> (prompt_tokens, completion_tokens)
SERVED = {
    "gpt-fast": (9, 4),
    "gpt-other": (7, 3),
    "gpt-solo": (5, 2),
    "gpt-4o-mini": (1000, 1000),
}


class Ledger:
    """Every answer the fake provider served, in order."""

    def __init__(self) -> None:
        self.served: list[tuple[str, int, int]] = []

    def reply(self, body: Any) -> Reply:
        model = str((body or {}).get("model") or "")
        prompt, completion = SERVED[model]
        self.served.append((model, prompt, completion))
        return text_reply(
            f"{model} says hi",
            model=model,
            prompt_tokens=prompt,
            completion_tokens=completion,
        )


@pytest.fixture
async def server() -> AsyncIterator[tuple[FakeOpenAIServer, Ledger]]:
    ledger = Ledger()
    async with running_openai_server(ledger.reply) as fake:
        yield fake, ledger


@pytest.fixture
async def client(
    store: Store, database_url: str, server: tuple[FakeOpenAIServer, Ledger]
) -> AsyncIterator[Team]:
    settings = Settings(database_url=database_url, secret_key=SECRET_KEY)
    async with team_on_fake_provider(store, settings, server[0]) as team:
        yield team


def model(name: str) -> dict[str, Any]:
    return {"type": "openai_llm", "provider": "openai", "model": name, "max_retries": 0}


# Patience long enough that the group waits for both members: both are paid for.
RACE = {
    "type": "llm_group",
    "operation_mode": "parallel_select_one",
    "min_patience_time_ms": 60_000,
    "llms": [model("gpt-fast"), model("gpt-other")],
}


async def test_a_race_that_could_pass_max_llm_calls_is_never_started(
    client: Team, server: tuple[FakeOpenAIServer, Ledger]
):
    _, ledger = server
    body = workflow(
        [
            static_node("node_hi", "Hi"),
            moving_say_node("node_solo", model("gpt-solo")),
            moving_say_node("node_race", RACE),
        ],
        run_budget={"max_llm_calls": 2},
    )
    wid = (await client.client.post("/v1/workflows", json=body)).json()["workflow"][
        "_id"
    ]
    turn = await run(client, wid, {"run_input": {"command": "start"}})

    # One call made; the race could fire two more (3 > 2), so no member was called.
    assert ledger.served == [("gpt-solo", 5, 2)]
    assert turn["status"] == "failed"
    [exceeded] = of_type(turn, "budget_exceeded")
    assert (exceeded["budget"], exceeded["limit"]) == ("max_llm_calls", 2)
    assert (exceeded["used"], exceeded["would_use"]) == (1, 3)
    assert exceeded["origin_node_logical_id"] == "node_race"
    found = await record(client, turn["run_id"])
    assert found["llm_token_usage"]["total_tokens"] == 7
    assert found["run_budget_usage"]["budgets"]["max_llm_calls"] == {
        "limit": 2,
        "used": 1,
        "remaining": 1,
    }


async def test_every_raced_call_counts_against_tokens_and_calls(
    client: Team, server: tuple[FakeOpenAIServer, Ledger]
):
    _, ledger = server
    body = workflow(
        [
            static_node("node_hi", "Hi"),
            moving_say_node("node_race", RACE),
            moving_say_node("node_next", RACE),
        ],
        run_budget={"max_tokens": 20, "max_llm_calls": 10},
    )
    wid = (await client.client.post("/v1/workflows", json=body)).json()["workflow"][
        "_id"
    ]
    turn = await run(client, wid, {"run_input": {"command": "start"}})

    # Both racers answered (the loser was paid for too): 9+4 + 7+3 = 23 tokens.
    assert sorted(m for m, _, _ in ledger.served) == ["gpt-fast", "gpt-other"]
    served_tokens = sum(p + c for _, p, c in ledger.served)
    assert served_tokens == 23
    [exceeded] = of_type(turn, "budget_exceeded")
    assert exceeded["budget"] == "max_tokens"
    assert (exceeded["limit"], exceeded["used"]) == (20, served_tokens)
    assert exceeded["origin_node_logical_id"] == "node_next"
    found = await record(client, turn["run_id"])
    usage = found["llm_token_usage"]
    assert usage["total_tokens"] == served_tokens and usage["call_count"] == 2
    budgets = found["run_budget_usage"]["budgets"]
    assert budgets["max_tokens"] == {"limit": 20, "used": 23, "remaining": 0}
    assert budgets["max_llm_calls"] == {"limit": 10, "used": 2, "remaining": 8}


async def test_max_cost_usd_counts_the_price_table_cost(
    client: Team, server: tuple[FakeOpenAIServer, Ledger]
):
    _, ledger = server
    priced = model("gpt-4o-mini")
    body = workflow(
        [moving_say_node("node_a", priced), moving_say_node("node_b", priced)],
        run_budget={"max_cost_usd": 0.0001},
    )
    wid = (await client.client.post("/v1/workflows", json=body)).json()["workflow"][
        "_id"
    ]
    turn = await run(client, wid, {"run_input": {"command": "start"}})

    assert len(ledger.served) == 1
    [exceeded] = of_type(turn, "budget_exceeded")
    assert exceeded["budget"] == "max_cost_usd" and exceeded["limit"] == 0.0001
    found = await record(client, turn["run_id"])
    cost = found["llm_token_usage"]["cost_usd"]
    assert cost > 0.0001 and exceeded["used"] == pytest.approx(cost)
    assert found["run_budget_usage"]["budgets"]["max_cost_usd"]["remaining"] == 0
