"""Upgrading a waiting conversation to a new version of its workflow."""

import asyncio
import copy
import json
from typing import Any

import pytest
from sqlalchemy import select

from tests.api.conftest import Team
from tests.api.test_durability import post, start_gated
from tests.api.test_execute import START, chat_workflow, execute, new_workflow, says
from threadline.api.app import create_app
from threadline.ids import new_object_id
from threadline.providers.fake import ScriptedLLM
from threadline.service.runtime import Runtime
from threadline.settings import Settings
from threadline.store import dialect as store_dialect
from threadline.store import open_store, run_snapshots, schema

NEW_PROMPT = "You help VIP patients of {{clinic}}."


async def _version(team: Team, wid: str, config: dict[str, Any]) -> int:
    """A new version of ``wid`` whose graph is ``config`` (not activated)."""
    created = await team.client.post(f"/v1/workflows/{wid}/versions", json={})
    assert created.status_code == 200, created.text
    number = int(created.json()["version"]["version_number"])
    patched = await team.client.patch(
        f"/v1/workflows/{wid}/versions/{number}/config", json={"config": config}
    )
    assert patched.status_code == 200, patched.text
    return number


def _with_prompt(prompt: str) -> dict[str, Any]:
    config = chat_workflow()
    for node in config["node_configs"]:
        if node["logical_id"] == "node_chat":
            node["main_response_config"]["prompt"] = prompt
    return config


async def _waiting_run(team: Team) -> tuple[str, str]:
    """A run of version 0 waiting at ``node_chat`` after its greeting."""
    wid = await new_workflow(team)
    first = await execute(
        team, wid, {"run_input": {**START, "dynamic_variables": {"patient": "Ann"}}}
    )
    assert first["status"] == "waiting_for_user_input"
    return wid, str(first["run_id"])


async def _raw_run(team: Team, run_id: str) -> dict[str, Any]:
    response = await team.client.get(f"/v1/workflow-runs/{run_id}")
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()["workflow_run"]["workflow_run"]
    return run


def _prompts(llm: ScriptedLLM) -> list[str]:
    return [str(m.content) for m in llm.requests[-1].messages if m.role == "system"]


async def test_a_dry_run_reports_the_waiting_node_and_changes_nothing(
    team: Team,
) -> None:
    wid, run_id = await _waiting_run(team)
    target = await _version(team, wid, _with_prompt(NEW_PROMPT))
    before = await _raw_run(team, run_id)

    response = await team.client.post(
        f"/v1/workflow-runs/{run_id}/upgrade",
        json={"target_version_number": target, "dry_run": True},
    )

    assert response.status_code == 200, response.text
    found = response.json()
    assert found["safe"] is True and found["applied"] is False
    assert found["from_version_number"] == 0
    assert found["target_version_number"] == target
    assert found["threads"] == [
        {
            "thread_id": "0",
            "status": "waiting",
            "node_logical_id": "node_chat",
            "node_name": "Node Chat",
            "exists_in_target": True,
        }
    ]
    assert found["missing_variables"] == []
    assert await _raw_run(team, run_id) == before


async def test_an_upgraded_conversation_continues_with_the_new_prompt(
    team: Team, llm: ScriptedLLM
) -> None:
    wid, run_id = await _waiting_run(team)
    target = await _version(team, wid, _with_prompt(NEW_PROMPT))

    response = await team.client.post(
        f"/v1/workflow-runs/{run_id}/upgrade", json={"target_version_number": target}
    )

    assert response.status_code == 200, response.text
    assert response.json()["applied"] is True
    run = await _raw_run(team, run_id)
    assert run["version_number"] == target
    assert run["status"] == "waiting_for_user_input"
    [upgrade] = run["version_upgrades"]
    assert upgrade["from_version_number"] == 0
    assert upgrade["to_version_number"] == target
    assert upgrade["upgraded_by"] == team.user_id and upgrade["upgraded_at"]

    llm.extend("Welcome back")
    turn = await execute(team, wid, {"run_id": run_id, "run_input": says("hello")})

    assert "You help VIP patients of Northside." in _prompts(llm)
    assert not any("You help patients" in p for p in _prompts(llm))
    first = turn["events"][0]
    assert first["type"] == "workflow_version_upgraded"
    assert first["from_version_number"] == 0
    assert first["to_version_number"] == target
    llm.extend("Still here")
    later = await execute(team, wid, {"run_id": run_id, "run_input": says("again")})
    assert "workflow_version_upgraded" not in [e["type"] for e in later["events"]]


async def test_an_unsafe_upgrade_is_refused_and_leaves_the_run_as_it_was(
    team: Team,
) -> None:
    wid, run_id = await _waiting_run(team)
    config = chat_workflow()
    config["node_configs"] = [
        n for n in config["node_configs"] if n["logical_id"] != "node_chat"
    ] + [
        {
            **copy.deepcopy(config["node_configs"][1]),
            "logical_id": "node_helper",
            "name": "Helper",
            "main_response_config": {"prompt": "Hi {{tier}}"},
        }
    ]
    config["edge_configs"] = [
        {**config["edge_configs"][0], "destination_node_logical_id": "node_helper"}
    ]
    target = await _version(team, wid, config)
    before = await _raw_run(team, run_id)

    response = await team.client.post(
        f"/v1/workflow-runs/{run_id}/upgrade", json={"target_version_number": target}
    )

    assert response.status_code == 409, response.text
    body = response.json()
    assert body["code"] == "upgrade_unsafe"
    assert "node_chat" in body["message"]
    report = body["errors"]
    assert report["safe"] is False
    assert report["threads"][0]["exists_in_target"] is False
    assert report["missing_variables"] == [{"name": "tier", "kind": "dynamic"}]
    assert await _raw_run(team, run_id) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "target_version_number"),
        ({"target_version_number": "1"}, "target_version_number"),
        ({"target_version_number": -1}, "target_version_number"),
        ({"target_version_number": True}, "target_version_number"),
        ({"target_version_number": 1, "dry_run": "yes"}, "dry_run"),
        ({"target_version_number": 1, "force": 1}, "force"),
        ({"target_version_number": 1, "colour": "red"}, "colour"),
        ([1], "body"),
    ],
)
async def test_a_bad_body_is_refused_naming_the_field(
    team: Team, body: Any, field: str
) -> None:
    wid, run_id = await _waiting_run(team)
    await _version(team, wid, _with_prompt(NEW_PROMPT))
    before = await _raw_run(team, run_id)

    response = await team.client.post(f"/v1/workflow-runs/{run_id}/upgrade", json=body)

    assert response.status_code == 422, response.text
    assert response.json()["message"].startswith(field)
    assert await _raw_run(team, run_id) == before


async def test_unknown_versions_runs_and_other_teams_runs_are_not_found(
    team: Team, other_team: Team
) -> None:
    wid, run_id = await _waiting_run(team)
    target = await _version(team, wid, _with_prompt(NEW_PROMPT))
    before = await _raw_run(team, run_id)

    unknown_version = await team.client.post(
        f"/v1/workflow-runs/{run_id}/upgrade", json={"target_version_number": 9}
    )
    unknown_run = await team.client.post(
        f"/v1/workflow-runs/{new_object_id()}/upgrade",
        json={"target_version_number": target},
    )
    foreign = await other_team.client.post(
        f"/v1/workflow-runs/{run_id}/upgrade", json={"target_version_number": target}
    )

    assert unknown_version.status_code == 404, unknown_version.text
    assert unknown_run.status_code == 404, unknown_run.text
    assert foreign.status_code == 404, foreign.text
    assert await _raw_run(team, run_id) == before


async def test_an_ended_run_is_not_upgraded(team: Team) -> None:
    wid, run_id = await _waiting_run(team)
    target = await _version(team, wid, _with_prompt(NEW_PROMPT))
    stopped = await team.client.post(
        f"/v1/workflows/{wid}/execute",
        json={"run_id": run_id, "run_input": {"command": "stop"}},
    )
    assert stopped.status_code == 200, stopped.text
    before = await _raw_run(team, run_id)

    response = await team.client.post(
        f"/v1/workflow-runs/{run_id}/upgrade", json={"target_version_number": target}
    )

    assert response.status_code == 409, response.text
    assert response.json()["code"] == "upgrade_unsafe"
    assert await _raw_run(team, run_id) == before


async def _bulk(team: Team, wid: str, number: int, body: Any) -> dict[str, Any]:
    response = await team.client.post(
        f"/v1/workflows/{wid}/versions/{number}/upgrade-waiting-runs", json=body
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def _second_run(team: Team, wid: str) -> str:
    first = await execute(
        team, wid, {"run_input": {**START, "dynamic_variables": {"patient": "Bo"}}}
    )
    return str(first["run_id"])


async def test_every_waiting_run_is_upgraded_once(team: Team) -> None:
    wid, run_a = await _waiting_run(team)
    run_b = await _second_run(team, wid)
    target = await _version(team, wid, _with_prompt(NEW_PROMPT))

    dry = await _bulk(team, wid, target, {"dry_run": True})
    assert {r["workflow_run_id"] for r in dry["runs"]} == {run_a, run_b}
    assert dry["upgraded"] == 0 and all(r["safe"] for r in dry["runs"])
    assert (await _raw_run(team, run_a))["version_number"] == 0

    done = await _bulk(team, wid, target, {})
    assert done["upgraded"] == 2 and done["more"] is False
    again = await _bulk(team, wid, target, {"dry_run": False})
    assert again["runs"] == [] and again["upgraded"] == 0
    assert again["already_on_target"] == 2
    for run_id in (run_a, run_b):
        run = await _raw_run(team, run_id)
        assert run["version_number"] == target
        assert len(run["version_upgrades"]) == 1


async def test_runs_missing_a_variable_are_upgraded_only_when_forced(
    team: Team,
) -> None:
    wid, run_id = await _waiting_run(team)
    target = await _version(team, wid, _with_prompt("Serve {{tier}} patients."))

    kept = await _bulk(team, wid, target, {})
    [report] = kept["runs"]
    assert report["refused"] == "upgrade_unsafe" and report["applied"] is False
    assert report["missing_variables"] == [{"name": "tier", "kind": "dynamic"}]
    assert report["forceable"] is True and kept["unsafe"] == 1
    assert (await _raw_run(team, run_id))["version_number"] == 0

    forced = await _bulk(team, wid, target, {"force": True})
    assert forced["upgraded"] == 1 and forced["runs"][0]["forced"] is True
    assert (await _raw_run(team, run_id))["version_number"] == target


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"dry_run": "yes"}, "dry_run"),
        ({"force": None}, "force"),
        ({"target_version_number": 1}, "target_version_number"),
        ("all", "body"),
    ],
)
async def test_a_bad_bulk_body_is_refused_and_changes_nothing(
    team: Team, body: Any, field: str
) -> None:
    wid, run_id = await _waiting_run(team)
    target = await _version(team, wid, _with_prompt(NEW_PROMPT))
    before = await _raw_run(team, run_id)

    response = await team.client.post(
        f"/v1/workflows/{wid}/versions/{target}/upgrade-waiting-runs", json=body
    )

    assert response.status_code == 422, response.text
    assert response.json()["message"].startswith(field)
    assert await _raw_run(team, run_id) == before


async def test_bulk_upgrades_of_unknown_or_foreign_workflows_are_not_found(
    team: Team, other_team: Team
) -> None:
    wid, run_id = await _waiting_run(team)
    target = await _version(team, wid, _with_prompt(NEW_PROMPT))
    before = await _raw_run(team, run_id)

    unknown_version = await team.client.post(
        f"/v1/workflows/{wid}/versions/9/upgrade-waiting-runs", json={}
    )
    unknown_workflow = await team.client.post(
        f"/v1/workflows/{new_object_id()}/versions/{target}/upgrade-waiting-runs",
        json={},
    )
    foreign = await other_team.client.post(
        f"/v1/workflows/{wid}/versions/{target}/upgrade-waiting-runs", json={}
    )

    assert unknown_version.status_code == 404, unknown_version.text
    assert unknown_workflow.status_code == 404, unknown_workflow.text
    assert foreign.status_code == 404, foreign.text
    assert await _raw_run(team, run_id) == before


def test_both_endpoints_are_in_the_openapi_schema_as_extensions() -> None:
    schema = create_app(Settings(database_url="sqlite+aiosqlite://")).openapi()
    run = schema["paths"]["/v1/workflow-runs/{run_id}/upgrade"]["post"]
    bulk = schema["paths"][
        "/v1/workflows/{workflow_id}/versions/{version_number}/upgrade-waiting-runs"
    ]["post"]
    for operation in (run, bulk):
        assert operation["x-threadline-extension"] is True
        assert {"404", "409", "422"} <= set(operation["responses"])
    body = run["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["target_version_number"]


async def test_a_run_whose_turn_is_in_progress_is_refused_and_unchanged(
    team: Team, runtime: Runtime, llm: ScriptedLLM
) -> None:
    wid, run_id, gate = await start_gated(team, runtime, llm)
    target = await _version(team, wid, _with_prompt(NEW_PROMPT))
    llm.extend("Answer to a.")
    turn = asyncio.create_task(
        post(team, wid, {"run_id": run_id, "run_input": says("a")})
    )
    await gate.entered.wait()
    during = await _raw_run(team, run_id)

    busy = await team.client.post(
        f"/v1/workflow-runs/{run_id}/upgrade", json={"target_version_number": target}
    )
    bulk = await _bulk(team, wid, target, {})

    assert busy.status_code == 409, busy.text
    assert busy.json()["code"] == "run_busy"
    assert bulk["runs"] == [] and bulk["upgraded"] == 0
    assert await _raw_run(team, run_id) == during
    gate.release.set()
    assert (await turn).status_code == 200
    after = await _raw_run(team, run_id)
    assert after["version_number"] == 0 and "version_upgrades" not in after


async def _stored_ref(database_url: str, run_id: str) -> str | None:
    """The snapshot reference in the run row, as stored."""
    runs = schema.documents["workflow_runs"]
    engine = store_dialect.create_engine(database_url)
    try:
        async with engine.connect() as conn:
            body = (
                await conn.execute(select(runs.c.body).where(runs.c.id == run_id))
            ).scalar_one()
    finally:
        await engine.dispose()
    return run_snapshots.ref_of(json.loads(body) if isinstance(body, str) else body)


async def test_an_upgraded_run_is_stored_with_the_target_snapshot(
    team: Team, database_url: str
) -> None:
    wid, run_id = await _waiting_run(team)
    target = await _version(team, wid, _with_prompt(NEW_PROMPT))
    before = await _stored_ref(database_url, run_id)

    response = await team.client.post(
        f"/v1/workflow-runs/{run_id}/upgrade", json={"target_version_number": target}
    )

    assert response.status_code == 200, response.text
    after = await _stored_ref(database_url, run_id)
    assert before is not None and after is not None and after != before
    served = (await _raw_run(team, run_id))["workflow_config_fully_hydrated"]
    fresh = open_store(database_url)  # reads the snapshot rows, not this memo
    try:
        async with fresh.begin() as tx:
            doc = await tx.documents("workflow_runs").get(team.team_id, run_id)
    finally:
        await fresh.close()
    assert doc is not None
    stored = doc.body["workflow_run"]["workflow_config_fully_hydrated"]
    assert stored == served
    prompts = [
        (n.get("main_response_config") or {}).get("prompt")
        for n in stored["node_configs"]
    ]
    assert NEW_PROMPT in prompts
