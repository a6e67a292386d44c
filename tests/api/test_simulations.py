"""Simulations end to end on the scripted model: groups of conversations between two
workflows, linked runs, evaluations and the summary; stop; a restart resumes."""

import asyncio
from datetime import timedelta
from typing import Any

from tests.api.conftest import Team
from tests.api.test_evaluations import evaluator
from tests.factories import edge, say_node, static_node
from threadline.providers.base import ChatRequest
from threadline.providers.fake import ScriptedLLM
from threadline.service.definitions import workflows as wf
from threadline.service.running import recovery
from threadline.service.running.runs import run_one_turn
from threadline.service.runtime import Runtime
from threadline.service.simulations.driver import LEASE, Driver
from threadline.store import Store

MISSING = "5eb7cf5a86d9755df3a6c593"


def talker(
    name: str, evaluator_id: str | None = None, *, greets: bool = False
) -> dict[str, Any]:
    """A workflow that talks forever: it answers each message (and with
    ``greets``, opens with a static greeting)."""
    node = {**say_node("node_talk", is_start=not greets, prompt=f"You are {name}.")}
    node.update(self_loop=True, wait_for_user_message=True)
    nodes, edges = [node], []
    if greets:
        nodes.insert(0, static_node("node_hello", "Hello!", is_start=True))
        edges.append(edge("edge_hello", "node_hello", "node_talk"))
    config: dict[str, Any] = {}
    if evaluator_id:
        config["evaluation_config"] = {"evaluator_workflow_id": evaluator_id}
    return {
        "name": name,
        "workflow_config": config,
        "node_configs": nodes,
        "edge_configs": edges,
    }


def echo(llm: ScriptedLLM, count: int = 400) -> None:
    def reply(request: ChatRequest) -> str:
        return f"said after {len(request.messages)} messages"

    llm.extend(*([reply] * count))


async def create_workflow(team: Team, body: dict[str, Any]) -> str:
    response = await team.client.post("/v1/workflows", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["workflow"]["_id"])


async def simulation(team: Team, selected: str, counter: str, **extra: Any) -> str:
    body = {
        "name": "Assistant vs customer",
        "selected_workflow": {"workflow_id": selected},
        "counter_workflow": {"workflow_id": counter},
        "number_of_simulations": 5,
        "max_concurrent_runs": 2,
        "max_turns": 3,
        **extra,
    }
    response = await team.client.post("/v1/simulations", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["simulation"]["id"])


async def start(team: Team, sim_id: str) -> dict[str, Any]:
    response = await team.client.post(
        f"/v1/simulations/{sim_id}/run", json={"runner_name": "tests"}
    )
    assert response.status_code == 200, response.text
    group: dict[str, Any] = response.json()["simulation_group"]
    return group


async def run_all(store: Store, runtime: Runtime, team: Team) -> Driver:
    driver = Driver(
        store, runtime, run_one_turn, teams=[team.team_id], retry_pause=0.01
    )
    await driver.pass_once()
    await driver.idle()
    await asyncio.gather(*list(runtime.background))
    return driver


async def get(team: Team, url: str, **params: Any) -> dict[str, Any]:
    response = await team.client.get(url, params=params)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def run_record(team: Team, run_id: str) -> dict[str, Any]:
    body = await get(team, f"/v1/workflow-runs/{run_id}")
    record: dict[str, Any] = body["workflow_run"]["workflow_run"]
    return record


def talked(record: dict[str, Any]) -> int:
    """The turns of a run that were conversation (not the final stop)."""
    pairs = record["input_output_pairs"]
    return len([p for p in pairs if p["run_input"]["command"] != "stop"])


async def test_five_conversations_complete_with_linked_evaluated_runs(
    team: Team, store: Store, runtime: Runtime, llm: ScriptedLLM
):
    echo(llm)
    judge = await evaluator(team)
    selected = await create_workflow(team, talker("Assistant", judge, greets=True))
    counter = await create_workflow(team, talker("Customer"))
    sim_id = await simulation(team, selected, counter)
    group = await start(team, sim_id)
    assert group["status"] == "pending"
    assert group["total_runs"] == 5

    await run_all(store, runtime, team)

    group = (await get(team, f"/v1/simulation-runs/{group['id']}"))["simulation_group"]
    assert group["status"] == "completed"
    assert (group["completed_runs"], group["failed_runs"]) == (5, 0)
    plain = await get(team, f"/v1/simulation-runs/{group['id']}/executions")
    assert plain["total"] == 5
    assert [r["run_index"] for r in plain["individual_runs"]] == [0, 1, 2, 3, 4]
    pairs = set()
    for execution in plain["individual_runs"]:
        assert execution["status"] == "completed"
        assert execution["end_reason"] == "max_turns"
        assert execution["turns"] == {"selected": 3, "counter": 3}
        mine, theirs = (
            execution["selected_workflow_run_id"],
            execution["counter_workflow_run_id"],
        )
        pairs.add((mine, theirs))
        a, b = await run_record(team, mine), await run_record(team, theirs)
        assert a["workflow_id"] == selected and b["workflow_id"] == counter
        link_a, link_b = (
            a["miscellaneous"]["simulation"],
            b["miscellaneous"]["simulation"],
        )
        assert link_a["peer_workflow_run_id"] == theirs
        assert link_b["peer_workflow_run_id"] == mine
        assert (
            link_a["simulation_run_id"]
            == execution["id"]
            == link_b["simulation_run_id"]
        )
        # three turns each, then the stop that freed their slots
        assert talked(a) == talked(b) == 3
        assert a["status"] == b["status"] == "cancelled"
        # the counter's reply reached the assistant as the user's message
        said = [
            e["content"]
            for e in b["input_output_pairs"][0]["run_output"]["events"]
            if e["type"] == "assistant_response"
        ]
        heard = a["input_output_pairs"][1]["run_input"]["thread_to_node_inputs"]["0"]
        assert heard["node_run_inputs"][0]["messages"][0]["content"] == said[0]
        assert a["evaluation_run_info"]["evaluation_workflow_run_id"]
        assert b["evaluation_run_info"]["evaluation_workflow_run_id"]
    assert len(pairs) == 5

    detailed = await get(team, f"/v1/simulation-runs/{group['id']}/executions/detailed")
    first = detailed["individual_runs"][0]
    assert first["selected_workflow_name"] == "Assistant"
    assert first["counter_workflow_name"] == "Customer"
    assert first["selected_evaluation_status"] == "completed"
    assert first["evaluation_run_id"] == first["selected_evaluation_run_id"]

    summary = await get(team, f"/v1/simulations/{sim_id}/evaluation-summary")
    assert summary["group_id"] == group["id"]
    assert (summary["completed_runs"], summary["failed_runs"]) == (5, 0)
    assert summary["end_reasons"] == {"max_turns": 5}
    for side in ("selected", "counter"):
        part = summary[f"{side}_workflow_summary"]
        assert part["total_runs"] == 5
        assert part["evaluated_runs"] == 5
    sim = (await get(team, f"/v1/simulations/{sim_id}"))["simulation"]
    assert sim["status"] == "completed"
    groups = await get(team, f"/v1/simulations/{sim_id}/runs")
    assert [g["id"] for g in groups["simulation_groups"]] == [group["id"]]


async def test_a_conversation_ends_when_a_side_ends(
    team: Team, store: Store, runtime: Runtime, llm: ScriptedLLM
):
    echo(llm)
    selected = await create_workflow(team, talker("Assistant", greets=True))
    counter = await create_workflow(
        team,
        {
            "name": "Brief customer",
            "workflow_config": {},
            "node_configs": [static_node("node_bye", "Bye!", is_start=True)],
            "edge_configs": [],
        },
    )
    sim_id = await simulation(team, selected, counter, number_of_simulations=2)
    group = await start(team, sim_id)
    await run_all(store, runtime, team)
    runs = await get(team, f"/v1/simulation-runs/{group['id']}/executions")
    for execution in runs["individual_runs"]:
        assert execution["end_reason"] == "counter_ended"
        assert execution["turns"] == {"selected": 1, "counter": 1}
        a = await run_record(team, execution["selected_workflow_run_id"])
        # the selected run was left waiting: it is stopped, holding no slot
        assert a["status"] == "cancelled"


async def test_the_team_limit_queues_conversations_instead_of_failing_them(
    team: Team, store: Store, runtime: Runtime, llm: ScriptedLLM
):
    echo(llm)
    limit = await team.client.patch(
        "/v1/teams/current/concurrency", json={"max_concurrent_runs": 2}
    )
    assert limit.status_code == 200
    selected = await create_workflow(team, talker("Assistant", greets=True))
    counter = await create_workflow(team, talker("Customer"))
    sim_id = await simulation(
        team, selected, counter, number_of_simulations=3, max_concurrent_runs=3
    )
    group = await start(team, sim_id)
    await run_all(store, runtime, team)
    done = (await get(team, f"/v1/simulation-runs/{group['id']}"))["simulation_group"]
    assert (done["completed_runs"], done["failed_runs"]) == (3, 0)


async def test_stop_part_way_keeps_what_ran(
    team: Team, store: Store, runtime: Runtime, llm: ScriptedLLM
):
    echo(llm)
    selected = await create_workflow(team, talker("Assistant", greets=True))
    counter = await create_workflow(team, talker("Customer"))
    sim_id = await simulation(
        team, selected, counter, max_concurrent_runs=1, max_turns=50
    )
    group = await start(team, sim_id)
    driver = Driver(
        store, runtime, run_one_turn, teams=[team.team_id], retry_pause=0.01
    )
    await driver.pass_once()
    url = f"/v1/simulation-runs/{group['id']}"
    while (await get(team, f"{url}/executions"))["individual_runs"][0]["turns"][
        "counter"
    ] < 2:
        await asyncio.sleep(0.01)
    stopped = await team.client.post(f"{url}/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["simulation_group"]["status"] == "cancelled"
    await driver.idle()
    runs = (await get(team, f"{url}/executions"))["individual_runs"]
    assert runs[0]["status"] == "cancelled"
    assert runs[0]["end_reason"] == "stopped"
    assert runs[0]["turns"]["counter"] >= 2
    kept = await run_record(team, runs[0]["selected_workflow_run_id"])
    assert len(kept["input_output_pairs"]) >= 2
    assert [r["status"] for r in runs[1:]] == ["cancelled"] * 4
    assert all(r["selected_workflow_run_id"] is None for r in runs[1:])
    final = (await get(team, url))["simulation_group"]
    assert final["status"] == "cancelled"
    assert final["cancelled_runs"] == 5
    again = await team.client.post(f"{url}/stop")
    assert again.status_code == 409
    assert again.json()["code"] == "simulation_finished"


async def test_a_restart_mid_simulation_resumes_without_repeating_a_turn(
    team: Team, store: Store, runtime: Runtime, llm: ScriptedLLM
):
    echo(llm)
    selected = await create_workflow(team, talker("Assistant", greets=True))
    counter = await create_workflow(team, talker("Customer"))
    sim_id = await simulation(team, selected, counter, max_concurrent_runs=2)
    group = await start(team, sim_id)
    url = f"/v1/simulation-runs/{group['id']}"
    first = Driver(store, runtime, run_one_turn, teams=[team.team_id], retry_pause=0.01)
    await first.pass_once()
    while (await get(team, url))["simulation_group"]["completed_runs"] < 1:
        await asyncio.sleep(0.01)
    # the process dies: its drivers and turns in flight stop where they are
    await first.cancel()
    await runtime.drain(timeout=0)
    later = wf.now() + LEASE + timedelta(seconds=runtime.worker_dead_seconds + 1)
    second_runtime = Runtime(llm=llm)
    second = Driver(
        store, second_runtime, run_one_turn, teams=[team.team_id], retry_pause=0.01
    )
    assert await second.pass_once(now=wf.now()) == []  # the lease is still held
    await recovery.recover(store, second_runtime, now=later, teams=[team.team_id])
    assert await second.pass_once(now=later) == [group["id"]]
    await second.idle()
    await asyncio.gather(*list(second_runtime.background))
    done = (await get(team, url))["simulation_group"]
    assert done["status"] == "completed"
    assert done["completed_runs"] == 5
    for execution in (await get(team, f"{url}/executions"))["individual_runs"]:
        assert execution["turns"] == {"selected": 3, "counter": 3}
        for side in ("selected", "counter"):
            record = await run_record(team, execution[f"{side}_workflow_run_id"])
            assert talked(record) == 3
    listed = await get(team, "/v1/workflow-runs", workflow_id=selected, size=100)
    assert listed["total"] == 5


async def test_a_failed_run_fails_its_conversation_and_stop_on_failure_stops_the_rest(
    team: Team, store: Store, runtime: Runtime, llm: ScriptedLLM
):
    # no script: the first model call fails the counter's run
    selected = await create_workflow(team, talker("Assistant", greets=True))
    counter = await create_workflow(team, talker("Customer"))
    sim_id = await simulation(
        team, selected, counter, max_concurrent_runs=1, stop_on_failure=True
    )
    group = await start(team, sim_id)
    await run_all(store, runtime, team)
    url = f"/v1/simulation-runs/{group['id']}"
    runs = (await get(team, f"{url}/executions"))["individual_runs"]
    assert runs[0]["status"] == "failed"
    assert runs[0]["end_reason"] == "counter_failed"
    assert "counter workflow's run failed" in runs[0]["error_message"]
    assert [r["status"] for r in runs[1:]] == ["cancelled"] * 4
    done = (await get(team, url))["simulation_group"]
    assert done["status"] == "failed"
    sim = (await get(team, f"/v1/simulations/{sim_id}"))["simulation"]
    assert sim["status"] == "failed"


async def test_the_counter_workflow_can_open_and_max_events_ends_a_conversation(
    team: Team, store: Store, runtime: Runtime, llm: ScriptedLLM
):
    echo(llm)
    selected = await create_workflow(team, talker("Assistant"))
    counter = await create_workflow(team, talker("Customer", greets=True))
    opens = await simulation(
        team, selected, counter, number_of_simulations=1, assistant_starts_first=False
    )
    short = await simulation(
        team,
        selected,
        counter,
        number_of_simulations=1,
        max_events=1,
        assistant_starts_first=False,
    )
    first, second = await start(team, opens), await start(team, short)
    await run_all(store, runtime, team)
    url = "/v1/simulation-runs/{}/executions"
    opened = (await get(team, url.format(first["id"])))["individual_runs"][0]
    assert opened["end_reason"] == "max_turns"
    a = await run_record(team, opened["selected_workflow_run_id"])
    heard = a["input_output_pairs"][0]["run_input"]["thread_to_node_inputs"]["0"]
    assert heard["node_run_inputs"][0]["messages"][0]["content"] == "Hello!"
    cut = (await get(team, url.format(second["id"])))["individual_runs"][0]
    assert cut["end_reason"] == "max_events"
    assert cut["turns"] == {"selected": 0, "counter": 1}
    assert cut["selected_workflow_run_id"] is None


async def test_no_more_than_max_concurrent_runs_conversations_are_in_flight(
    team: Team, store: Store, runtime: Runtime, llm: ScriptedLLM
):
    echo(llm)
    selected = await create_workflow(team, talker("Assistant", greets=True))
    counter = await create_workflow(team, talker("Customer"))
    sim_id = await simulation(team, selected, counter, max_concurrent_runs=2)
    group = await start(team, sim_id)
    driver = Driver(
        store, runtime, run_one_turn, teams=[team.team_id], retry_pause=0.01
    )
    await driver.pass_once()
    url = f"/v1/simulation-runs/{group['id']}"
    seen = []
    while (state := (await get(team, url))["simulation_group"])[
        "status"
    ] != "completed":
        seen.append(state["running_runs"])
        await asyncio.sleep(0)
    await driver.idle()
    assert seen and max(seen) <= 2
    assert state["completed_runs"] == 5
