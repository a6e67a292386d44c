"""Run budgets over HTTP: limits from the team, the workflow and the start input
(smallest wins), enforced before model calls and at turn boundaries, shown on the
run; bad budgets are refused and change nothing."""

import itertools
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.api.conftest import Team
from tests.api.test_execute import START, assert_wire_events, says
from tests.factories import edge, static_node
from tests.fakes.clock import HandClock
from threadline.providers.fake import ScriptedLLM
from threadline.service.runtime import Runtime
from threadline.store import Store


@pytest.fixture
def clock() -> HandClock:
    return HandClock()


@pytest.fixture
async def runtime(
    llm: ScriptedLLM, store: Store, clock: HandClock
) -> AsyncIterator[Runtime]:
    runtime = Runtime(llm=llm, clock=clock, rng=random.Random(7))
    yield runtime
    await runtime.drain()


def say(lid: str) -> dict[str, Any]:
    """An LLM node that speaks and moves on without waiting for the user."""
    return {
        "type": "say_llm",
        "logical_id": lid,
        "name": lid,
        "wait_for_user_message": False,
        "self_loop": False,
        "main_response_config": {"prompt": "Answer briefly."},
    }


def chat(lid: str) -> dict[str, Any]:
    """An LLM node that waits for the user and loops on itself."""
    return {
        "type": "say_llm",
        "logical_id": lid,
        "name": lid,
        "main_response_config": {"prompt": "Answer briefly."},
    }


def workflow(nodes: list[dict[str, Any]], **config: Any) -> dict[str, Any]:
    ids = [n["logical_id"] for n in nodes]
    nodes[0]["is_start"] = True
    return {
        "name": "Budgeted",
        "workflow_config": config,
        "node_configs": nodes,
        "edge_configs": [
            edge(f"e{i}", a, b) for i, (a, b) in enumerate(itertools.pairwise(ids))
        ],
    }


async def create(team: Team, body: dict[str, Any]) -> str:
    response = await team.client.post("/v1/workflows", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["workflow"]["_id"])


async def run(team: Team, wid: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await team.client.post(f"/v1/workflows/{wid}/execute", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert_wire_events(result["events"])
    return result


async def record(team: Team, run_id: str) -> dict[str, Any]:
    response = await team.client.get(f"/v1/workflow-runs/{run_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["workflow_run"]["workflow_run"]
    return found


def of_type(turn: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in turn["events"] if e["type"] == kind]


async def test_a_call_that_would_pass_max_llm_calls_is_not_made_and_fails_the_run(
    team: Team, llm: ScriptedLLM
):
    llm.extend("one", "two", "three")
    wid = await create(
        team,
        workflow(
            [static_node("node_hi", "Hi"), say("node_a"), say("node_b"), say("node_c")],
            run_budget={"max_llm_calls": 2},
        ),
    )
    turn = await run(team, wid, {"run_input": START})

    assert len(llm.requests) == 2  # node_c's call was never made
    assert turn["status"] == "failed"
    [exceeded] = of_type(turn, "budget_exceeded")
    assert exceeded["budget"] == "max_llm_calls"
    assert (exceeded["limit"], exceeded["used"], exceeded["would_use"]) == (2, 2, 3)
    assert exceeded["origin_node_logical_id"] == "node_c"
    [error] = of_type(turn, "workflow_error")
    assert "max_llm_calls" in error["error_message"]
    assert [e["content"] for e in of_type(turn, "assistant_response")] == [
        "Hi",
        "one",
        "two",
    ]
    [warning] = of_type(turn, "budget_warning")  # 2 >= 0.8 * 2, once
    assert warning["budget"] == "max_llm_calls"
    found = await record(team, turn["run_id"])
    assert found["status"] == "failed" and found["termination_source"] == "run_budget"
    assert found["llm_token_usage"]["call_count"] == 2
    usage = found["run_budget_usage"]
    assert usage["budgets"] == {
        "max_llm_calls": {"limit": 2, "used": 2, "remaining": 0}
    }
    assert usage["exceeded"] is True and usage["warned"] == ["max_llm_calls"]
    stuck = await team.client.post(
        f"/v1/workflows/{wid}/execute",
        json={"run_id": turn["run_id"], "run_input": says("more", "data")},
    )
    assert stuck.status_code == 409  # a failed run takes no more turns


async def test_the_smallest_max_turns_wins_and_stops_at_the_turn_boundary(
    team: Team, llm: ScriptedLLM
):
    llm.extend("first answer", "second answer")
    wid = await create(
        team,
        workflow(
            [static_node("node_hi", "Hi"), chat("node_chat")],
            run_budget={"max_turns": 5, "max_tokens": 1000},
        ),
    )
    start = {**START, "run_budget": {"max_turns": 3, "max_tokens": 5000}}
    first = await run(team, wid, {"run_input": start})
    run_id = first["run_id"]
    found = await record(team, run_id)
    assert found["run_budget"] == {"max_turns": 3, "max_tokens": 1000}
    assert found["run_budget_usage"]["budgets"]["max_turns"] == {
        "limit": 3,
        "used": 1,
        "remaining": 2,
    }
    second = await run(team, wid, {"run_id": run_id, "run_input": says("a b")})
    assert second["status"] == "waiting_for_user_input"
    third = await run(team, wid, {"run_id": run_id, "run_input": says("c d")})
    assert third["status"] == "waiting_for_user_input"
    assert [w["budget"] for w in of_type(third, "budget_warning")] == ["max_turns"]
    fourth = await run(team, wid, {"run_id": run_id, "run_input": says("e f")})

    assert fourth["status"] == "failed"
    assert len(llm.requests) == 2  # the fourth turn ran no node
    [exceeded] = of_type(fourth, "budget_exceeded")
    assert (exceeded["budget"], exceeded["limit"], exceeded["used"]) == (
        "max_turns",
        3,
        3,
    )
    assert exceeded["would_use"] == 4 and exceeded["origin_node_logical_id"] is None
    assert of_type(fourth, "budget_warning") == []  # once per budget, never again
    found = await record(team, run_id)
    assert found["termination_source"] == "run_budget"
    tokens = found["llm_token_usage"]["total_tokens"]
    assert found["run_budget_usage"]["budgets"]["max_tokens"] == {
        "limit": 1000,
        "used": tokens,
        "remaining": 1000 - tokens,
    }


async def test_the_team_default_limits_tokens_and_seconds(
    team: Team, llm: ScriptedLLM, clock: HandClock
):
    put = await team.client.put(
        "/v1/teams/current/run-budget",
        json={"max_tokens": 900, "max_seconds": 60, "warn_at_fraction": 0.5},
    )
    assert put.status_code == 200, put.text
    assert (await team.client.get("/v1/teams/current/run-budget")).json() == {
        "team_id": team.team_id,
        "run_budget": {"max_tokens": 900, "max_seconds": 60, "warn_at_fraction": 0.5},
    }
    llm.extend("one two three four", "five six seven eight")
    wid = await create(
        team, workflow([static_node("node_hi", "Hi"), chat("node_chat")])
    )
    first = await run(team, wid, {"run_input": START})
    run_id = first["run_id"]
    second = await run(team, wid, {"run_id": run_id, "run_input": says("a b c")})
    assert second["status"] == "waiting_for_user_input"
    used = (await record(team, run_id))["llm_token_usage"]["total_tokens"]
    assert 0 < used < 450
    clock.now += 30  # half of max_seconds: the soft threshold
    third = await run(team, wid, {"run_id": run_id, "run_input": says("d")})
    assert "max_seconds" in [w["budget"] for w in of_type(third, "budget_warning")]
    clock.now += 30
    fourth = await run(team, wid, {"run_id": run_id, "run_input": says("e")})

    assert fourth["status"] == "failed"
    [exceeded] = of_type(fourth, "budget_exceeded")
    assert (exceeded["budget"], exceeded["limit"], exceeded["used"]) == (
        "max_seconds",
        60,
        60.0,
    )
    assert len(llm.requests) == 2


async def test_a_spent_token_budget_refuses_the_next_call(team: Team, llm: ScriptedLLM):
    llm.extend("one two three four five six seven eight nine ten", "never said")
    wid = await create(
        team, workflow([chat("node_chat"), say("node_more")], run_budget={})
    )
    start = {**says("hello"), "run_budget": {"max_tokens": 10}}
    turn = await run(team, wid, {"run_input": start})
    assert turn["status"] == "failed" and len(llm.requests) == 1
    [exceeded] = of_type(turn, "budget_exceeded")
    assert exceeded["budget"] == "max_tokens" and exceeded["used"] >= 10
    assert exceeded["origin_node_logical_id"] == "node_more"


async def test_a_run_without_a_budget_shows_none(team: Team, llm: ScriptedLLM):
    wid = await create(team, workflow([static_node("node_hi", "Hi")]))
    turn = await run(team, wid, {"run_input": START})
    found = await record(team, turn["run_id"])
    assert "run_budget" not in found and "run_budget_usage" not in found
    assert of_type(turn, "budget_warning") == []


@pytest.mark.parametrize(
    ("budget", "field"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": -5}, "max_tokens"),
        ({"max_tokens": "100"}, "max_tokens"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"max_llm_calls": True}, "max_llm_calls"),
        ({"max_cost_usd": 0}, "max_cost_usd"),
        ({"max_seconds": -1}, "max_seconds"),
        ({"max_turns": 2**60}, "max_turns"),
        ({"warn_at_fraction": 1.5}, "warn_at_fraction"),
        ({"warn_at_fraction": 0}, "warn_at_fraction"),
        ({"max_money": 3}, "max_money"),
    ],
)
async def test_bad_budgets_are_refused_naming_the_field_and_change_nothing(
    team: Team, budget: dict[str, Any], field: str
):
    good = await team.client.put("/v1/teams/current/run-budget", json={"max_turns": 7})
    assert good.status_code == 200
    body = workflow([static_node("node_hi", "Hi")], run_budget=budget)
    created = await team.client.post("/v1/workflows", json=body)
    assert created.status_code == 422 and field in created.json()["message"]
    assert "run_budget" in created.json()["message"]
    assert (await team.client.get("/v1/workflows")).json()["total"] == 0

    wid = await create(team, workflow([chat("node_hi")]))
    started = await team.client.post(
        f"/v1/workflows/{wid}/execute",
        json={"run_input": {**START, "run_budget": budget}},
    )
    assert started.status_code == 422
    assert f"run_input.run_budget.{field}" in started.json()["message"]
    assert (await team.client.get("/v1/workflow-runs")).json()["total"] == 0

    team_put = await team.client.put("/v1/teams/current/run-budget", json=budget)
    assert team_put.status_code == 422 and field in team_put.text
    current = (await team.client.get("/v1/teams/current/run-budget")).json()
    assert current["run_budget"] == {"max_turns": 7}

    replaced = await team.client.patch(
        f"/v1/workflows/{wid}/versions/0/config",
        json={"config": {"run_budget": budget}},
    )
    assert replaced.status_code == 422 and field in replaced.json()["message"]


async def test_a_budget_on_a_later_command_is_refused_and_the_run_unchanged(
    team: Team, llm: ScriptedLLM
):
    wid = await create(team, workflow([chat("node_chat")]))
    first = await run(team, wid, {"run_input": START})
    before = await record(team, first["run_id"])
    later = await team.client.post(
        f"/v1/workflows/{wid}/execute",
        json={
            "run_id": first["run_id"],
            "run_input": {**says("hi", "data"), "run_budget": {"max_turns": 9}},
        },
    )
    assert later.status_code == 422
    assert "run_input.run_budget" in later.json()["message"]
    after = await record(team, first["run_id"])
    assert after == before and "run_budget" not in after
    not_object = await team.client.post(
        f"/v1/workflows/{wid}/execute",
        json={"run_input": {**START, "run_budget": [1]}},
    )
    assert not_object.status_code == 422
    assert "run_budget" in not_object.json()["message"]


async def test_the_team_budget_is_the_teams_own(team: Team, other_team: Team):
    await team.client.put("/v1/teams/current/run-budget", json={"max_turns": 4})
    theirs = (await other_team.client.get("/v1/teams/current/run-budget")).json()
    assert theirs == {"team_id": other_team.team_id, "run_budget": None}
    cleared = await team.client.put("/v1/teams/current/run-budget", json={})
    assert cleared.json()["run_budget"] is None
    concurrency = await team.client.patch(
        "/v1/teams/current/concurrency", json={"max_concurrent_runs": 3}
    )
    assert concurrency.status_code == 200
    await team.client.put("/v1/teams/current/run-budget", json={"max_turns": 2})
    kept = (await team.client.get("/v1/teams/current/concurrency")).json()
    assert kept["max_concurrent_runs"] == 3  # the two settings share a document


async def test_a_cost_budget_warns_of_models_missing_from_the_price_table(
    team: Team, llm: ScriptedLLM
):
    llm.extend("hello there", "and again")
    local = {"type": "openai_llm", "model": "my-local-model"}
    nodes = [{**say("node_a"), "llms_config": local}, say("node_b")]
    created = await team.client.post(
        "/v1/workflows", json=workflow(nodes, run_budget={"max_cost_usd": 1.0})
    )
    assert created.status_code == 200, created.text
    warned = [
        w for w in created.json()["warnings"] if w["code"].startswith("run_budget")
    ]
    assert [w["code"] for w in warned] == ["run_budget_unpriced_model"]
    assert "my-local-model" in warned[0]["message"]
    wid = created.json()["workflow"]["_id"]
    turn = await run(team, wid, {"run_input": START})
    # The scripted model answers as "fake-model": its calls cannot be priced.
    notes = [
        e["warning_message"]
        for e in of_type(turn, "workflow_warning")
        if "max_cost_usd" in e["warning_message"]
    ]
    assert len(notes) == 1 and "fake-model" in notes[0]
    found = await record(team, turn["run_id"])
    assert found["run_budget_usage"]["budgets"]["max_cost_usd"]["used"] == 0
    assert found["run_budget_usage"]["warned"] == []
