"""Managed prompts: the registry over HTTP, and their expansion in runs."""

from typing import Any

import httpx
import pytest

from tests.api.conftest import Team, make_team
from tests.factories import edge, say_node, static_node
from threadline.api.app import create_app
from threadline.providers.base import ChatRequest
from threadline.providers.fake import ScriptedLLM
from threadline.service.reuse.managed_prompts import BUILT_IN

BASE = "/v1/managed-prompts"
MARK = "<<<managed_prompt:"
PREFIX = "<<<managed_prompt:global_workflow_prefix>>>"
SUFFIX = "<<<managed_prompt:global_workflow_suffix>>>"


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


async def create(team: Team, **body: Any) -> dict[str, Any]:
    response = await team.client.post(BASE, json=body)
    assert response.status_code == 200, response.text
    made: dict[str, Any] = response.json()["managed_prompt"]
    return made


async def listing(team: Team) -> list[dict[str, Any]]:
    response = await team.client.get(BASE)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["managed_prompts"]
    return items


def every_string(request: ChatRequest) -> list[str]:
    """Every text of a request that reaches a model."""
    out = [m.content for m in request.messages]
    out += [t.description for t in request.tools]

    def walk(value: Any) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(request.llm_config)
    return out


def assert_no_marker(llm: ScriptedLLM) -> None:
    assert llm.requests, "the model was never called"
    for request in llm.requests:
        for text in every_string(request):
            assert MARK not in text, (request.purpose, text)


# ------------------------------------------------------------------ the registry


async def test_every_team_has_the_two_built_in_prompts(team: Team):
    items = await listing(team)
    assert [i["name"] for i in items] == [
        "global_workflow_prefix",
        "global_workflow_suffix",
    ]
    assert all(i["built_in"] and i["version"] == 0 for i in items)
    got = (await team.client.get(f"{BASE}/global_workflow_prefix")).json()
    assert got["managed_prompt"]["text"] == BUILT_IN["global_workflow_prefix"]["text"]


async def test_create_get_update_versions_and_delete(team: Team):
    made = await create(team, name="tone", text="Be warm.", description="Tone")
    assert (made["name"], made["version"], made["built_in"]) == ("tone", 1, False)
    changed = await team.client.patch(f"{BASE}/tone", json={"text": "Be brisk."})
    assert changed.json()["managed_prompt"]["version"] == 2
    described = await team.client.patch(f"{BASE}/tone", json={"description": "T"})
    assert described.json()["managed_prompt"]["version"] == 2
    current = (await team.client.get(f"{BASE}/tone")).json()["managed_prompt"]
    assert (current["text"], current["description"]) == ("Be brisk.", "T")
    first = await team.client.get(f"{BASE}/tone", params={"version": 1})
    assert first.json()["managed_prompt"]["text"] == "Be warm."
    kept = (await team.client.get(f"{BASE}/tone/versions")).json()["versions"]
    assert [(v["version"], v["text"]) for v in kept] == [
        (2, "Be brisk."),
        (1, "Be warm."),
    ]
    assert (await team.client.delete(f"{BASE}/tone")).status_code == 204
    assert (await team.client.get(f"{BASE}/tone")).status_code == 404


async def test_a_built_in_is_replaced_by_patch_and_restored_by_delete(team: Team):
    response = await team.client.patch(
        f"{BASE}/global_workflow_prefix", json={"text": "Our brand voice. "}
    )
    assert response.status_code == 200, response.text
    replaced = response.json()["managed_prompt"]
    assert (replaced["version"], replaced["built_in"]) == (1, False)
    deleted = await team.client.delete(f"{BASE}/global_workflow_prefix")
    assert deleted.status_code == 204
    back = (await team.client.get(f"{BASE}/global_workflow_prefix")).json()
    assert back["managed_prompt"]["built_in"] is True


async def test_old_versions_beyond_the_ceiling_are_pruned(store, settings, runtime):
    settings.managed_prompt_versions_kept = 2
    app = create_app(settings, store=store, runtime=runtime)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        team = await make_team(store, client)
        await create(team, name="p", text="v1")
        for text in ("v2", "v3"):
            await team.client.patch(f"{BASE}/p", json={"text": text})
        kept = (await team.client.get(f"{BASE}/p/versions")).json()["versions"]
        assert [v["version"] for v in kept] == [3, 2]
        gone = await team.client.get(f"{BASE}/p", params={"version": 1})
        assert gone.status_code == 404


async def test_another_team_sees_none_of_a_teams_prompts(team: Team, store, app_client):
    await create(team, name="secret_sauce", text="Ours.")
    other = await make_team(store, app_client)
    assert (await other.client.get(f"{BASE}/secret_sauce")).status_code == 404
    assert "secret_sauce" not in [i["name"] for i in await listing(other)]
    patched = await other.client.patch(f"{BASE}/secret_sauce", json={"text": "x"})
    assert patched.status_code == 404
    assert (await other.client.delete(f"{BASE}/secret_sauce")).status_code == 404


BAD_CREATES = [
    ([1, 2], 422, "(body)"),
    ({"text": "no name"}, 422, "name"),
    ({"name": "has space", "text": "x"}, 422, "name"),
    ({"name": "x" * 101, "text": "x"}, 422, "name"),
    ({"name": "ok"}, 422, "text"),
    ({"name": "ok", "text": 5}, 422, "text"),
    ({"name": "ok", "text": "x" * 100_001}, 422, "text"),
    ({"name": "ok", "text": "a <<<managed_prompt:other>>>"}, 422, "text"),
    ({"name": "ok", "text": "x", "description": 3}, 422, "description"),
    ({"name": "ok", "text": "x", "versions": []}, 422, "versions"),
    ({"name": "global_workflow_suffix", "text": "x"}, 409, "already exists"),
]


@pytest.mark.parametrize(("body", "status", "named"), BAD_CREATES)
async def test_a_bad_create_is_refused_and_changes_nothing(
    team: Team, body: Any, status: int, named: str
):
    before = await listing(team)
    response = await team.client.post(BASE, json=body)
    assert response.status_code == status, response.text
    assert named in response.json()["message"]
    assert await listing(team) == before


async def test_a_second_prompt_with_a_taken_name_is_refused(team: Team):
    await create(team, name="dup", text="first")
    response = await team.client.post(BASE, json={"name": "dup", "text": "second"})
    assert response.status_code == 409
    got = (await team.client.get(f"{BASE}/dup")).json()["managed_prompt"]
    assert (got["text"], got["version"]) == ("first", 1)


BAD_PATCHES = [
    ("dup", "nope", 422, "(body)"),
    ("dup", {"text": 1}, 422, "text"),
    ("dup", {"name": "renamed"}, 422, "name"),
    ("dup", {"text": "<<<managed_prompt:dup>>>"}, 422, "text"),
    ("dup", {"extra": 1}, 422, "extra"),
    ("missing", {"text": "x"}, 404, "missing"),
]


@pytest.mark.parametrize(("name", "body", "status", "named"), BAD_PATCHES)
async def test_a_bad_update_is_refused_and_changes_nothing(
    team: Team, name: str, body: Any, status: int, named: str
):
    await create(team, name="dup", text="first")
    response = await team.client.patch(f"{BASE}/{name}", json=body)
    assert response.status_code == status, response.text
    assert named in response.json()["message"]
    got = (await team.client.get(f"{BASE}/dup")).json()["managed_prompt"]
    assert (got["text"], got["version"]) == ("first", 1)
    assert "missing" not in [i["name"] for i in await listing(team)]


async def test_bad_paths_and_deletes_are_refused(team: Team):
    assert (await team.client.get(f"{BASE}/bad%20name")).status_code == 422
    assert (await team.client.get(f"{BASE}/nope")).status_code == 404
    not_kept = await team.client.get(f"{BASE}/global_workflow_prefix?version=3")
    assert not_kept.status_code == 404
    assert (await team.client.get(f"{BASE}/x?version=-1")).status_code == 422
    assert (await team.client.delete(f"{BASE}/nope")).status_code == 404
    built_in = await team.client.delete(f"{BASE}/global_workflow_suffix")
    assert built_in.status_code == 409
    assert len(await listing(team)) == 2


# ------------------------------------------------------------------ runs


def prompted_workflow(node_prompt: str) -> dict[str, Any]:
    """Greeting -> chat (a judged edge to goodbye), with references everywhere a
    prompt reaches a model: prefix, suffix, the node prompt, the edge condition."""
    return {
        "name": "Prompted",
        "workflow_config": {
            "default_prompt_prefix": PREFIX,
            "default_prompt_suffix": SUFFIX,
        },
        "node_configs": [
            static_node("node_greet", "Hello!", is_start=True),
            say_node("node_chat", prompt=node_prompt),
            static_node("node_bye", "Goodbye!"),
        ],
        "edge_configs": [
            edge("edge_greet", "node_greet", "node_chat"),
            edge(
                "edge_bye",
                "node_chat",
                "node_bye",
                type="conditional",
                condition={
                    "condition_freeform": "<<<managed_prompt:leave_rule>>> The "
                    "user wants to leave"
                },
            ),
        ],
    }


async def converse(team: Team, wid: str) -> dict[str, Any]:
    """Start a run (the greeting) and say one thing to the chat node."""
    first = await team.client.post(
        f"/v1/workflows/{wid}/execute", json={"run_input": START}
    )
    assert first.status_code == 200, first.text
    run_id = first.json()["run_id"]
    response = await team.client.post(
        f"/v1/workflows/{wid}/execute", json={"run_id": run_id, "run_input": says("hi")}
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def start_run(team: Team, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    created = await team.client.post("/v1/workflows", json=body)
    assert created.status_code == 200, created.text
    wid = created.json()["workflow"]["_id"]
    return wid, await converse(team, wid)


async def run_record(team: Team, run_id: str) -> dict[str, Any]:
    response = await team.client.get(f"/v1/workflow-runs/{run_id}")
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()["workflow_run"]["workflow_run"]
    return record


async def test_a_run_sends_the_texts_and_records_their_versions(
    team: Team, llm: ScriptedLLM
):
    await create(team, name="persona", text="You are Ada, the clinic's helper.")
    await create(team, name="leave_rule", text="Judge strictly.")
    await team.client.patch(f"{BASE}/persona", json={"text": "You are Ada, v2."})
    llm.extend("Hi there")
    _, answer = await start_run(
        team, prompted_workflow("<<<managed_prompt:persona>>> Help the user.")
    )
    assert_no_marker(llm)
    system = llm.requests_for("node")[0].messages[0].content
    assert system.startswith(BUILT_IN["global_workflow_prefix"]["text"])
    assert "You are Ada, v2. Help the user." in system
    assert system.endswith(BUILT_IN["global_workflow_suffix"]["text"])
    # The edge's condition reaches the model as its routing tool's description.
    tools = [t.description for t in llm.requests_for("node")[0].tools]
    assert "Judge strictly. The user wants to leave" in tools
    # Changing a prompt later does not change the run: it keeps its versions.
    await team.client.patch(f"{BASE}/persona", json={"text": "You are Bob."})
    record = await run_record(team, answer["run_id"])
    used = record["workflow_config_fully_hydrated"]["managed_prompts"]
    assert used["persona"]["version"] == 2
    assert used["persona"]["text"] == "You are Ada, v2."
    assert used["global_workflow_prefix"]["version"] == 0
    assert used["leave_rule"]["version"] == 1


async def test_an_unknown_name_is_a_save_warning_and_a_run_event_never_sent(
    team: Team, llm: ScriptedLLM
):
    body = prompted_workflow("<<<managed_prompt:nobody>>>Help the user.")
    created = await team.client.post("/v1/workflows", json=body)
    warnings = created.json()["warnings"]
    unknown = [w for w in warnings if w["code"] == "unknown_managed_prompt"]
    assert {
        (w["node_logical_id"], w["edge_logical_id"], w["field"]) for w in unknown
    } == {
        ("node_chat", None, "main_response_config.prompt"),
        (None, "edge_bye", "condition.condition_freeform"),
    }
    assert all(
        "nobody" in w["message"] or "leave_rule" in w["message"] for w in unknown
    )
    llm.extend("Hi there")
    answer = await converse(team, created.json()["workflow"]["_id"])
    assert_no_marker(llm)
    text = str(answer)
    assert "managed prompt 'nobody' does not exist" in text
    assert "managed prompt 'leave_rule' does not exist" in text
    record = await run_record(team, answer["run_id"])
    assert record["workflow_config_fully_hydrated"]["managed_prompts"]["nobody"] == {
        "managed_prompt_id": None,
        "version": None,
        "missing": True,
    }


async def test_replacing_a_version_config_warns_about_unknown_names(team: Team):
    created = await team.client.post("/v1/workflows", json=prompted_workflow("Hi"))
    wid = created.json()["workflow"]["_id"]
    response = await team.client.patch(
        f"/v1/workflows/{wid}/versions/0/config",
        json={"config": {"default_prompt_prefix": "<<<managed_prompt:ghost>>>"}},
    )
    assert response.status_code == 200, response.text
    fields = [w["field"] for w in response.json()["warnings"]]
    assert fields == ["default_prompt_prefix"]
