"""``GET /metrics``: a scripted conversation's counters, parsed as Prometheus does."""

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import SECRET_KEY, Team
from tests.api.provider_team import team_on_fake_provider
from tests.factories import edge, static_node
from threadline.providers.fake_server import (
    FakeOpenAIServer,
    Reply,
    error_reply,
    running_openai_server,
    text_reply,
)
from threadline.settings import Settings
from threadline.store import Store
from threadline.telemetry import metrics

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
START = {"command": "start", "thread_to_node_inputs": {"0": {"node_run_inputs": []}}}


@dataclass
class Ledger:
    """What the fake model served: one 429 first, then answers with usage."""

    model: str
    served: list[tuple[int, int]] = field(default_factory=list)
    asked: int = 0

    def reply(self, body: Any) -> Reply:
        self.asked += 1
        if self.asked == 1:
            return error_reply(429, "slow down")
        prompt, completion = 10 + self.asked, 3 + self.asked
        self.served.append((prompt, completion))
        return text_reply(
            f"answer {self.asked}",
            model=self.model,
            prompt_tokens=prompt,
            completion_tokens=completion,
        )


@pytest.fixture
async def server() -> AsyncIterator[tuple[FakeOpenAIServer, Ledger]]:
    ledger = Ledger(model=f"gpt-metrics-{secrets.token_hex(4)}")
    async with running_openai_server(ledger.reply) as fake:
        yield fake, ledger


@pytest.fixture
async def client(
    store: Store, database_url: str, server: tuple[FakeOpenAIServer, Ledger]
) -> AsyncIterator[Team]:
    settings = Settings(
        database_url=database_url, secret_key=SECRET_KEY, metrics_label_limit=10_000
    )
    async with team_on_fake_provider(store, settings, server[0]) as team:
        yield team


async def scrape(team: Team) -> Samples:
    response = await team.client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    found: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _chat_workflow(model: str) -> dict[str, Any]:
    return {
        "name": "Metered",
        "node_configs": [
            static_node("node_greet", "Hello!", is_start=True),
            {
                "type": "say_llm",
                "logical_id": "node_chat",
                "name": "node_chat",
                "llms_config": {
                    "type": "openai_llm",
                    "provider": "openai",
                    "model": model,
                    "max_retries": 2,
                },
                "main_response_config": {"prompt": "Answer briefly."},
            },
        ],
        "edge_configs": [edge("e1", "node_greet", "node_chat")],
    }


def _says(text: str) -> dict[str, Any]:
    return {
        "command": "data",
        "thread_to_node_inputs": {
            "0": {
                "node_run_inputs": [
                    {"type": "llm", "messages": [{"type": "human", "content": text}]}
                ]
            }
        },
    }


async def test_the_counters_equal_what_the_conversation_did(
    client: Team, server: tuple[FakeOpenAIServer, Ledger]
):
    _, ledger = server
    model = ledger.model
    before = await scrape(client)
    made = await client.client.post("/v1/workflows", json=_chat_workflow(model))
    wid = made.json()["workflow"]["_id"]
    url = f"/v1/workflows/{wid}/execute"
    first = (await client.client.post(url, json={"run_input": START})).json()
    run_id = first["run_id"]
    for text in ("I need an appointment", "Tuesday please"):
        turn = await client.client.post(
            url, json={"run_id": run_id, "run_input": _says(text)}
        )
        assert turn.status_code == 200, turn.text
    after = await scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert len(ledger.served) == 2  # two answers, after one 429
    tokens_in = sum(p for p, _ in ledger.served)
    tokens_out = sum(c for _, c in ledger.served)
    llm = {"provider": "openai", "model": model}
    assert grew("threadline_llm_tokens_total", kind="input", **llm) == tokens_in
    assert grew("threadline_llm_tokens_total", kind="output", **llm) == tokens_out
    assert grew("threadline_llm_calls_total", **llm) == 2
    assert grew("threadline_llm_retries_total", **llm) == 1
    assert grew("threadline_turns_total", outcome="waiting") == 3
    assert grew("threadline_turn_duration_seconds_count", outcome="waiting") == 3
    assert grew("threadline_node_duration_seconds_count", node_type="say_llm") == 2
    assert grew("threadline_node_duration_seconds_count", node_type="say_static") == 1
    assert grew("threadline_store_transaction_duration_seconds_count") > 0
    # State gauges are read from the database at scrape time.
    assert value(after, "threadline_runs_active", status="waiting_for_user_input") >= 1
    assert ("threadline_start_queue_depth", ()) in after
    assert ("threadline_commands_pending", ()) in after
    # No run or team id is a label anywhere.
    labels = {v for _, pairs in after for _, v in pairs}
    assert run_id not in labels and client.team_id not in labels


async def test_metrics_take_any_valid_key_or_none_when_public(
    store: Store,
    database_url: str,
    client: Team,
    server: tuple[FakeOpenAIServer, Ledger],
):
    assert (await client.client.get("/metrics")).status_code == 200
    anonymous = await client.client.get("/metrics", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    wrong = await client.client.get(
        "/metrics", headers={"Authorization": "Bearer tl_not-a-key"}
    )
    assert wrong.status_code == 401
    public = Settings(
        database_url=database_url, secret_key=SECRET_KEY, metrics_public=True
    )
    async with team_on_fake_provider(store, public, server[0]) as team:
        del team.client.headers["Authorization"]
        assert (await team.client.get("/metrics")).status_code == 200


def test_tenant_chosen_labels_are_bounded_per_process():
    metrics.configure(label_limit=2)
    try:
        models = [metrics.bounded("model", f"m-{i}") for i in range(4)]
        assert models[:2] == ["m-0", "m-1"]
        assert models[2:] == ["other", "other"]
        assert metrics.bounded("model", "m-0") == "m-0"
    finally:
        metrics.configure()


def test_per_team_series_appear_only_when_turned_on():
    team = "a" * 24
    call = metrics.LlmCall("openai", "m", input_tokens=5, team_id=team)
    metrics.configure(per_team=False)
    metrics.count_llm_call(call)
    assert team not in metrics.render(None).decode()
    metrics.configure(per_team=True)
    try:
        metrics.count_llm_call(call)
        assert (
            f'threadline_team_llm_tokens_total{{kind="input",team="{team}"}} 5.0'
            in (metrics.render(None).decode())
        )
    finally:
        metrics.configure()
