"""Execute: turn-by-turn runs over HTTP, both request shapes, the command machine."""

from typing import Any

import pytest

from tests.api.conftest import Team
from tests.factories import edge, say_node, static_node
from threadline.config import parse_event
from threadline.providers.fake import ScriptedLLM, tool_call

START = {"command": "start", "thread_to_node_inputs": {"0": {"node_run_inputs": []}}}


def says(text: str, command: str = "start") -> dict[str, Any]:
    return {
        "command": command,
        "thread_to_node_inputs": {
            "0": {
                "node_run_inputs": [
                    {"type": "llm", "messages": [{"type": "human", "content": text}]}
                ]
            }
        },
    }


def chat_workflow() -> dict[str, Any]:
    return {
        "name": "Chat",
        "workflow_config": {
            "miscellaneous": {"default_dynamic_variables": {"clinic": "Northside"}}
        },
        "node_configs": [
            static_node(
                "node_greet", "Welcome to {{clinic}}, {{patient}}!", is_start=True
            ),
            say_node("node_chat", prompt="You help patients of {{clinic}}."),
            static_node("node_bye", "Goodbye!"),
        ],
        "edge_configs": [
            edge("edge_greet", "node_greet", "node_chat"),
            edge(
                "edge_bye",
                "node_chat",
                "node_bye",
                type="conditional",
                condition={"condition_freeform": "The user wants to leave"},
            ),
        ],
    }


async def new_workflow(team: Team, body: dict[str, Any] | None = None) -> str:
    response = await team.client.post("/v1/workflows", json=body or chat_workflow())
    assert response.status_code == 200, response.text
    return str(response.json()["workflow"]["_id"])


async def execute(
    team: Team, wid: str, body: dict[str, Any], **params: Any
) -> dict[str, Any]:
    response = await team.client.post(
        f"/v1/workflows/{wid}/execute", json=body, params=params
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def assert_wire_events(events: list[dict[str, Any]]) -> None:
    """Every event validates against its typed wire model (as the SDK parses it)."""
    for raw in events:
        event = parse_event(raw)
        assert type(event).__name__ != "UnknownEvent", raw["type"]
        assert event.model_dump(exclude_unset=True)["type"] == raw["type"]


def spoken(turn: dict[str, Any]) -> list[str]:
    return [e["content"] for e in turn["events"] if e["type"] == "assistant_response"]


async def test_a_conversation_runs_turn_by_turn_until_it_completes(
    team: Team, llm: ScriptedLLM
):
    wid = await new_workflow(team)
    first = await execute(
        team, wid, {"run_input": {**START, "dynamic_variables": {"patient": "Ann"}}}
    )
    assert first["turn_number"] == 1
    assert first["status"] == "waiting_for_user_input"
    assert first["is_waiting_for_input"] is True and first["is_completed"] is False
    assert spoken(first) == ["Welcome to Northside, Ann!"]
    assert first["next_input_hint"]["origin_node_logical_id"] == "node_chat"
    llm._script.extend(
        [
            "Of course, Ann.",
            [tool_call("Destination_Node__node_bye", {"justification": "leaving"})],
        ]
    )
    second = await execute(
        team,
        wid,
        {"run_id": first["run_id"], "run_input": says("I need an appointment")},
    )
    assert second["turn_number"] == 2 and spoken(second) == ["Of course, Ann."]
    system = llm.requests[0].messages[0]
    assert system.role == "system" and "Northside" in system.content
    third = await execute(
        team, wid, {"run_id": first["run_id"], "run_input": says("bye", "data")}
    )
    assert third["status"] == "completed" and third["is_completed"] is True
    assert spoken(third) == ["Goodbye!"]
    assert third["events"][-1]["type"] == "end_workflow"
    for turn in (first, second, third):
        assert_wire_events(turn["events"])


async def test_the_run_record_keeps_every_turn_the_snapshot_and_exact_usage(
    team: Team, llm: ScriptedLLM
):
    wid = await new_workflow(team)
    first = await execute(team, wid, {"run_input": START})
    llm._script.extend(["one", "two"])
    for text in ("a", "b"):
        await execute(team, wid, {"run_id": first["run_id"], "run_input": says(text)})
    run = (await team.client.get(f"/v1/workflow-runs/{first['run_id']}")).json()[
        "workflow_run"
    ]
    record = run["workflow_run"]
    assert run["_id"] == first["run_id"] and run["team_id"] == team.team_id
    assert len(record["input_output_pairs"]) == 3
    assert (
        record["workflow_config_fully_hydrated"]["node_configs"][0]["logical_id"]
        == "node_greet"
    )
    usage = record["llm_token_usage"]
    assert usage["call_count"] == 2 == len(llm.requests)
    assert usage["breakdown_by_models"][0]["response_model"] == "fake-model"
    assert record["llm_latency_stats"]["call_count"] == 2
    outputs = record["input_output_pairs"][0]["run_output"]["thread_to_node_outputs"]
    assert "0" in outputs


async def test_editing_the_workflow_never_changes_a_run_underneath_it(
    team: Team, llm: ScriptedLLM
):
    wid = await new_workflow(team)
    first = await execute(team, wid, {"run_input": START})
    nodes = (await team.client.get("/v1/nodes", params={"workflow_id": wid})).json()[
        "nodes"
    ]
    bye = next(n for n in nodes if n["node_config"]["logical_id"] == "node_bye")
    await team.client.patch(
        f"/v1/nodes/{bye['_id']}",
        json={"static_messages_config": {"static_messages": ["CHANGED"]}},
    )
    llm._script.append(
        [tool_call("Destination_Node__node_bye", {"justification": "x"})]
    )
    last = await execute(
        team, wid, {"run_id": first["run_id"], "run_input": says("bye")}
    )
    assert spoken(last) == ["Goodbye!"]


async def test_the_flat_seed_shape_returns_the_whole_workflow_run(team: Team):
    wid = await new_workflow(team)
    response = await team.client.post(
        f"/v1/workflows/{wid}/execute", json={**START, "run_by": "api"}
    )
    assert response.status_code == 200, response.text
    run = response.json()
    for field in (
        "logical_id",
        "workflow_id",
        "version_number",
        "status",
        "termination_source",
        "input_output_pairs",
        "run_by",
        "comments",
        "llm_token_usage",
        "llm_latency_stats",
        "version_name",
        "workflow_config_fully_hydrated",
        "workflow_run_id",
        "source_workflow_run_id",
        "is_evaluation_run",
        "evaluation_run_info",
    ):
        assert field in run, field
    assert run["status"] == "waiting_for_user_input" and run["run_by"] == "api"
    assert run["version_name"] == "Initial Version"
    stop = await team.client.post(
        f"/v1/workflows/{wid}/execute",
        json={"command": "stop", "workflow_run_id": run["workflow_run_id"]},
    )
    assert stop.json()["status"] == "cancelled"
    refused = await team.client.post(
        f"/v1/workflows/{wid}/execute",
        json={**says("hi", "data"), "workflow_run_id": run["workflow_run_id"]},
    )
    assert refused.status_code == 409


async def test_commands_that_do_not_fit_the_run_answer_409_and_change_nothing(
    team: Team,
):
    wid = await new_workflow(team)
    first = await execute(team, wid, {"run_input": START})
    rid = first["run_id"]
    resume = await team.client.post(
        f"/v1/workflows/{wid}/execute",
        json={"run_id": rid, "run_input": {"command": "resume"}},
    )
    assert resume.status_code == 409 and resume.json()["code"] == "conflict"
    paused = await execute(
        team, wid, {"run_id": rid, "run_input": {"command": "pause"}}
    )
    assert paused["status"] == "paused"
    data = await team.client.post(
        f"/v1/workflows/{wid}/execute",
        json={"run_id": rid, "run_input": says("x", "data")},
    )
    assert data.status_code == 409
    run = (await team.client.get(f"/v1/workflow-runs/{rid}")).json()["workflow_run"][
        "workflow_run"
    ]
    assert run["status"] == "paused" and len(run["input_output_pairs"]) == 2
    orphan = await team.client.post(
        f"/v1/workflows/{wid}/execute", json={"run_input": {"command": "stop"}}
    )
    assert orphan.status_code == 409


async def test_the_version_is_pinned_on_the_first_turn(team: Team):
    wid = await new_workflow(team)
    await team.client.post(f"/v1/workflows/{wid}/versions", json={"version_name": "v1"})
    run = await execute(team, wid, {"run_input": START}, version=1)
    record = (await team.client.get(f"/v1/workflow-runs/{run['run_id']}")).json()[
        "workflow_run"
    ]["workflow_run"]
    assert record["version_number"] == 1 and record["version_name"] == "v1"
    missing = await team.client.post(
        f"/v1/workflows/{wid}/execute", json={"run_input": START}, params={"version": 9}
    )
    assert missing.status_code == 404


async def test_bad_execute_input_is_refused_and_creates_no_run(team: Team):
    wid = await new_workflow(team)
    bad_command = await team.client.post(
        f"/v1/workflows/{wid}/execute", json={"run_input": {"command": "explode"}}
    )
    assert bad_command.status_code == 422 and "command" in bad_command.json()["message"]
    unknown_run = await team.client.post(
        f"/v1/workflows/{wid}/execute",
        json={"run_id": "5eb7cf5a86d9755df3a6c593", "run_input": START},
    )
    assert unknown_run.status_code == 404
    bad_run_id = await team.client.post(
        f"/v1/workflows/{wid}/execute", json={"run_id": "zz", "run_input": START}
    )
    assert bad_run_id.status_code == 422
    bad_start = await team.client.post(
        f"/v1/workflows/{wid}/execute",
        json={"run_input": {**START, "start_node_logical_id": "nowhere"}},
    )
    assert bad_start.status_code == 422 and "nowhere" in bad_start.json()["message"]
    assert (await team.client.get("/v1/workflow-runs")).json()["total"] <= 1


async def test_another_teams_run_cannot_be_continued_or_read(
    team: Team, other_team: Team
):
    wid = await new_workflow(team)
    first = await execute(team, wid, {"run_input": START})
    rid = first["run_id"]
    assert (await other_team.client.get(f"/v1/workflow-runs/{rid}")).status_code == 404
    stolen = await other_team.client.post(
        f"/v1/workflows/{wid}/execute", json={"run_id": rid, "run_input": says("hi")}
    )
    assert stolen.status_code == 404
    assert (await other_team.client.get("/v1/workflow-runs")).json()["total"] == 0


async def test_runs_are_listed_filtered_and_deleted(team: Team):
    wid = await new_workflow(team)
    first = await execute(team, wid, {"run_input": START})
    await execute(team, wid, {"run_input": {**START, "run_by": "scheduler"}})
    listed = (
        await team.client.get("/v1/workflow-runs", params={"workflow_id": wid})
    ).json()
    assert listed["total"] == 2
    assert set(listed["workflow_runs"][0]["workflow_run"]) >= {
        "logical_id",
        "workflow_id",
        "status",
    }
    by = (
        await team.client.get("/v1/workflow-runs", params={"run_by": "scheduler"})
    ).json()
    assert by["total"] == 1
    waiting = (
        await team.client.get(
            "/v1/workflow-runs", params={"status": "waiting_for_user_input"}
        )
    ).json()
    assert waiting["total"] == 2
    assert (
        await team.client.delete(f"/v1/workflow-runs/{first['run_id']}")
    ).status_code == 204
    assert (
        await team.client.get(f"/v1/workflow-runs/{first['run_id']}")
    ).status_code == 404


async def test_feedback_needs_a_finished_run_then_is_stored(team: Team):
    wid = await new_workflow(team)
    first = await execute(team, wid, {"run_input": START})
    rid = first["run_id"]
    early = await team.client.post(
        f"/v1/workflow-runs/{rid}/comments", json={"content": "nice"}
    )
    assert early.status_code == 409
    await execute(team, wid, {"run_id": rid, "run_input": {"command": "stop"}})
    added = (
        await team.client.post(
            f"/v1/workflow-runs/{rid}/comments", json={"content": " nice "}
        )
    ).json()
    [comment] = added["workflow_run"]["workflow_run"]["comments"]
    assert comment["content"] == "nice" and comment["createdBy"] == team.user_id
    blank = await team.client.post(
        f"/v1/workflow-runs/{rid}/comments", json={"content": "  "}
    )
    assert blank.status_code == 422
    event_id = first["events"][0]["logical_id"]
    rated = (
        await team.client.put(
            f"/v1/workflow-runs/{rid}/events/{event_id}/rating", json={"value": "up"}
        )
    ).json()
    assert [r["value"] for r in rated["ratings"]] == ["up"]
    rerated = (
        await team.client.put(
            f"/v1/workflow-runs/{rid}/events/{event_id}/rating", json={"value": "down"}
        )
    ).json()
    assert [r["value"] for r in rerated["ratings"]] == ["down"]
    bad = await team.client.put(
        f"/v1/workflow-runs/{rid}/events/{event_id}/rating", json={"value": "meh"}
    )
    assert bad.status_code == 422
    turn = (
        await team.client.post(
            f"/v1/workflow-runs/{rid}/turns/0/comments", json={"content": "turn note"}
        )
    ).json()
    assert turn["comments"][0]["content"] == "turn note"
    assert (
        await team.client.put(
            f"/v1/workflow-runs/{rid}/turns/7/rating", json={"value": "up"}
        )
    ).status_code == 404
    removed = await team.client.delete(
        f"/v1/workflow-runs/{rid}/comments/{comment['logical_id']}"
    )
    assert removed.json()["workflow_run"]["workflow_run"]["comments"] == []


async def test_the_run_schemas_are_served(team: Team):
    body = (await team.client.get("/v1/workflow-runs/schema")).json()
    assert set(body) == {
        "run_schema",
        "run_input_schema",
        "run_output_schema",
        "run_input_output_pair_schema",
    }


async def test_the_legacy_start_or_resume_endpoint_runs_a_turn(team: Team):
    wid = await new_workflow(team)
    response = await team.client.post(
        "/v1/workflow-runs", json={**START, "workflow_id": wid}
    )
    assert response.status_code == 200, response.text
    assert (
        response.json()["workflow_run"]["workflow_run"]["status"]
        == "waiting_for_user_input"
    )


async def test_background_work_is_pumped_without_using_a_user_turn(team: Team):
    body = {
        "name": "Poller",
        "workflow_config": {},
        "node_configs": [
            static_node("node_greet", "Hi", is_start=True),
            say_node("node_chat"),
            {
                "type": "no_op",
                "logical_id": "node_poll",
                "name": "Poll",
                "self_loop_config": {
                    "enabled": True,
                    "max_retries": 2,
                    "time_between_retries": 1,
                },
            },
        ],
        "edge_configs": [
            edge("edge_main", "node_greet", "node_chat"),
            edge(
                "edge_fork",
                "node_greet",
                "node_poll",
                companion_thread_config={
                    "is_companion_thread": True,
                    "thread_id": "poller",
                },
            ),
        ],
    }
    wid = await new_workflow(team, body)
    first = await execute(team, wid, {"run_input": START})
    assert (
        first["has_background_work"] is True and first["has_active_companions"] is True
    )
    rid = first["run_id"]
    seen = 0
    pumped: dict[str, Any] = {}
    for _ in range(6):
        response = await team.client.post(
            f"/v1/workflows/{wid}/runs/{rid}/pump-companions", json={}
        )
        assert response.status_code == 200, response.text
        pumped = response.json()
        seen += sum(1 for e in pumped["events"] if e["type"] == "start_node_run")
        assert pumped["turn_number"] == 1
        if not pumped["has_background_work"]:
            break
    assert seen == 2
    assert pumped["has_active_companions"] is False
    other = await team.client.post(
        f"/v1/workflows/{wid}/runs/5eb7cf5a86d9755df3a6c593/pump-companions", json={}
    )
    assert other.status_code == 404


async def test_a_super_node_runs_its_published_sub_workflow_inline(team: Team):
    child = await new_workflow(
        team,
        {
            "name": "Child",
            "workflow_config": {},
            "node_configs": [
                static_node("node_a", "child says {{topic}}", is_start=True),
                static_node("node_b", "child done"),
            ],
            "edge_configs": [edge("edge_ab", "node_a", "node_b")],
        },
    )
    interface = {
        "input_fields": [
            {
                "name": "topic",
                "value_type": "string",
                "mappings": [
                    {"target_type": "dynamic_variable", "target_variable_name": "topic"}
                ],
            }
        ]
    }
    parent = await new_workflow(
        team,
        {
            "name": "Parent",
            "workflow_config": {},
            "node_configs": [
                static_node("node_hi", "parent hi", is_start=True),
                {
                    "type": "super_node",
                    "logical_id": "node_sub",
                    "name": "Sub",
                    "super_workflow_id": child,
                    "super_node_interface": interface,
                    "field_values": {"topic": "billing"},
                },
                static_node("node_bye", "parent bye"),
            ],
            "edge_configs": [
                edge("edge_in", "node_hi", "node_sub"),
                edge("edge_out", "node_sub", "node_bye"),
            ],
        },
    )
    turn = await execute(team, parent, {"run_input": START})
    assert spoken(turn) == [
        "parent hi",
        "child says billing",
        "child done",
        "parent bye",
    ]
    assert turn["status"] == "completed"
    assert_wire_events(turn["events"])
    missing = await new_workflow(
        team,
        {
            "name": "Broken",
            "workflow_config": {},
            "node_configs": [
                {
                    "type": "super_node",
                    "logical_id": "node_s",
                    "is_start": True,
                    "super_workflow_id": "5eb7cf5a86d9755df3a6c593",
                }
            ],
            "edge_configs": [],
        },
    )
    refused = await team.client.post(
        f"/v1/workflows/{missing}/execute", json={"run_input": START}
    )
    assert refused.status_code == 404
    assert "5eb7cf5a86d9755df3a6c593" in refused.json()["message"]


async def test_api_keys_in_a_run_snapshot_never_come_back_in_clear(
    team: Team, llm: ScriptedLLM
):
    body = chat_workflow()
    body["node_configs"][1]["llms_config"] = {
        "type": "openai_llm",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "api_key": "sk-team-secret-9f8e7d6c",
    }
    wid = await new_workflow(team, body)
    first = await execute(team, wid, {"run_input": START})
    llm.extend("hello")
    await execute(team, wid, {"run_id": first["run_id"], "run_input": says("hi")})
    assert llm.requests[0].llm_config["api_key"] == "sk-team-secret-9f8e7d6c"
    response = await team.client.get(f"/v1/workflow-runs/{first['run_id']}")
    assert "sk-team-secret-9f8e7d6c" not in response.text
    snapshot = response.json()["workflow_run"]["workflow_run"][
        "workflow_config_fully_hydrated"
    ]
    assert snapshot["node_configs"][1]["llms_config"]["api_key"].endswith("6c")


async def test_an_unexpected_failure_mid_turn_fails_the_run_by_the_safety_net(
    team: Team, runtime: Any
):
    wid = await new_workflow(team)
    first = await execute(team, wid, {"run_input": START})

    class Boom(BaseException):
        """Not an Exception: no executor or handler catches it."""

    class Exploding:
        async def chat(self, request: Any) -> Any:
            raise Boom

    runtime.llm = Exploding()
    with pytest.raises(Boom):
        await team.client.post(
            f"/v1/workflows/{wid}/execute",
            json={"run_id": first["run_id"], "run_input": says("hi")},
        )
    response = await team.client.get(f"/v1/workflow-runs/{first['run_id']}")
    run = response.json()["workflow_run"]["workflow_run"]
    assert run["status"] == "failed"
    assert run["termination_source"] == "finally_safety_net"


async def test_a_rejected_first_turn_leaves_no_run_behind(team: Team):
    wid = await new_workflow(team)
    bad = await team.client.post(
        f"/v1/workflows/{wid}/execute",
        json={"run_input": {**START, "start_node_logical_id": "nowhere"}},
    )
    assert bad.status_code == 422
    assert (
        await team.client.get("/v1/workflow-runs", params={"workflow_id": wid})
    ).json()["total"] == 0
