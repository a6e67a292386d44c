"""Re-runs: a new run from a turn of an existing run, rebuilt by replay (no LLM)."""

import asyncio
import dataclasses
import hashlib
import json
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.api.conftest import Team
from tests.api.test_execute import START, execute, new_workflow, says
from tests.factories import edge, say_node, static_node
from threadline.api.app import create_app
from threadline.ids import new_object_id
from threadline.providers.fake import ScriptedLLM, tool_call
from threadline.service.caller import Caller
from threadline.service.running import reruns
from threadline.service.running.reruns import tokens as rerun_tokens
from threadline.service.runtime import Runtime
from threadline.settings import Settings
from threadline.store import Document, Query, Store


async def _three_turn_run(team: Team, llm: ScriptedLLM) -> tuple[str, str]:
    """greet + wait | "hello" → "Hi there" | "more please" → "Sure thing"."""
    llm.extend("Hi there", "Sure thing")
    wid = await new_workflow(team)
    first = await execute(
        team, wid, {"run_input": {**START, "dynamic_variables": {"patient": "Ann"}}}
    )
    run_id = str(first["run_id"])
    await execute(team, wid, {"run_id": run_id, "run_input": says("hello")})
    await execute(team, wid, {"run_id": run_id, "run_input": says("more please")})
    return wid, run_id


async def _run(team: Team, run_id: str) -> dict[str, Any]:
    response = await team.client.get(f"/v1/workflow-runs/{run_id}")
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()["workflow_run"]["workflow_run"]
    return run


def _texts(run: dict[str, Any]) -> list[str]:
    return [
        e["content"]
        for pair in run["input_output_pairs"]
        for e in pair["run_output"]["events"]
        if e["type"] == "assistant_response"
    ]


async def test_a_rerun_restores_an_earlier_turn_without_calling_the_llm(
    team: Team, llm: ScriptedLLM
) -> None:
    _, run_id = await _three_turn_run(team, llm)
    calls_before = len(llm.requests)

    response = await team.client.post(
        f"/v1/workflow-runs/{run_id}/turns/1/rerun", params={"async": "false"}
    )

    assert response.status_code == 200, response.text
    started = response.json()
    assert started["resolved_mode"] == "EXACT"
    assert started["workflow_run_id"] != run_id
    assert len(llm.requests) == calls_before  # turns 0 and 1 were replayed
    rerun = await _run(team, started["workflow_run_id"])
    assert rerun["source_workflow_run_id"] == run_id
    assert rerun["checkpoint_source_turn_index"] == 1
    assert rerun["status"] == "waiting_for_user_input"
    assert len(rerun["input_output_pairs"]) == 2
    assert _texts(rerun) == ["Welcome to Northside, Ann!", "Hi there"]
    carried = rerun["carried_over_llm_token_usage"]
    assert carried["call_count"] == 1  # turn 1's reply; turn 2's is not carried
    assert rerun["carried_over_llm_latency_stats"]["call_count"] == 1
    assert rerun["llm_token_usage"] is None


async def test_a_rerun_continues_from_the_checkpoint_with_a_new_message(
    team: Team, llm: ScriptedLLM
) -> None:
    _, run_id = await _three_turn_run(team, llm)
    llm.extend("Tuesday works")
    calls_before = len(llm.requests)

    response = await team.client.post(
        f"/v1/workflow-runs/{run_id}/turns/1/rerun",
        params={"async": "false"},
        json={"message": "next Tuesday instead"},
    )

    assert response.status_code == 200, response.text
    assert len(llm.requests) == calls_before + 1  # only the new turn's reply
    seen = [m.content for m in llm.requests[-1].messages]
    assert "hello" in seen and "Hi there" in seen
    assert "more please" not in seen and "Sure thing" not in seen
    rerun = await _run(team, response.json()["workflow_run_id"])
    assert _texts(rerun)[-1] == "Tuesday works"
    assert len(rerun["input_output_pairs"]) == 3
    assert rerun["llm_token_usage"]["call_count"] == 1  # its own call only
    assert rerun["carried_over_llm_token_usage"]["call_count"] == 1
    source = await _run(team, run_id)
    assert _texts(source)[-1] == "Sure thing"  # the source run is untouched


async def test_turns_report_rerunnability_counts_and_lineage(
    team: Team, llm: ScriptedLLM
) -> None:
    _, run_id = await _three_turn_run(team, llm)
    await team.client.post(f"/v1/workflow-runs/{run_id}/turns/1/rerun")

    turns = await team.client.get(f"/v1/workflow-runs/{run_id}/rerunnable-turns")

    assert turns.status_code == 200, turns.text
    assert [
        (t["turn_index"], t["rerunnable"], t["rerun_count"])
        for t in turns.json()["turns"]
    ] == [(0, True, 0), (1, True, 1), (2, True, 0)]
    listed = await team.client.get(
        "/v1/workflow-runs", params={"source_workflow_run_id": run_id}
    )
    assert listed.json()["total"] == 1
    for index, total in ((1, 1), (0, 0)):
        narrowed = await team.client.get(
            "/v1/workflow-runs",
            params={"source_workflow_run_id": run_id, "source_turn_index": index},
        )
        assert narrowed.json()["total"] == total


async def test_replay_follows_an_llm_chosen_edge_to_the_end_of_a_run(
    team: Team, llm: ScriptedLLM
) -> None:
    llm.extend("Hi there", tool_call("Destination_Node__node_bye"))
    wid = await new_workflow(team)
    first = await execute(team, wid, {"run_input": START})
    run_id = first["run_id"]
    await execute(team, wid, {"run_id": run_id, "run_input": says("hello")})
    last = await execute(team, wid, {"run_id": run_id, "run_input": says("bye")})
    assert last["is_completed"]

    turns = await team.client.get(f"/v1/workflow-runs/{run_id}/rerunnable-turns")
    preflight = await team.client.post(
        f"/v1/workflow-runs/{run_id}/turns/1/rerun-preflight", json={}
    )
    ended = await team.client.post(
        f"/v1/workflow-runs/{run_id}/turns/2/rerun",
        params={"async": "false"},
        json={"message": "hello again"},
    )

    assert all(t["rerunnable"] for t in turns.json()["turns"]), turns.text
    body = preflight.json()
    assert body["rerunnable"] and body["resolved_mode"] == "EXACT"
    assert {m["matched_by"] for m in body["node_matches"]} == {"identity"}
    assert body["carries_over"]["message_count"] == 3  # greeting, hello, Hi there
    assert ended.status_code == 409  # the run had ended at turn 2
    assert ended.json()["code"] == "rerun_not_waiting"


async def test_tokens_preview_and_amend_the_projection(
    team: Team, llm: ScriptedLLM
) -> None:
    _, run_id = await _three_turn_run(team, llm)
    base = f"/v1/workflow-runs/{run_id}/turns/1/rerun-token"

    minted = await team.client.post(base, json={})
    token = minted.json()["rerun_token"]
    preview = await team.client.get(f"{base}/{token}")
    amended = await team.client.patch(
        f"{base}/{token}",
        json={
            "message_edits": [{"thread_id": "0", "index": 1, "text": "hi!"}],
            "message_appends": [{"thread_id": "0", "role": "user", "text": "also"}],
        },
    )
    typo = await team.client.patch(f"{base}/{token}", json={"message_edit": []})

    assert minted.status_code == 200, minted.text
    assert minted.json()["restored_message_count"] == 3
    assert token not in preview.text  # a credential is never echoed
    shown = preview.json()["threads"][0]["messages"]
    assert [m["text"] for m in shown] == [
        "Welcome to Northside, Ann!",
        "hello",
        "Hi there",
    ]
    assert preview.json()["edited"] is False
    assert amended.status_code == 200, amended.text
    assert amended.json()["edited"] is True
    assert amended.json()["effective_mode"] == "EDITED"
    texts = [m["text"] for m in amended.json()["threads"][0]["messages"]]
    assert texts == ["Welcome to Northside, Ann!", "hi!", "Hi there", "also"]
    assert typo.status_code == 422
    assert "message_edit" in typo.json()["message"]


async def test_another_teams_run_is_not_found(
    team: Team, other_team: Team, llm: ScriptedLLM
) -> None:
    _, run_id = await _three_turn_run(team, llm)
    base = f"/v1/workflow-runs/{run_id}"

    answers = [
        await other_team.client.get(f"{base}/rerunnable-turns"),
        await other_team.client.post(f"{base}/turns/0/rerun-preflight"),
        await other_team.client.post(f"{base}/turns/0/rerun-token"),
        await other_team.client.post(f"{base}/turns/0/rerun"),
    ]

    assert [a.status_code for a in answers] == [404, 404, 404, 404]
    token = (await team.client.post(f"{base}/turns/0/rerun-token")).json()
    peek = await other_team.client.get(
        f"{base}/turns/0/rerun-token/{token['rerun_token']}"
    )
    assert peek.status_code in (400, 404)


async def test_a_bad_turn_index_names_the_field(team: Team, llm: ScriptedLLM) -> None:
    _, run_id = await _three_turn_run(team, llm)

    past_end = await team.client.post(f"/v1/workflow-runs/{run_id}/turns/3/rerun")
    negative = await team.client.post(
        f"/v1/workflow-runs/{run_id}/turns/-1/rerun-preflight"
    )
    bad_mode = await team.client.post(
        f"/v1/workflow-runs/{run_id}/turns/0/rerun",
        json={"history_mode": "SOME"},
    )

    assert past_end.status_code == 422
    assert past_end.json()["code"] == "validation_error"
    assert "turn_index" in past_end.json()["message"]
    assert negative.status_code == 422
    assert "turn_index" in negative.json()["message"]
    assert bad_mode.status_code == 422
    assert "history_mode" in bad_mode.json()["message"]


async def test_runs_with_companion_threads_and_pumps_replay(
    team: Team, llm: ScriptedLLM
) -> None:
    poller = {
        "type": "no_op",
        "logical_id": "node_poll",
        "name": "Poll",
        "self_loop_config": {
            "enabled": True,
            "max_retries": 2,
            "time_between_retries": 1,
        },
    }
    body = {
        "name": "Poller",
        "workflow_config": {},
        "node_configs": [
            static_node("node_greet", "Hi", is_start=True),
            say_node("node_chat"),
            poller,
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
    run_id = (await execute(team, wid, {"run_input": START}))["run_id"]
    for _ in range(6):  # some passes find nothing due and leave no segment
        pumped = await team.client.post(
            f"/v1/workflows/{wid}/runs/{run_id}/pump-companions", json={}
        )
        if not pumped.json()["has_background_work"]:
            break
    llm.extend("Hello!", "Hello again!")
    await execute(team, wid, {"run_id": run_id, "run_input": says("hi")})
    source = await _run(team, run_id)
    pumps = len(source["input_output_pairs"]) - 2
    assert pumps >= 1

    turns = await team.client.get(f"/v1/workflow-runs/{run_id}/rerunnable-turns")
    calls = len(llm.requests)
    rerun = await team.client.post(
        f"/v1/workflow-runs/{run_id}/turns/{pumps}/rerun",
        params={"async": "false"},
        json={"message": "hi"},
    )

    assert all(t["rerunnable"] for t in turns.json()["turns"]), turns.text
    assert rerun.status_code == 200, rerun.text
    assert len(llm.requests) == calls + 1
    replayed = await _run(team, rerun.json()["workflow_run_id"])
    assert _texts(replayed) == ["Hi", "Hello again!"]


async def test_a_token_starts_its_run_once_and_only_for_its_team(
    team: Team, llm: ScriptedLLM, store: Store, runtime: Runtime
) -> None:
    _, run_id = await _three_turn_run(team, llm)
    base = f"/v1/workflow-runs/{run_id}/turns/1/rerun-token"
    token = (await team.client.post(base)).json()["rerun_token"]
    await team.client.patch(
        f"{base}/{token}", json={"message_deletes": [{"thread_id": "0", "index": 2}]}
    )
    owner = Caller(team.team_id, team.user_id)

    with pytest.raises(reruns.RerunTokenInvalid):
        await rerun_tokens.start_from_token(
            store, Caller(new_object_id(), new_object_id()), runtime, token
        )
    doc = await rerun_tokens.start_from_token(store, owner, runtime, token)
    with pytest.raises(reruns.RerunTokenInvalid):
        await rerun_tokens.start_from_token(store, owner, runtime, token)

    started = await _run(team, doc.id)
    assert started["source_workflow_run_id"] == run_id
    assert started["checkpoint_source_turn_index"] == 1
    assert started["miscellaneous"]["rerun"] == {
        "edited": True,
        "mode": "EXACT",
        "history_mode": "FULL",
    }
    history = doc.body["state"]["threads"]["0"]["history"]
    assert "Hi there" not in [m.get("content") for m in history]  # deleted


class _Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


async def _second_process(
    store: Store, settings: Settings, team: Team, clock: Callable[[], float]
) -> tuple[httpx.AsyncClient, Runtime]:
    """Another app instance (its own Runtime, no shared memory) on the same store."""
    runtime = Runtime(llm=ScriptedLLM(), clock=clock, rng=random.Random(3))
    app = create_app(settings, store=store, runtime=runtime)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {team.key}"},
    )
    return client, runtime


async def test_a_token_minted_by_one_process_is_previewed_amended_and_redeemed_by_another(
    team: Team, llm: ScriptedLLM, store: Store, settings: Settings, runtime: Runtime
) -> None:
    _, run_id = await _three_turn_run(team, llm)
    base = f"/v1/workflow-runs/{run_id}/turns/1/rerun-token"
    token = (await team.client.post(base)).json()["rerun_token"]
    other, other_runtime = await _second_process(store, settings, team, _Clock())
    owner = Caller(team.team_id, team.user_id)

    preview = await other.get(f"{base}/{token}")
    amended = await other.patch(
        f"{base}/{token}", json={"dynamic_variables": {"patient": "Bo"}}
    )
    seen_by_minter = await team.client.get(f"{base}/{token}")
    doc = await rerun_tokens.start_from_token(store, owner, other_runtime, token)
    again = await team.client.get(f"{base}/{token}")
    with pytest.raises(reruns.RerunTokenInvalid):
        await rerun_tokens.start_from_token(store, owner, runtime, token)
    await other.aclose()

    assert preview.status_code == 200, preview.text
    assert [m["text"] for m in preview.json()["threads"][0]["messages"]][-1] == (
        "Hi there"
    )
    assert amended.status_code == 200, amended.text
    assert seen_by_minter.json()["edited"] is True  # the amendment is shared
    assert seen_by_minter.json()["dynamic_variables"]["patient"] == "Bo"
    assert doc.body["state"]["dynamic"]["patient"] == "Bo"
    started = await _run(team, doc.id)
    assert started["source_workflow_run_id"] == run_id
    assert started["miscellaneous"]["rerun"] == {
        "edited": True,
        "mode": "EXACT",
        "history_mode": "FULL",
    }
    assert again.status_code == 400
    assert again.json()["code"] == "rerun_token_invalid"  # redeemed: gone everywhere
    assert await reruns.rerun_ids(store, owner, run_id, 1) == (doc.id,)


async def test_two_processes_redeeming_one_token_at_once_start_one_run(
    team: Team, llm: ScriptedLLM, store: Store, settings: Settings, runtime: Runtime
) -> None:
    _, run_id = await _three_turn_run(team, llm)
    base = f"/v1/workflow-runs/{run_id}/turns/1/rerun-token"
    token = (await team.client.post(base)).json()["rerun_token"]
    other, other_runtime = await _second_process(store, settings, team, _Clock())
    await other.aclose()
    owner = Caller(team.team_id, team.user_id)

    results = await asyncio.gather(
        rerun_tokens.start_from_token(store, owner, runtime, token),
        rerun_tokens.start_from_token(store, owner, other_runtime, token),
        return_exceptions=True,
    )

    started = [r for r in results if isinstance(r, Document)]
    refused = [r for r in results if isinstance(r, reruns.RerunTokenInvalid)]
    assert len(started) == 1 and len(refused) == 1, results
    assert await reruns.rerun_ids(store, owner, run_id) == (started[0].id,)


async def test_an_expired_token_is_refused_and_forgotten(
    team: Team, llm: ScriptedLLM, store: Store, settings: Settings
) -> None:
    _, run_id = await _three_turn_run(team, llm)
    base = f"/v1/workflow-runs/{run_id}/turns/1/rerun-token"
    clock = _Clock()
    other, other_runtime = await _second_process(store, settings, team, clock)
    token = (await other.post(base)).json()["rerun_token"]
    owner = Caller(team.team_id, team.user_id)
    live = await other.get(f"{base}/{token}")

    clock.now += reruns.TOKEN_TTL_S
    expired = await other.get(f"{base}/{token}")
    afterwards = await other.patch(f"{base}/{token}", json={})
    await other.aclose()

    assert live.status_code == 200, live.text
    assert live.json()["expires_in_seconds"] == reruns.TOKEN_TTL_S
    assert expired.status_code == 400
    assert expired.json()["code"] == "rerun_token_invalid"
    assert "expired" in expired.json()["message"]
    assert afterwards.json()["code"] == "rerun_token_invalid"  # deleted lazily
    assert "unknown" in afterwards.json()["message"]
    with pytest.raises(reruns.RerunTokenInvalid):
        await rerun_tokens.start_from_token(store, owner, other_runtime, token)
    async with store.begin() as tx:
        rows, _ = await tx.documents(rerun_tokens.TOKEN_KIND).find(
            team.team_id, Query()
        )
    assert rows == []


async def test_the_database_holds_a_digest_of_the_token_never_the_token(
    team: Team, llm: ScriptedLLM, store: Store
) -> None:
    _, run_id = await _three_turn_run(team, llm)
    base = f"/v1/workflow-runs/{run_id}/turns/1/rerun-token"
    token = (await team.client.post(base)).json()["rerun_token"]

    async with store.begin() as tx:
        rows, _ = await tx.documents(rerun_tokens.TOKEN_KIND).find(
            team.team_id, Query()
        )

    assert len(rows) == 1
    row = json.dumps(dataclasses.asdict(rows[0]), default=str)
    secret = token.removeprefix("rrt_")
    assert token not in row and secret not in row and secret[:16] not in row
    assert rows[0].logical_id == hashlib.sha256(token.encode()).hexdigest()
    assert rows[0].body["source_workflow_run_id"] == run_id
