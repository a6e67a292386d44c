"""Durable turns: idempotency keys, multitask policies, recovery after a crash."""

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from tests.api.conftest import Team
from tests.api.test_execute import START, execute, new_workflow, says, spoken
from tests.factories import edge, say_node, static_node
from threadline.providers.fake import ScriptedLLM
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.running import recovery, runs
from threadline.service.runtime import Runtime
from threadline.service.turns import TurnRequest
from threadline.store import Store


def two_step_workflow() -> dict[str, Any]:
    """A turn of two LLM calls: the silent worker ``node_read`` reads the user's
    message, then ``node_chat`` answers at once; the next message goes to the
    worker again."""

    def worker(logical_id: str, **extra: Any) -> dict[str, Any]:
        return {
            "type": "worker_llm",
            "logical_id": logical_id,
            "name": logical_id,
            "main_response_config": {"prompt": "Work."},
            **extra,
        }

    return {
        "name": "Two steps",
        "node_configs": [
            static_node("node_greet", "Hello!", is_start=True),
            worker("node_read", wait_for_user_message=True),
            {**say_node("node_chat", prompt="Answer."), "wait_for_user_message": False},
        ],
        "edge_configs": [
            edge("edge_greet", "node_greet", "node_read"),
            edge("edge_chat", "node_read", "node_chat"),
            edge("edge_back", "node_chat", "node_read"),
        ],
    }


class Gate:
    """An LLM that holds its ``hold``-th calls (1-based) until ``release`` is set."""

    def __init__(self, inner: ScriptedLLM, hold: set[int]) -> None:
        self.inner = inner
        self.hold = hold
        self.calls = 0
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def chat(self, request: Any) -> Any:
        self.calls += 1
        if self.calls in self.hold:
            self.entered.set()
            await self.release.wait()
        return await self.inner.chat(request)


def post(team: Team, wid: str, body: dict[str, Any], key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return team.client.post(f"/v1/workflows/{wid}/execute", json=body, headers=headers)


async def run_body(team: Team, run_id: str) -> dict[str, Any]:
    response = await team.client.get(f"/v1/workflow-runs/{run_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()["workflow_run"]["workflow_run"]
    return body


async def queued(store: Store, run_id: str, count: int = 1) -> None:
    """Wait until ``count`` commands wait behind the run's running turn."""
    for _ in range(500):
        async with store.begin() as tx:
            if len(await tx.commands().of_run(run_id, ["pending"])) >= count:
                return
        await asyncio.sleep(0.01)
    raise AssertionError("the command was never queued")


# --- idempotency ---------------------------------------------------------------------


async def test_a_retried_start_returns_the_same_run_and_makes_no_second_call(
    team: Team, llm: ScriptedLLM
):
    wid = await new_workflow(team)
    first = await post(team, wid, {"run_input": START}, key="start-1")
    again = await post(team, wid, {"run_input": START}, key="start-1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    listed = await team.client.get("/v1/workflow-runs", params={"workflow_id": wid})
    assert listed.json()["total"] == 1

    run_id = first.json()["run_id"]
    llm.extend("Sure.")
    turn = {"run_id": run_id, "run_input": says("book me")}
    answer = await post(team, wid, turn, key="turn-2")
    retry = await post(team, wid, turn, key="turn-2")
    assert retry.status_code == 200 and retry.json() == answer.json()
    assert spoken(retry.json()) == ["Sure."]
    assert len(llm.requests) == 1
    assert len((await run_body(team, run_id))["input_output_pairs"]) == 2


async def test_a_key_reused_for_another_request_is_refused(team: Team):
    wid = await new_workflow(team)
    await post(team, wid, {"run_input": START}, key="k-1")
    other = await post(
        team, wid, {"run_input": {**START, "dynamic_variables": {"x": 1}}}, key="k-1"
    )
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in other.json()["message"]


async def test_a_rejected_command_leaves_its_key_free_for_a_corrected_retry(
    team: Team,
):
    wid = await new_workflow(team)
    bad = await post(
        team, wid, {"run_input": {**START, "start_node_logical_id": "nowhere"}}, "k-2"
    )
    assert bad.status_code == 422
    fixed = await post(team, wid, {"run_input": START}, key="k-3")
    assert fixed.status_code == 200


async def test_keys_are_scoped_to_the_team(team: Team, other_team: Team):
    wid = await new_workflow(team)
    mine = await post(team, wid, {"run_input": START}, key="shared-key")
    theirs_wid = await new_workflow(other_team)
    theirs = await post(other_team, theirs_wid, {"run_input": START}, "shared-key")
    assert mine.status_code == theirs.status_code == 200
    assert mine.json()["run_id"] != theirs.json()["run_id"]


async def test_an_empty_key_is_a_clear_error(team: Team):
    wid = await new_workflow(team)
    response = await post(team, wid, {"run_input": START}, key="   ")
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["message"]


# --- multitask policies ----------------------------------------------------------------


async def start_gated(
    team: Team, runtime: Runtime, llm: ScriptedLLM, body: dict[str, Any] | None = None
) -> tuple[str, str, Gate]:
    wid = await new_workflow(team, body)
    first = await execute(team, wid, {"run_input": START})
    gate = Gate(llm, hold={1})
    runtime.llm = gate
    return wid, str(first["run_id"]), gate


async def test_enqueue_runs_commands_in_arrival_order(
    team: Team, runtime: Runtime, llm: ScriptedLLM, store: Store
):
    wid, run_id, gate = await start_gated(team, runtime, llm)
    llm.extend("Answer to a.", "Answer to b.", "Answer to c.")
    first = asyncio.create_task(
        post(team, wid, {"run_id": run_id, "run_input": says("a")})
    )
    await gate.entered.wait()
    second = asyncio.create_task(
        post(team, wid, {"run_id": run_id, "run_input": says("b", "data")})
    )
    await queued(store, run_id)
    third = asyncio.create_task(
        post(team, wid, {"run_id": run_id, "run_input": says("c", "data")})
    )
    await queued(store, run_id, 2)
    gate.release.set()
    answers = [(await t).json() for t in (first, second, third)]
    assert [spoken(a) for a in answers] == [
        ["Answer to a."],
        ["Answer to b."],
        ["Answer to c."],
    ]
    assert [a["turn_number"] for a in answers] == [2, 3, 4]
    asked = [r.messages[-1].content for r in llm.requests]
    assert asked == ["a", "b", "c"]
    run = await run_body(team, run_id)
    assert run["status"] == "waiting_for_user_input"


async def test_reject_refuses_a_command_during_a_turn_and_changes_nothing(
    team: Team, runtime: Runtime, llm: ScriptedLLM
):
    wid, run_id, gate = await start_gated(team, runtime, llm)
    patched = await team.client.patch(
        f"/v1/workflows/{wid}/multitask", json={"multitask_strategy": "reject"}
    )
    assert patched.json() == {"workflow_id": wid, "multitask_strategy": "reject"}
    llm.extend("Answer to a.")
    first = asyncio.create_task(
        post(team, wid, {"run_id": run_id, "run_input": says("a")})
    )
    await gate.entered.wait()
    busy = await post(team, wid, {"run_id": run_id, "run_input": says("b", "data")})
    assert busy.status_code == 409 and busy.json()["code"] == "run_busy"
    gate.release.set()
    assert spoken((await first).json()) == ["Answer to a."]
    run = await run_body(team, run_id)
    assert len(run["input_output_pairs"]) == 2
    assert len(llm.requests) == 1


async def test_an_unknown_policy_is_refused_naming_the_field(team: Team):
    wid = await new_workflow(team)
    response = await team.client.patch(
        f"/v1/workflows/{wid}/multitask", json={"multitask_strategy": "rollback"}
    )
    assert response.status_code == 422
    assert "multitask_strategy" in response.json()["message"]


async def test_interrupt_stops_the_running_turn_and_runs_the_new_input(
    team: Team, runtime: Runtime, llm: ScriptedLLM, store: Store
):
    wid, run_id, gate = await start_gated(team, runtime, llm, two_step_workflow())
    await team.client.patch(
        f"/v1/workflows/{wid}/multitask", json={"multitask_strategy": "interrupt"}
    )
    llm.extend("Chat about a.", "Chat about b.", "More about b.")
    first = asyncio.create_task(
        post(team, wid, {"run_id": run_id, "run_input": says("a")})
    )
    await gate.entered.wait()
    second = asyncio.create_task(
        post(team, wid, {"run_id": run_id, "run_input": says("b", "data")})
    )
    await queued(store, run_id)
    gate.release.set()
    interrupted, answer = await first, await second
    assert interrupted.status_code == 409
    assert interrupted.json()["code"] == "turn_interrupted"
    assert answer.status_code == 200, answer.text
    assert spoken(answer.json()) == ["More about b."]
    run = await run_body(team, run_id)
    pairs = run["input_output_pairs"]
    assert len(pairs) == 2  # the start and "b"; the interrupted turn left nothing
    # The interrupted turn's LLM call is still accounted for.
    assert len(llm.requests) == 3
    calls = run["llm_token_usage"]
    assert calls["total_tokens"] > 0


async def test_stop_interrupts_a_running_turn_whatever_the_policy(
    team: Team, runtime: Runtime, llm: ScriptedLLM, store: Store
):
    wid, run_id, gate = await start_gated(team, runtime, llm, two_step_workflow())
    llm.extend("Chat about a.", "More.")
    first = asyncio.create_task(
        post(team, wid, {"run_id": run_id, "run_input": says("a")})
    )
    await gate.entered.wait()
    stop = asyncio.create_task(
        post(team, wid, {"run_id": run_id, "run_input": {"command": "stop"}})
    )
    await queued(store, run_id)
    gate.release.set()
    assert (await first).status_code == 409
    stopped = (await stop).json()
    assert stopped["status"] == "cancelled"
    assert (await run_body(team, run_id))["status"] == "cancelled"
    assert len(llm.requests) == 1  # node_two never ran


async def test_queued_commands_that_no_longer_fit_are_refused(
    team: Team, runtime: Runtime, llm: ScriptedLLM, store: Store
):
    wid, run_id, gate = await start_gated(team, runtime, llm)
    llm.extend("Answer to a.")
    first = asyncio.create_task(
        post(team, wid, {"run_id": run_id, "run_input": says("a")})
    )
    await gate.entered.wait()
    resume = asyncio.create_task(
        post(team, wid, {"run_id": run_id, "run_input": {"command": "resume"}})
    )
    await queued(store, run_id)
    gate.release.set()
    assert (await first).status_code == 200
    refused = await resume
    assert refused.status_code == 409
    assert "resume" in refused.json()["message"]


# --- recovery --------------------------------------------------------------------------


async def test_a_turn_orphaned_by_a_dead_worker_resumes_without_repeating_steps(
    team: Team, runtime: Runtime, llm: ScriptedLLM, store: Store
):
    wid = await new_workflow(team, two_step_workflow())
    first = await execute(team, wid, {"run_input": START})
    run_id = first["run_id"]
    llm.extend("One.", "never served")
    gate = Gate(llm, hold={2})
    runtime.llm = gate
    caller = Caller(team.team_id, team.user_id)
    request = asyncio.create_task(
        runs.run_one_turn(
            store,
            caller,
            runtime,
            TurnRequest(
                workflow_id=wid,
                run_id=run_id,
                raw_input=says("hello"),
                field="run_input",
                idempotency_key="turn-crash",
            ),
        )
    )
    await gate.entered.wait()
    # The process dies mid-turn: its driver and its request vanish.
    runtime.drivers[run_id].cancel()
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    assert (await run_body(team, run_id))["status"] == "running"

    survivor_llm = ScriptedLLM(["Two."])
    survivor = Runtime(llm=survivor_llm, worker_dead_seconds=30)
    later = wf.now() + timedelta(seconds=60)
    retry = asyncio.create_task(
        runs.run_one_turn(
            store,
            caller,
            survivor,
            TurnRequest(
                workflow_id=wid,
                run_id=run_id,
                raw_input=says("hello"),
                field="run_input",
                idempotency_key="turn-crash",
            ),
        )
    )
    resumed = await recovery.recover(store, survivor, now=later, teams={team.team_id})
    assert len(resumed) == 1
    doc, outcome = await retry
    await survivor.drain()
    assert doc.id == run_id and doc.status == "waiting_for_user_input"
    said = [e["content"] for e in outcome.events if e["type"] == "assistant_response"]
    assert said == ["Two."]
    # The finished step was replayed from the journal: one call on each worker.
    assert gate.calls == 2 and len(survivor_llm.requests) == 1
    run = await run_body(team, run_id)
    assert run["status"] == "waiting_for_user_input"
    assert len(run["input_output_pairs"]) == 2


async def test_a_live_worker_keeps_its_turns(
    team: Team, runtime: Runtime, llm: ScriptedLLM, store: Store
):
    wid, run_id, gate = await start_gated(team, runtime, llm)
    llm.extend("Answer.")
    await recovery.heartbeat(store, runtime, "serve")
    first = asyncio.create_task(
        post(team, wid, {"run_id": run_id, "run_input": says("a")})
    )
    await gate.entered.wait()
    other = Runtime(llm=ScriptedLLM())
    taken = await recovery.recover(store, other, now=wf.now(), teams={team.team_id})
    assert taken == []
    gate.release.set()
    assert (await first).status_code == 200
    await recovery.sign_off(store, runtime)


async def test_the_reaper_lease_has_one_holder_at_a_time(store: Store):
    now = wf.now()
    async with store.begin() as tx:
        name = f"test-lease-{id(now)}"
        assert await tx.workers().take_lease(name, "a", now, now + timedelta(seconds=5))
        assert not await tx.workers().take_lease(
            name, "b", now, now + timedelta(seconds=5)
        )
        assert await tx.workers().take_lease(
            name, "b", now + timedelta(seconds=6), now + timedelta(seconds=11)
        )
