"""Saved LLM configs over HTTP: CRUD, masking, the default, testing, run-time use."""

from typing import Any

import pytest

from tests.api.conftest import Team
from tests.factories import say_node
from threadline.providers.base import ChatResponse, LLMError, Usage
from threadline.providers.fake import ScriptedLLM

KEY = "sk-live-1234567890abcd"
OTHER_KEY = "sk-live-0987654321wxyz"


def openai(model: str = "gpt-4.1", **extra: Any) -> dict[str, Any]:
    return {"type": "openai_llm", "model": model, "api_key": KEY, **extra}


async def create(team: Team, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "GPT")
    body.setdefault("config", openai())
    response = await team.client.post("/v1/llm-configs", json=body)
    assert response.status_code == 200, response.text
    doc: dict[str, Any] = response.json()["llm_config"]
    return doc


def masked(value: str) -> str:
    return "****" + value[-4:]


# ------------------------------------------------------------------ CRUD


async def test_a_config_is_created_read_listed_updated_and_deleted(team: Team):
    doc = await create(team, name="GPT Chat", description="Fast")
    cid = doc["id"]
    assert doc["_id"] == cid == doc["llm_config_id"]
    assert doc["name"] == "GPT Chat" and doc["description"] == "Fast"
    assert doc["is_default"] is False and doc["team_id"] == team.team_id
    assert doc["config"]["type"] == "openai_llm"
    assert doc["config"]["model"] == "gpt-4.1"
    got = (await team.client.get(f"/v1/llm-configs/{cid}")).json()["llm_config"]
    assert got["id"] == cid and got["config"]["model"] == "gpt-4.1"
    listed = (await team.client.get("/v1/llm-configs", params={"size": 20})).json()
    assert [c["id"] for c in listed["llm_configs"]] == [cid]
    assert listed["total"] == 1 and listed["page"] == 1 and listed["size"] == 20
    patched = await team.client.patch(
        f"/v1/llm-configs/{cid}",
        json={"name": "GPT Prod", "config": openai("gpt-5"), "override_default": False},
    )
    assert patched.status_code == 200, patched.text
    new = patched.json()["llm_config"]
    assert new["name"] == "GPT Prod" and new["description"] == "Fast"
    assert new["config"]["model"] == "gpt-5" and new["created_at"] == doc["created_at"]
    deleted = await team.client.delete(f"/v1/llm-configs/{cid}")
    assert deleted.status_code == 204
    assert (await team.client.get(f"/v1/llm-configs/{cid}")).status_code == 404
    assert (await team.client.delete(f"/v1/llm-configs/{cid}")).status_code == 404


async def test_the_list_searches_names_and_pages(team: Team):
    for name in ("Alpha fast", "Beta slow", "Gamma fast"):
        await create(team, name=name)
    found = (await team.client.get("/v1/llm-configs?search=FAST")).json()
    assert sorted(c["name"] for c in found["llm_configs"]) == [
        "Alpha fast",
        "Gamma fast",
    ]
    paged = (await team.client.get("/v1/llm-configs?page=2&size=2")).json()
    assert paged["total"] == 3 and len(paged["llm_configs"]) == 1


async def test_the_sdk_dict_form_without_type_gets_the_providers_type(team: Team):
    doc = await create(team, config={"provider": "anthropic", "model": "claude-x"})
    assert doc["config"]["type"] == "anthropic_llm"
    group = await create(
        team,
        config={"type": "llm_group", "llms": [openai(), {"type": "google_llm"}]},
    )
    assert [m["type"] for m in group["config"]["llms"]] == ["openai_llm", "google_llm"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"config": openai()}, "name"),
        ({"name": "  ", "config": openai()}, "name"),
        ({"name": "x"}, "config"),
        ({"name": "x", "config": "gpt"}, "config"),
        ({"name": "x", "config": {"model": "m"}}, "config.type"),
        ({"name": "x", "config": {"type": "mystery_llm"}}, "config.type"),
        ({"name": "x", "config": openai(temperature=5)}, "temperature"),
        ({"name": "x", "config": openai(), "is_default": "yes"}, "is_default"),
        ({"name": "x", "config": openai(), "description": 3}, "description"),
    ],
)
async def test_invalid_configs_are_refused_naming_the_field(
    team: Team, body: dict[str, Any], field: str
):
    response = await team.client.post("/v1/llm-configs", json=body)
    assert response.status_code == 422, response.text
    assert field in response.json()["message"]
    assert (await team.client.get("/v1/llm-configs")).json()["total"] == 0


async def test_an_invalid_update_is_refused_and_changes_nothing(team: Team):
    cid = (await create(team))["id"]
    bad = await team.client.patch(
        f"/v1/llm-configs/{cid}", json={"config": openai(max_retries="many")}
    )
    assert bad.status_code == 422 and "max_retries" in bad.json()["message"]
    assert (
        await team.client.patch(f"/v1/llm-configs/{cid}", json=[1])
    ).status_code == 422
    got = (await team.client.get(f"/v1/llm-configs/{cid}")).json()["llm_config"]
    assert got["config"]["max_retries"] == 3


async def test_unknown_and_malformed_ids_are_404(team: Team):
    for cid in ("0" * 24, "not-an-id", "3f0c1c1e-8e9a-4ad5-9c2e-0d7c0f4f6b10"):
        assert (await team.client.get(f"/v1/llm-configs/{cid}")).status_code == 404
        patch = await team.client.patch(f"/v1/llm-configs/{cid}", json={"name": "x"})
        assert patch.status_code == 404


# ---------------------------------------------------------------- secrets


async def test_api_keys_are_masked_in_every_response(team: Team):
    group = {
        "type": "llm_group_with_backchannel",
        "main_llm_config": {"type": "llm_group", "llms": [openai()]},
        "backchannel_llm_config": {
            "type": "llm_group",
            "llms": [
                {
                    "type": "custom_llm",
                    "base_url": "http://llm.local/v1",
                    "api_key": OTHER_KEY,
                    "default_headers": {"Authorization": "Bearer abcdefghijkl"},
                }
            ],
        },
    }
    created = await create(team, config=group)
    cid = created["id"]
    responses = [
        created,
        (await team.client.get(f"/v1/llm-configs/{cid}")).json(),
        (await team.client.get("/v1/llm-configs")).json(),
        (await team.client.patch(f"/v1/llm-configs/{cid}", json={"name": "n"})).json(),
    ]
    for response in responses:
        text = str(response)
        assert KEY not in text and OTHER_KEY not in text and "abcdefghijkl" not in text
    main = created["config"]["main_llm_config"]["llms"][0]
    back = created["config"]["backchannel_llm_config"]["llms"][0]
    assert main["api_key"] == masked(KEY) and back["api_key"] == masked(OTHER_KEY)
    assert back["default_headers"]["Authorization"] == "****ijkl"


async def test_sending_the_masked_key_back_keeps_the_stored_one(
    team: Team, llm: ScriptedLLM
):
    doc = await create(team)
    cid = doc["id"]
    config = {**doc["config"], "model": "gpt-5"}
    assert config["api_key"] == masked(KEY)
    patched = await team.client.patch(f"/v1/llm-configs/{cid}", json={"config": config})
    assert patched.status_code == 200, patched.text
    llm.extend("ok")
    await team.client.post(f"/v1/llm-configs/{cid}/test", json={"system_prompt": "Hi"})
    sent = llm.requests[-1].llm_config
    assert sent["api_key"] == KEY and sent["model"] == "gpt-5"
    # A new key replaces the stored one; an unknown masked value is refused.
    await team.client.patch(
        f"/v1/llm-configs/{cid}", json={"config": openai(api_key=OTHER_KEY)}
    )
    got = (await team.client.get(f"/v1/llm-configs/{cid}")).json()["llm_config"]
    assert got["config"]["api_key"] == masked(OTHER_KEY)
    wrong = await team.client.patch(
        f"/v1/llm-configs/{cid}", json={"config": openai(api_key="****zzzz")}
    )
    assert wrong.status_code == 422 and "config.api_key" in wrong.json()["message"]


# ---------------------------------------------------------------- default


async def test_one_default_per_team_and_override_moves_it(team: Team):
    assert (await team.client.get("/v1/llm-configs/default")).status_code == 404
    first = await create(team, name="First", is_default=True)
    assert first["is_default"] is True
    current = (await team.client.get("/v1/llm-configs/default")).json()
    assert current["llm_config"]["id"] == first["id"]
    clash = await team.client.post(
        "/v1/llm-configs",
        json={"name": "Second", "config": openai(), "is_default": True},
    )
    assert clash.status_code == 409 and first["id"] in clash.json()["message"]
    second = await create(team, name="Second", is_default=True, override_default=True)
    current = (await team.client.get("/v1/llm-configs/default")).json()
    assert current["llm_config"]["id"] == second["id"]
    old = (await team.client.get(f"/v1/llm-configs/{first['id']}")).json()
    assert old["llm_config"]["is_default"] is False
    # Through update: refused without override, moved with it, idempotent on itself.
    again = await team.client.patch(
        f"/v1/llm-configs/{first['id']}", json={"is_default": True}
    )
    assert again.status_code == 409
    same = await team.client.patch(
        f"/v1/llm-configs/{second['id']}", json={"is_default": True}
    )
    assert same.status_code == 200 and same.json()["llm_config"]["is_default"]
    moved = await team.client.patch(
        f"/v1/llm-configs/{first['id']}",
        json={"is_default": True, "override_default": True},
    )
    assert moved.json()["llm_config"]["is_default"] is True
    listed = (await team.client.get("/v1/llm-configs")).json()["llm_configs"]
    assert [c["id"] for c in listed if c["is_default"]] == [first["id"]]
    # Unsetting the default leaves the team without one.
    await team.client.patch(
        f"/v1/llm-configs/{first['id']}", json={"is_default": False}
    )
    assert (await team.client.get("/v1/llm-configs/default")).status_code == 404


# ------------------------------------------------------------------- test


async def test_testing_a_saved_config_returns_the_reply_tokens_and_latency(
    team: Team, llm: ScriptedLLM
):
    cid = (await create(team))["id"]
    llm.extend("Four, of course.")
    response = await team.client.post(
        f"/v1/llm-configs/{cid}/test",
        json={
            "system_prompt": "You are a maths tutor.",
            "messages": [
                {"role": "human", "content": "What is 2+2?"},
                {"role": "ai", "content": "Let me think"},
                {"content": "Quickly please"},
            ],
        },
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["success"] is True and result["error"] is None
    assert result["response"] == "Four, of course."
    # ScriptedLLM: input tokens = words of the messages, output = words of the reply.
    assert result["prompt_tokens"] == 5 + 3 + 3 + 2
    assert result["completion_tokens"] == 3
    assert result["total_tokens"] == 16
    assert result["latency_ms"] == 5
    assert result["provider"] == "fake" and result["model"] == "fake-model"
    assert result["winning_member"] is None and result["backchannel_response"] is None
    request = llm.requests[0]
    assert [m.role for m in request.messages] == ["system", "user", "assistant", "user"]
    assert request.llm_config["api_key"] == KEY
    assert request.llm_config["model"] == "gpt-4.1"


async def test_a_failed_llm_call_is_a_200_with_the_error(team: Team, llm: ScriptedLLM):
    cid = (await create(team))["id"]
    llm.extend(LLMError("provider said no", code="llm_error"))
    response = await team.client.post(
        f"/v1/llm-configs/{cid}/test", json={"system_prompt": "Hi"}
    )
    assert response.status_code == 200
    result = response.json()
    assert result["success"] is False and result["error"] == "provider said no"
    assert result["response"] is None and result["model"] == "gpt-4.1"
    assert result["provider"] == "openai"


async def test_a_test_override_reuses_the_stored_secret(team: Team, llm: ScriptedLLM):
    cid = (await create(team))["id"]
    llm.extend("a", "b")
    for key in (None, masked(KEY)):
        response = await team.client.post(
            f"/v1/llm-configs/{cid}/test",
            json={"system_prompt": "Hi", "config": openai("gpt-5", api_key=key)},
        )
        assert response.json()["success"] is True
    for request in llm.requests:
        assert request.llm_config["api_key"] == KEY
        assert request.llm_config["model"] == "gpt-5"


async def test_an_inline_config_is_tested_without_saving(team: Team, llm: ScriptedLLM):
    group = {
        "type": "llm_group",
        "llms": [
            {"type": "openai_llm", "logical_id": "fast", "model": "gpt-5-nano"},
            {"type": "anthropic_llm", "logical_id": "slow"},
        ],
    }
    slow = {
        "index": 1,
        "logical_id": "slow",
        "provider": "anthropic",
        "model": "claude-sonnet-4-6",
    }
    # The group names its winner by logical_id, or reports its index.
    llm.extend(
        ChatResponse("hello", usage=Usage(7, 1, 8), winner="slow"),
        ChatResponse("hello", extra={"group": {"winner_index": 1}}),
    )
    for _ in range(2):
        response = await team.client.post(
            "/v1/llm-configs/test", json={"system_prompt": "Hi", "config": group}
        )
        result = response.json()
        assert result["success"] is True and result["winning_member"] == slow
    assert llm.requests[0].llm_config["type"] == "llm_group"
    assert (await team.client.get("/v1/llm-configs")).json()["total"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"config": openai()}, "system_prompt"),
        ({"system_prompt": ""}, "system_prompt"),
        ({"system_prompt": "Hi"}, "config"),
        ({"system_prompt": "Hi", "config": openai(), "messages": "hi"}, "messages"),
        (
            {"system_prompt": "Hi", "config": openai(), "messages": [{"role": "x"}]},
            "messages.0.role",
        ),
        (
            {"system_prompt": "Hi", "config": openai(), "messages": [{"content": 1}]},
            "messages.0.content",
        ),
    ],
)
async def test_bad_test_requests_are_422_naming_the_field(
    team: Team, llm: ScriptedLLM, body: dict[str, Any], field: str
):
    response = await team.client.post("/v1/llm-configs/test", json=body)
    assert response.status_code == 422, response.text
    assert field in response.json()["message"]
    assert llm.requests == []


async def test_the_config_schema_is_served(team: Team):
    response = await team.client.get("/v1/schemas/llm-config")
    assert response.status_code == 200
    schema = response.json()
    assert "OpenAILLMConfig" in schema["$defs"] and "LLMGroupConfig" in schema["$defs"]
    gateway = await team.client.get("/workflows/v1/schemas/llm-config")
    assert gateway.json() == schema


# --------------------------------------------------------------- isolation


async def test_another_teams_configs_are_invisible(
    team: Team, other_team: Team, llm: ScriptedLLM
):
    doc = await create(team, is_default=True)
    cid = doc["id"]
    theirs = other_team.client
    assert (await theirs.get(f"/v1/llm-configs/{cid}")).status_code == 404
    assert (await theirs.patch(f"/v1/llm-configs/{cid}", json={})).status_code == 404
    assert (await theirs.delete(f"/v1/llm-configs/{cid}")).status_code == 404
    tried = await theirs.post(
        f"/v1/llm-configs/{cid}/test", json={"system_prompt": "x"}
    )
    assert tried.status_code == 404 and llm.requests == []
    assert (await theirs.get("/v1/llm-configs")).json()["total"] == 0
    assert (await theirs.get("/v1/llm-configs/default")).status_code == 404
    # Their own default does not clash with ours.
    await create(other_team, is_default=True)
    mine = (await team.client.get("/v1/llm-configs/default")).json()
    assert mine["llm_config"]["id"] == cid


# ------------------------------------------------------------------ runs

START = {"command": "start", "thread_to_node_inputs": {"0": {"node_run_inputs": []}}}


def one_node_workflow(node: dict[str, Any], **workflow: Any) -> dict[str, Any]:
    return {"name": "Refs", "workflow_config": workflow, "node_configs": [node]}


async def run_once(team: Team, body: dict[str, Any]) -> dict[str, Any]:
    created = await team.client.post("/v1/workflows", json=body)
    assert created.status_code == 200, created.text
    wid = created.json()["workflow"]["_id"]
    response = await team.client.post(
        f"/v1/workflows/{wid}/execute", json={"run_input": START}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_a_node_attached_to_a_saved_config_calls_the_llm_with_it(
    team: Team, llm: ScriptedLLM
):
    cid = (await create(team, config=openai("gpt-5-mini")))["id"]
    node = {
        **say_node("node_chat", is_start=True),
        "wait_for_user_message": False,
        "attachable_llm_config_id": cid,
    }
    llm.extend("Hello there.")
    turn = await run_once(team, one_node_workflow(node))
    sent = llm.requests[0].llm_config
    assert sent["model"] == "gpt-5-mini" and sent["api_key"] == KEY
    assert sent["named_llm_config_id"] == cid
    # The run snapshot keeps the resolved config.
    run = (await team.client.get(f"/v1/workflow-runs/{turn['run_id']}")).json()
    snapshot = run["workflow_run"]["workflow_run"]["workflow_config_fully_hydrated"]
    assert snapshot["node_configs"][0]["llms_config"]["model"] == "gpt-5-mini"


async def test_a_named_reference_inside_llms_config_is_resolved(
    team: Team, llm: ScriptedLLM
):
    cid = (await create(team, config=openai("gpt-4.1-nano")))["id"]
    node = {
        **say_node("node_chat", is_start=True),
        "wait_for_user_message": False,
        "llms_config": {"type": "global_default_llm", "named_llm_config_id": cid},
    }
    llm.extend("Hi.")
    await run_once(team, one_node_workflow(node))
    assert llm.requests[0].llm_config["model"] == "gpt-4.1-nano"


async def test_the_team_default_replaces_global_default_llm(
    team: Team, llm: ScriptedLLM
):
    await create(team, name="Team default", config=openai("gpt-5"), is_default=True)
    node = {
        **say_node("node_chat", is_start=True),
        "wait_for_user_message": False,
    }
    llm.extend("Hi.")
    await run_once(
        team, one_node_workflow(node, llms_config={"type": "global_default_llm"})
    )
    sent = llm.requests[0].llm_config
    assert sent["model"] == "gpt-5" and sent["named_llm_config_name"] == "Team default"


async def test_a_reference_to_a_missing_config_fails_the_run_naming_the_node(
    team: Team, llm: ScriptedLLM
):
    node = {
        **say_node("node_chat", is_start=True),
        "attachable_llm_config_id": "0" * 24,
    }
    created = await team.client.post("/v1/workflows", json=one_node_workflow(node))
    wid = created.json()["workflow"]["_id"]
    response = await team.client.post(
        f"/v1/workflows/{wid}/execute", json={"run_input": START}
    )
    assert response.status_code == 404
    message = response.json()["message"]
    assert "node_chat" in message and "0" * 24 in message
    assert llm.requests == []
