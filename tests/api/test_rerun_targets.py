"""Re-runs onto another version or workflow: REMAPPED and PORTABLE (no LLM replay)."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from tests.api.conftest import Team
from tests.api.test_execute import START, chat_workflow, execute, new_workflow, says
from tests.api.test_reruns import _run, _texts, _three_turn_run
from tests.api.test_stream import (  # noqa: F401 (fixtures)
    create_workflow,
    make_app,
    socket,
    team_on,
    teardown_turns,
)
from tests.api.test_upgrades import NEW_PROMPT, _version, _with_prompt
from tests.factories import edge, say_node, static_node
from threadline.providers.fake import ScriptedLLM, tool_call
from threadline.service.caller import Caller
from threadline.service.running import reruns
from threadline.service.running.reruns import tokens as rerun_tokens
from threadline.service.runtime import Runtime
from threadline.settings import Settings
from threadline.store import Query, Store

HELPER_PROMPT = "You are the front desk of {{clinic}} helping {{patient}}."


def other_workflow() -> dict[str, Any]:
    """Another workflow: none of its node ids or names is the chat workflow's."""
    return {
        "name": "Front desk",
        "workflow_config": {
            "miscellaneous": {"default_dynamic_variables": {"clinic": "Eastside"}}
        },
        "node_configs": [
            static_node("node_welcome", "Front desk here.", is_start=True),
            say_node("node_helper", prompt=HELPER_PROMPT),
            static_node("node_exit", "See you."),
        ],
        "edge_configs": [
            edge("edge_welcome", "node_welcome", "node_helper"),
            edge(
                "edge_exit",
                "node_helper",
                "node_exit",
                type="conditional",
                condition={"condition_freeform": "The user is done"},
            ),
        ],
    }


FULL_MAP = {
    "node_greet": "node_welcome",
    "node_chat": "node_helper",
    "node_bye": "node_exit",
}


def _system(llm: ScriptedLLM) -> str:
    return " ".join(
        str(m.content) for m in llm.requests[-1].messages if m.role == "system"
    )


def _chat(llm: ScriptedLLM) -> list[str]:
    return [str(m.content) for m in llm.requests[-1].messages if m.role != "system"]


async def _rerun(
    team: Team, run_id: str, turn: int, body: dict[str, Any], *, kind: str = "rerun"
) -> Any:
    return await team.client.post(
        f"/v1/workflow-runs/{run_id}/turns/{turn}/{kind}",
        params={"async": "false"} if kind == "rerun" else None,
        json=body,
    )


async def test_a_rerun_onto_a_new_version_answers_with_its_prompt_and_the_carried_history(
    team: Team, llm: ScriptedLLM
) -> None:
    wid, run_id = await _three_turn_run(team, llm)
    v1 = await _version(team, wid, _with_prompt(NEW_PROMPT))
    llm.extend("Tuesday works")

    flight = await _rerun(
        team, run_id, 1, {"target_version_number": v1}, kind="rerun-preflight"
    )
    started = await _rerun(
        team,
        run_id,
        1,
        {"target_version_number": v1, "message": "next Tuesday instead"},
    )

    assert flight.status_code == 200, flight.text
    report = flight.json()
    assert report["resolved_mode"] == "REMAPPED"
    assert report["is_resumable"] is True and report["not_resumable_reason"] is None
    assert {m["matched_by"] for m in report["node_matches"]} == {"identity"}
    assert report["carries_over"]["message_count"] == 3
    assert started.status_code == 200, started.text
    assert started.json()["resolved_mode"] == "REMAPPED"
    assert "You help VIP patients of Northside." in _system(llm)
    assert _chat(llm) == [
        "Welcome to Northside, Ann!",
        "hello",
        "Hi there",
        "next Tuesday instead",
    ]
    rerun = await _run(team, started.json()["workflow_run_id"])
    assert (rerun["workflow_id"], rerun["version_number"]) == (wid, v1)
    assert rerun["source_workflow_run_id"] == run_id
    assert rerun["checkpoint_source_turn_index"] == 1
    assert rerun["miscellaneous"]["rerun"] == {
        "mode": "REMAPPED",
        "history_mode": "USER_AND_ASSISTANT_ONLY",
        "edited": False,
    }
    chat = next(
        n
        for n in rerun["workflow_config_fully_hydrated"]["node_configs"]
        if n["logical_id"] == "node_chat"
    )
    assert chat["main_response_config"]["prompt"] == NEW_PROMPT
    assert _texts(rerun)[-1] == "Tuesday works"
    lineage = await team.client.get(
        "/v1/workflow-runs",
        params={"source_workflow_run_id": run_id, "source_turn_index": 1},
    )
    listed = [r["_id"] for r in lineage.json()["workflow_runs"]]
    assert listed == [started.json()["workflow_run_id"]]


async def test_a_node_id_map_remaps_a_rerun_onto_another_workflow(
    team: Team, llm: ScriptedLLM
) -> None:
    _, run_id = await _three_turn_run(team, llm)
    other = await new_workflow(team, other_workflow())
    llm.extend("Front desk: Tuesday it is")

    started = await _rerun(
        team,
        run_id,
        1,
        {
            "target_workflow_id": other,
            "node_id_map": FULL_MAP,
            "history_mode": "FULL",
            "requested_mode": "REMAPPED",
            "message": "next Tuesday",
        },
    )

    assert started.status_code == 200, started.text
    assert started.json()["resolved_mode"] == "REMAPPED"
    # The run's own dynamic variables win over the target's defaults.
    assert "front desk of Northside helping Ann" in _system(llm)
    assert _chat(llm)[-2:] == ["Hi there", "next Tuesday"]
    rerun = await _run(team, started.json()["workflow_run_id"])
    assert rerun["workflow_id"] == other
    assert rerun["miscellaneous"]["rerun"]["history_mode"] == "FULL"
    listed = await team.client.get("/v1/workflow-runs", params={"workflow_id": other})
    assert listed.json()["total"] == 1


async def test_a_portable_rerun_waits_at_the_entry_node_with_the_variables_only(
    team: Team, llm: ScriptedLLM
) -> None:
    _, run_id = await _three_turn_run(team, llm)
    other = await new_workflow(team, other_workflow())
    llm.extend("Hello Ann")

    flight = await _rerun(
        team, run_id, 1, {"target_workflow_id": other}, kind="rerun-preflight"
    )
    started = await _rerun(
        team,
        run_id,
        1,
        {
            "target_workflow_id": other,
            "entry_node_logical_id": "node_helper",
            "history_mode": "NONE",
            "message": "hi again",
        },
    )

    report = flight.json()
    assert report["resolved_mode"] == "PORTABLE" and report["is_resumable"] is True
    assert report["entry_node_logical_id"] == "node_welcome"  # the target's start
    assert report["suggested_entry_nodes"] == ["node_welcome"]
    assert any("start node 'node_welcome'" in w for w in report["warnings"])
    assert sorted(report["dropped"]["node_ids"]) == [
        "node_bye",
        "node_chat",
        "node_greet",
    ]
    assert started.status_code == 200, started.text
    body = started.json()
    assert (body["resolved_mode"], body["entry_node_logical_id"]) == (
        "PORTABLE",
        "node_helper",
    )
    assert "front desk of Northside helping Ann" in _system(llm)
    assert _chat(llm) == ["hi again"]  # NONE: same facts, fresh conversation
    rerun = await _run(team, body["workflow_run_id"])
    assert rerun["status"] == "waiting_for_user_input"
    assert rerun["miscellaneous"]["rerun"]["mode"] == "PORTABLE"


async def test_a_portable_rerun_of_an_ended_run_parks_and_continues_on_the_target(
    team: Team, llm: ScriptedLLM
) -> None:
    llm.extend("Hi there", tool_call("Destination_Node__node_bye"))
    wid = await new_workflow(team)
    first = await execute(
        team, wid, {"run_input": {**START, "dynamic_variables": {"patient": "Ann"}}}
    )
    run_id = first["run_id"]
    await execute(team, wid, {"run_id": run_id, "run_input": says("hello")})
    assert (await execute(team, wid, {"run_id": run_id, "run_input": says("bye")}))[
        "is_completed"
    ]
    other = await new_workflow(team, other_workflow())
    calls = len(llm.requests)

    parked = await _rerun(
        team,
        run_id,
        2,
        {"target_workflow_id": other, "entry_node_logical_id": "node_helper"},
    )
    llm.extend("Welcome back")
    answer = await execute(
        team,
        other,
        {"run_id": parked.json()["workflow_run_id"], "run_input": says("back again")},
    )

    assert parked.status_code == 200, parked.text
    assert parked.json()["status"] == "waiting_for_user_input"
    assert len(llm.requests) == calls + 1  # nothing ran until the message
    assert answer["status"] == "waiting_for_user_input"
    assert "front desk of Northside helping Ann" in _system(llm)
    assert _chat(llm) == [
        "Welcome to Northside, Ann!",
        "hello",
        "Hi there",
        "bye",
        "Goodbye!",
        "back again",
    ]


async def test_tokens_carry_a_remapped_projection_and_refuse_a_changed_target(
    team: Team, llm: ScriptedLLM, store: Store, runtime: Runtime
) -> None:
    wid, run_id = await _three_turn_run(team, llm)
    v1 = await _version(team, wid, _with_prompt(NEW_PROMPT))
    owner = Caller(team.team_id, team.user_id)
    target = {"target_version_number": v1}
    minted = await _rerun(team, run_id, 1, target, kind="rerun-token")
    stale = await _rerun(team, run_id, 1, target, kind="rerun-token")
    token = minted.json()["rerun_token"]
    preview = await team.client.get(
        f"/v1/workflow-runs/{run_id}/turns/1/rerun-token/{token}"
    )

    doc = await rerun_tokens.start_from_token(
        store, owner, runtime, token, workflow_id=wid, version_number=v1
    )
    llm.extend("VIP answer")
    await execute(team, wid, {"run_id": doc.id, "run_input": says("and now?")})
    await _version(team, wid, _with_prompt("Changed again."))  # version 2, not 1
    patched = await team.client.patch(
        f"/v1/workflows/{wid}/versions/{v1}/config",
        json={"config": _with_prompt("Changed.")},
    )
    with pytest.raises(reruns.RerunTokenInvalid) as refused:
        await rerun_tokens.start_from_token(
            store, owner, runtime, stale.json()["rerun_token"]
        )

    assert minted.status_code == 200, minted.text
    assert minted.json()["resolved_mode"] == "REMAPPED"
    assert minted.json()["target_version_number"] == v1
    assert preview.json()["threads"][0]["node_logical_id"] == "node_chat"
    assert preview.json()["target_version_number"] == v1
    rerun = await _run(team, doc.id)
    assert rerun["version_number"] == v1
    assert rerun["miscellaneous"]["rerun"] == {
        "mode": "REMAPPED",
        "history_mode": "USER_AND_ASSISTANT_ONLY",
        "edited": False,
    }
    assert "You help VIP patients of Northside." in _system(llm)
    assert patched.status_code == 200, patched.text
    assert "changed since the token was minted" in refused.value.message
    assert await reruns.rerun_ids(store, owner, run_id) == (doc.id,)


async def _nothing_created(team: Team, store: Store, runs: int) -> None:
    listed = await team.client.get("/v1/workflow-runs")
    assert listed.json()["total"] == runs
    async with store.begin() as tx:
        tokens, _ = await tx.documents(rerun_tokens.TOKEN_KIND).find(
            team.team_id, Query()
        )
    assert tokens == []


async def test_bad_targets_name_the_field_and_create_nothing(
    team: Team, other_team: Team, llm: ScriptedLLM, store: Store
) -> None:
    wid, run_id = await _three_turn_run(team, llm)
    v1 = await _version(team, wid, _with_prompt(NEW_PROMPT))
    other = await new_workflow(team, other_workflow())
    foreign = await new_workflow(other_team, other_workflow())
    cases: list[tuple[dict[str, Any], int, str, str]] = [
        (
            {"target_workflow_id": "f" * 24},
            404,
            "rerun_target_not_found",
            "target_workflow_id",
        ),
        (
            {"target_workflow_id": foreign},
            404,
            "rerun_target_not_found",
            "target_workflow_id",
        ),
        (
            {"target_version_number": 9},
            404,
            "rerun_target_not_found",
            "target_version_number",
        ),
        (
            {"target_version_number": v1, "entry_node_logical_id": "node_nope"},
            422,
            "validation_error",
            "entry_node_logical_id",
        ),
        (
            {"target_workflow_id": other, "node_id_map": {"node_chat": "node_nope"}},
            422,
            "validation_error",
            "node_id_map.node_chat",
        ),
        (
            {"target_workflow_id": other, "node_id_map": {"node_zzz": "node_helper"}},
            422,
            "validation_error",
            "node_id_map.node_zzz",
        ),
        (
            {"target_version_number": v1, "requested_mode": "EXACT"},
            409,
            "rerun_mode_unavailable",
            "requested_mode",
        ),
        (
            {"target_workflow_id": other, "requested_mode": "REMAPPED"},
            409,
            "rerun_mode_unavailable",
            "requested_mode",
        ),
    ]
    runs = (await team.client.get("/v1/workflow-runs")).json()["total"]

    for body, status, code, name in cases:
        for kind in ("rerun", "rerun-token"):
            answer = await _rerun(
                team,
                run_id,
                1,
                {**body, "message": "hi"} if kind == "rerun" else body,
                kind=kind,
            )
            assert (answer.status_code, answer.json()["code"]) == (status, code), (
                kind,
                body,
                answer.text,
            )
            assert answer.json()["message"].startswith(name), answer.text

    await _nothing_created(team, store, runs)
    flight = await _rerun(
        team,
        run_id,
        1,
        {"target_workflow_id": other, "requested_mode": "REMAPPED"},
        kind="rerun-preflight",
    )
    assert flight.json()["is_resumable"] is False
    assert flight.json()["not_resumable_reason"].startswith("requested_mode")


async def test_a_rerun_takes_a_slot_of_the_target_workflow(
    team: Team, llm: ScriptedLLM, store: Store
) -> None:
    _, run_id = await _three_turn_run(team, llm)
    other = await new_workflow(team, other_workflow())
    await execute(team, other, {"run_input": START})  # waits at node_helper
    await team.client.patch(
        f"/v1/workflows/{other}/concurrency", json={"max_concurrent_runs": 1}
    )
    runs = (await team.client.get("/v1/workflow-runs")).json()["total"]

    refused = await _rerun(team, run_id, 1, {"target_workflow_id": other})
    await team.client.patch(
        f"/v1/workflows/{other}/concurrency", json={"max_concurrent_runs": 2}
    )
    admitted = await _rerun(team, run_id, 1, {"target_workflow_id": other})

    assert refused.status_code == 429 and refused.json()["code"] == "concurrency_limit"
    assert admitted.status_code == 200, admitted.text
    listed = await team.client.get("/v1/workflow-runs")
    assert listed.json()["total"] == runs + 1


@pytest.mark.usefixtures("teardown_turns")
async def test_a_portable_token_is_redeemed_on_the_socket_of_the_target_workflow(
    make_app: Callable[[Any], FastAPI],  # noqa: F811 (the fixture)
    store: Store,
    settings: Settings,
) -> None:
    app = make_app(ScriptedLLM(["Hi there", "Front desk: hello Ann"]))
    team = await team_on(app, store, settings)
    wid = await create_workflow(team, chat_workflow())
    other = await create_workflow(team, other_workflow())
    first = await execute(
        team, wid, {"run_input": {**START, "dynamic_variables": {"patient": "Ann"}}}
    )
    run_id = str(first["run_id"])
    await execute(team, wid, {"run_id": run_id, "run_input": says("hello")})
    minted = await _rerun(
        team,
        run_id,
        1,
        {"target_workflow_id": other, "entry_node_logical_id": "node_helper"},
        kind="rerun-token",
    )
    token = minted.json()["rerun_token"]
    frame = {**says("still there?"), "workflow_id": other, "rerun_token": token}

    async with socket(app, team) as ws:
        await ws.send({**frame, "workflow_id": wid})  # minted for the other one
        closed = await ws.closed()
    async with socket(app, team) as ws:
        await ws.send(frame)
        frames = await ws.until("workflow_ready_for_input", "workflow_error")

    assert minted.json()["resolved_mode"] == "PORTABLE"
    assert minted.json()["target_workflow_id"] == other
    assert closed.code == 4007 and "another workflow" in closed.reason
    assert frames[-1]["type"] == "workflow_ready_for_input", frames
    assert "Front desk: hello Ann" in [f.get("content") for f in frames]
    llm = app.state.runtime.llm
    assert "front desk of Northside helping Ann" in _system(llm)
    assert _chat(llm) == [
        "Welcome to Northside, Ann!",
        "hello",
        "Hi there",
        "still there?",
    ]
    rerun = await _run(team, frames[-1]["workflow_run_id"])
    assert rerun["workflow_id"] == other
    assert rerun["source_workflow_run_id"] == run_id
    assert rerun["miscellaneous"]["rerun"]["mode"] == "PORTABLE"
    await team.client.aclose()
