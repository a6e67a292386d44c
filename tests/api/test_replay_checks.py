"""Replay checks: recorded runs replayed against a version, and the activation gate."""

import copy
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.api.conftest import Team
from tests.api.test_execute import START, execute, new_workflow, says
from tests.factories import edge, say_node, static_node
from threadline.ids import new_object_id
from threadline.providers.base import ChatResponse
from threadline.providers.fake import ScriptedLLM
from threadline.service.definitions import workflows as wf
from threadline.service.replay_checks import worker
from threadline.service.runtime import Runtime
from threadline.store import Store

AMOUNTS = (10, 20, 30, 40, 50)


def orders(limit: int, prompt: str = "You take orders.") -> dict[str, Any]:
    """Greet, chat (the model answers), then route on ``{{amount}}``."""
    return {
        "name": "Orders",
        "workflow_config": {},
        "node_configs": [
            static_node("node_greet", "Welcome!", is_start=True),
            say_node("node_chat", prompt=prompt),
            static_node("node_big", "Big order"),
            static_node("node_small", "Small order"),
        ],
        "edge_configs": [
            edge("edge_greet", "node_greet", "node_chat"),
            edge(
                "edge_big",
                "node_chat",
                "node_big",
                type="conditional",
                condition={"condition_expression": f"{{{{amount}}}} > {limit}"},
            ),
            edge(
                "edge_small",
                "node_chat",
                "node_small",
                type="conditional",
                condition={"condition_expression": f"{{{{amount}}}} <= {limit}"},
            ),
        ],
    }


async def _runs(team: Team, llm: ScriptedLLM, wid: str) -> dict[int, str]:
    """Five finished conversations of the active version, by amount."""
    ids = {}
    for amount in AMOUNTS:
        first = await execute(
            team, wid, {"run_input": {**START, "dynamic_variables": {"amount": amount}}}
        )
        llm.extend(f"Noted: {amount}")
        last = await execute(
            team, wid, {"run_id": first["run_id"], "run_input": says("I order")}
        )
        assert last["status"] == "completed"
        ids[amount] = str(first["run_id"])
    return ids


async def _version(team: Team, wid: str, config: dict[str, Any]) -> int:
    created = await team.client.post(f"/v1/workflows/{wid}/versions", json={})
    assert created.status_code == 200, created.text
    number = int(created.json()["version"]["version_number"])
    patched = await team.client.patch(
        f"/v1/workflows/{wid}/versions/{number}/config", json={"config": config}
    )
    assert patched.status_code == 200, patched.text
    return number


def _gated(config: dict[str, Any]) -> dict[str, Any]:
    config = copy.deepcopy(config)
    config["workflow_config"]["require_replay_check"] = True
    return config


async def _check(team: Team, wid: str, number: int, body: Any) -> dict[str, Any]:
    response = await team.client.post(
        f"/v1/workflows/{wid}/versions/{number}/replay-check", json=body
    )
    assert response.status_code == 202, response.text
    check: dict[str, Any] = response.json()
    return check


async def _poll(team: Team, wid: str, number: int, check_id: str) -> dict[str, Any]:
    response = await team.client.get(
        f"/v1/workflows/{wid}/versions/{number}/replay-checks/{check_id}"
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def _activate(team: Team, wid: str, number: int) -> Any:
    return await team.client.post(f"/v1/workflows/{wid}/versions/{number}/activate")


async def _checks(team: Team, wid: str, number: int) -> list[dict[str, Any]]:
    response = await team.client.get(
        f"/v1/workflows/{wid}/versions/{number}/replay-checks"
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["replay_checks"]
    return items


async def test_a_changed_condition_diverges_exactly_two_runs_and_blocks_activation(
    team: Team, llm: ScriptedLLM, store: Store, runtime: Runtime
) -> None:
    wid = await new_workflow(team, orders(25))
    ids = await _runs(team, llm, wid)
    target = await _version(team, wid, _gated(orders(45)))

    refused = await _activate(team, wid, target)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "replay_check_required"
    assert refused.json()["errors"]["replay_check_id"] is None

    queued = await _check(team, wid, target, {"runs": 5})
    assert queued["status"] == "queued"
    assert sorted(queued["run_ids"]) == sorted(ids.values())
    calls_before = len(llm.requests)
    assert await worker.work_once(store, runtime, teams={team.team_id}) == 1
    check = await _poll(team, wid, target, queued["replay_check_id"])

    assert check["status"] == "failed" and check["passed"] is False
    summary = check["summary"]
    assert summary["runs"] == 5 and summary["replayed"] == 5
    assert summary["diverged"] == 2 and summary["same_path"] == 3
    assert sorted(summary["diverged_run_ids"]) == sorted([ids[30], ids[40]])
    assert summary["with_new_errors"] == 0
    reports = {r["workflow_run_id"]: r for r in check["runs"]}
    for amount in (30, 40):
        report = reports[ids[amount]]
        assert report["same_path"] is False
        assert report["divergence"]["turn_index"] == 1
        assert report["divergence"]["node_logical_id"] == "node_small"
        assert report["divergence"]["recorded_node_logical_id"] == "node_big"
    for amount in (10, 20, 50):
        assert reports[ids[amount]]["same_path"] is True
        assert reports[ids[amount]]["divergence"] is None
    # the recorded model answers were reused: no model call at all
    assert len(llm.requests) == calls_before
    assert check["usage"]["llm_calls"] == 0

    again = await _activate(team, wid, target)
    assert again.status_code == 409, again.text
    body = again.json()
    assert body["code"] == "replay_check_required"
    assert body["errors"]["replay_check_id"] == check["replay_check_id"]
    assert check["replay_check_id"] in body["message"]
    workflow = await team.client.get(f"/v1/workflows/{wid}")
    assert workflow.json()["workflow"]["active_version_number"] == 0


async def test_a_prompt_change_calls_the_model_passes_and_may_be_activated(
    team: Team, llm: ScriptedLLM, store: Store, runtime: Runtime
) -> None:
    wid = await new_workflow(team, orders(25))
    ids = await _runs(team, llm, wid)
    target = await _version(team, wid, _gated(orders(25, "You take orders kindly.")))
    queued = await _check(team, wid, target, {"runs": 3, "source_version_number": 0})
    assert sorted(queued["run_ids"]) == sorted([ids[30], ids[40], ids[50]])
    priced = ChatResponse(content="Sure", model="gpt-4o-mini", provider="openai")
    llm.extend(priced, priced, priced)

    await worker.work_once(store, runtime, teams={team.team_id})
    check = await _poll(team, wid, target, queued["replay_check_id"])

    assert check["status"] == "passed" and check["passed"] is True, check
    assert check["summary"]["same_path"] == 3
    assert check["usage"]["llm_calls"] == 3
    assert check["usage"]["input_tokens"] > 0 and check["usage"]["cost_usd"] > 0
    assert all(r["usage"]["llm_calls"] == 1 for r in check["runs"])
    assert "You take orders kindly." in str(llm.requests[-1].messages[0].content)
    activated = await _activate(team, wid, target)
    assert activated.status_code == 200, activated.text
    [listed] = await _checks(team, wid, target)
    assert listed["replay_check_id"] == check["replay_check_id"]


async def test_editing_a_checked_version_needs_a_new_check(
    team: Team, llm: ScriptedLLM, store: Store, runtime: Runtime
) -> None:
    wid = await new_workflow(team, orders(25))
    await _runs(team, llm, wid)
    target = await _version(team, wid, _gated(orders(25)))
    queued = await _check(team, wid, target, {"runs": 2})
    await worker.work_once(store, runtime, teams={team.team_id})
    assert (await _poll(team, wid, target, queued["replay_check_id"]))["passed"]
    await team.client.patch(
        f"/v1/workflows/{wid}/versions/{target}/config",
        json={"config": _gated(orders(45))},
    )

    refused = await _activate(team, wid, target)

    assert refused.status_code == 409, refused.text
    assert "before version" in refused.json()["message"]


async def test_the_model_call_ceiling_leaves_runs_incomplete(
    team: Team, llm: ScriptedLLM, store: Store, runtime: Runtime, settings: Any
) -> None:
    wid = await new_workflow(team, orders(25))
    await _runs(team, llm, wid)
    target = await _version(team, wid, orders(25, "A new prompt."))
    settings.replay_check_max_llm_calls = 1
    queued = await _check(team, wid, target, {"runs": 3})
    llm.extend("One", "Two", "Three")

    await worker.work_once(store, runtime, teams={team.team_id})
    check = await _poll(team, wid, target, queued["replay_check_id"])

    assert check["status"] == "failed"
    assert check["usage"]["llm_calls"] == 1
    assert check["summary"]["incomplete"] == 2
    assert llm.remaining == 2


async def test_a_check_whose_worker_died_is_taken_over_after_its_lease(
    team: Team, llm: ScriptedLLM, store: Store, runtime: Runtime
) -> None:
    wid = await new_workflow(team, orders(25))
    await _runs(team, llm, wid)
    target = await _version(team, wid, orders(45))
    queued = await _check(team, wid, target, {"runs": 5})
    now = wf.now()
    async with store.begin() as tx:  # another worker took it, then died
        assert await tx.workers().take_lease(
            worker.lease_name(queued["replay_check_id"]),
            "dead",
            now,
            now + worker.LEASE,
        )

    assert await worker.work_once(store, runtime, now, teams={team.team_id}) == 0
    assert (await _poll(team, wid, target, queued["replay_check_id"]))["status"] == (
        "queued"
    )
    later = now + worker.LEASE + timedelta(seconds=1)
    assert await worker.work_once(store, runtime, later, teams={team.team_id}) == 1

    check = await _poll(team, wid, target, queued["replay_check_id"])
    assert check["summary"]["diverged"] == 2
    assert await worker.work_once(store, runtime, later, teams={team.team_id}) == 0


async def test_a_new_http_call_is_reported_and_never_sent(
    team: Team, llm: ScriptedLLM, store: Store, runtime: Runtime
) -> None:
    wid = await new_workflow(team, orders(25))
    ids = await _runs(team, llm, wid)
    config = orders(25)
    config["node_configs"][3] = {
        "type": "http_request",
        "logical_id": "node_small",
        "name": "node_small",
        "method": "POST",
        "url": "http://vendor.example.test/v1/orders?amount={{amount}}",
    }
    target = await _version(team, wid, config)
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    runtime.http_transport = httpx.MockTransport(answer)
    queued = await _check(team, wid, target, {"runs": 5})

    await worker.work_once(store, runtime, teams={team.team_id})
    check = await _poll(team, wid, target, queued["replay_check_id"])

    assert sent == []
    assert check["summary"]["with_changed_tool_calls"] == 2
    reports = {r["workflow_run_id"]: r for r in check["runs"]}
    for amount in (10, 20):
        calls = reports[ids[amount]]["tool_calls"]
        assert calls["changed"] is True
        [call] = calls["not_executed"]
        assert call["kind"] == "http_request"
        assert call["node_logical_id"] == "node_small"
    for amount in (30, 40, 50):
        assert reports[ids[amount]]["tool_calls"]["changed"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "runs"),
        ({"runs": 0}, "runs"),
        ({"runs": 21}, "runs"),
        ({"runs": "3"}, "runs"),
        ({"runs": True}, "runs"),
        ({"runs": 2, "source_version_number": -1}, "source_version_number"),
        ({"runs": 2, "source_version_number": "0"}, "source_version_number"),
        ({"runs": 2, "colour": "red"}, "colour"),
        ([1], "body"),
    ],
)
async def test_a_bad_body_is_refused_naming_the_field(
    team: Team, llm: ScriptedLLM, body: Any, field: str
) -> None:
    wid = await new_workflow(team, orders(25))

    response = await team.client.post(
        f"/v1/workflows/{wid}/versions/0/replay-check", json=body
    )

    assert response.status_code == 422, response.text
    assert response.json()["message"].startswith(field)
    assert await _checks(team, wid, 0) == []


async def test_unknown_workflows_versions_and_checks_are_not_found(
    team: Team, other_team: Team, llm: ScriptedLLM
) -> None:
    wid = await new_workflow(team, orders(25))
    await _runs(team, llm, wid)
    base = f"/v1/workflows/{wid}/versions"
    cases = [
        (team, f"/v1/workflows/{new_object_id()}/versions/0/replay-check", {"runs": 1}),
        (team, f"{base}/9/replay-check", {"runs": 1}),
        (team, f"{base}/0/replay-check", {"runs": 1, "source_version_number": 9}),
        (other_team, f"{base}/0/replay-check", {"runs": 1}),
    ]
    for who, url, body in cases:
        response = await who.client.post(url, json=body)
        assert response.status_code == 404, (url, response.text)
    assert await _checks(team, wid, 0) == []
    check = await _check(team, wid, 0, {"runs": 1})
    for who, url in [
        (team, f"{base}/0/replay-checks/{new_object_id()}"),
        (team, f"{base}/1/replay-checks/{check['replay_check_id']}"),
        (other_team, f"{base}/0/replay-checks/{check['replay_check_id']}"),
        (other_team, f"{base}/0/replay-checks"),
    ]:
        response = await who.client.get(url)
        assert response.status_code == 404, (url, response.text)


async def test_a_workflow_without_finished_runs_is_refused(
    team: Team, llm: ScriptedLLM
) -> None:
    wid = await new_workflow(team, orders(25))
    await execute(
        team, wid, {"run_input": {**START, "dynamic_variables": {"amount": 1}}}
    )

    response = await team.client.post(
        f"/v1/workflows/{wid}/versions/0/replay-check", json={"runs": 3}
    )

    assert response.status_code == 409, response.text
    assert response.json()["code"] == "no_runs_to_replay"
    assert await _checks(team, wid, 0) == []


async def test_the_operations_are_in_the_openapi_document(team: Team) -> None:
    document = (await team.client.get("/openapi.json")).json()
    base = "/v1/workflows/{workflow_id}/versions/{version_number}"

    create = document["paths"][f"{base}/replay-check"]["post"]
    assert create["x-threadline-extension"] is True
    assert "409" in create["responses"]
    assert f"{base}/replay-checks/{{check_id}}" in document["paths"]
    config = document["components"]["schemas"]["WorkflowConfig"]["properties"]
    assert "run_budget" in config and "require_replay_check" in config
