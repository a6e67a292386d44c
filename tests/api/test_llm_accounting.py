"""One run mixing providers, a group race, a backchannel, a retried 429 and a failed
call: the run's totals equal exactly what the fake provider server served."""

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.api.conftest import SECRET_KEY, Team
from tests.api.provider_team import team_on_fake_provider
from tests.factories import edge, moving_say_node, static_node
from threadline.providers.fake_server import (
    FakeOpenAIServer,
    Reply,
    error_reply,
    running_openai_server,
    text_reply,
)
from threadline.settings import Settings
from threadline.store import Store

# model -> (prompt_tokens, completion_tokens, delay_s)
SERVED = {
    "gpt-a": (11, 7, 0.0),
    "claude-b": (13, 5, 0.0),
    "gpt-fast": (9, 4, 0.0),
    "claude-slow": (50, 50, 1.0),
    "gpt-main": (21, 8, 0.4),
    "gpt-filler": (6, 3, 0.0),
}


@dataclass
class Ledger:
    """What the fake server answered with usage, per model."""

    served: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)

    def reply(self, body: Any) -> Reply:
        model = str((body or {}).get("model") or "")
        self.seen[model] = self.seen.get(model, 0) + 1
        if model == "gpt-a" and self.seen[model] == 1:
            return error_reply(429, "slow down")
        if model == "gpt-broken":
            return error_reply(500, "boom")
        prompt, completion, delay = SERVED[model]
        if delay < 1.0:  # the slow racer is cancelled before it answers
            self.served.setdefault(model, []).append((prompt, completion))
        reply = text_reply(
            f"{model} says hi",
            model=model,
            prompt_tokens=prompt,
            completion_tokens=completion,
        )
        reply.delay_s = delay
        return reply


def llm(
    model: str, type_: str = "openai_llm", provider: str = "openai", **extra: Any
) -> dict[str, Any]:
    return {
        "type": type_,
        "provider": provider,
        "model": model,
        "max_retries": 2,
        **extra,
    }


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


async def test_a_mixed_run_accounts_for_exactly_what_the_providers_served(
    client: Team, server: tuple[FakeOpenAIServer, Ledger]
):
    _, ledger = server
    race = {
        "type": "llm_group",
        "operation_mode": "parallel_select_one",
        "min_patience_time_ms": 0,
        "llms": [llm("gpt-fast"), llm("claude-slow", "anthropic_llm", "anthropic")],
    }
    backchannel = {
        "type": "llm_group_with_backchannel",
        "backchannel_min_patience_time_ms": 50,
        "main_llm_config": {"type": "llm_group", "llms": [llm("gpt-main")]},
        "backchannel_llm_config": {"type": "llm_group", "llms": [llm("gpt-filler")]},
    }
    nodes = [
        static_node("node_start", "Hello", is_start=True),
        moving_say_node("node_openai", llm("gpt-a", api_key="sk-team-own-key")),
        moving_say_node(
            "node_anthropic", llm("claude-b", "anthropic_llm", "anthropic")
        ),
        moving_say_node("node_race", race),
        moving_say_node("node_backchannel", backchannel),
        moving_say_node("node_broken", llm("gpt-broken", max_retries=0)),
    ]
    ids = [n["logical_id"] for n in nodes]
    edges = [edge(f"e{i}", a, b) for i, (a, b) in enumerate(itertools.pairwise(ids))]
    body = {
        "name": "Mixed",
        "workflow_config": {},
        "node_configs": nodes,
        "edge_configs": edges,
    }
    wid = (await client.client.post("/v1/workflows", json=body)).json()["workflow"][
        "_id"
    ]
    start = {
        "command": "start",
        "thread_to_node_inputs": {"0": {"node_run_inputs": []}},
    }
    turn = (
        await client.client.post(
            f"/v1/workflows/{wid}/execute", json={"run_input": start}
        )
    ).json()

    spoken = [e["content"] for e in turn["events"] if e["type"] == "assistant_response"]
    assert "gpt-a says hi" in spoken and "claude-b says hi" in spoken
    assert "gpt-fast says hi" in spoken and "gpt-main says hi" in spoken
    assert "gpt-filler says hi" in spoken  # the backchannel filler was spoken
    assert spoken[-1].startswith("I am sorry")  # the failed call's default message
    assert ledger.seen["gpt-a"] == 2  # one 429, then the answer
    run = (await client.client.get(f"/v1/workflow-runs/{turn['run_id']}")).json()[
        "workflow_run"
    ]["workflow_run"]
    usage = run["llm_token_usage"]
    by_model = {e["response_model"]: e for e in usage["breakdown_by_models"]}
    assert set(by_model) == set(ledger.served)
    for model, answers in ledger.served.items():
        assert by_model[model]["total_input_tokens"] == sum(p for p, _ in answers), (
            model
        )
        assert by_model[model]["total_output_tokens"] == sum(c for _, c in answers), (
            model
        )
        assert by_model[model]["call_count"] == len(answers), model
    served_calls = sum(len(a) for a in ledger.served.values())
    assert usage["call_count"] == served_calls
    assert usage["total_tokens"] == sum(
        p + c for a in ledger.served.values() for p, c in a
    )
    assert (
        usage["call_count_with_user_keys"] == 1
    )  # only node_openai carried its own key
    assert (
        usage["call_count_with_user_keys"] + usage["call_count_with_fallback_keys"]
        == usage["call_count"]
    )
    latency = run["llm_latency_stats"]
    assert latency["call_count"] == served_calls
    assert latency["total_latency_milliseconds"] == sum(
        e["total_latency_milliseconds"] for e in latency["breakdown_by_models"]
    )
    assert by_model["claude-b"]["provider"] == "anthropic"
