"""Resolving saved-config references in run snapshots, secret masking, the migration."""

import copy
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, inspect

from threadline.errors import BadRequest, InvalidField, NotFound
from threadline.ids import new_object_id
from threadline.service.caller import Caller
from threadline.service.definitions import masking
from threadline.service.definitions.masking import mask_secrets
from threadline.service.team import llm_configs
from threadline.service.team.llm_config_refs import resolve_llm_refs
from threadline.store import Store, open_store
from threadline.store.migrations import LATEST_VERSION, current_version

J = dict[str, Any]
KEY = "sk-secret-abcdefgh1234"


@pytest.fixture
def caller() -> Caller:
    return Caller(team_id=new_object_id(), user_id=new_object_id())


async def save(store: Store, caller: Caller, model: str, **extra: Any) -> str:
    body = {
        "name": extra.pop("name", model),
        "config": {"type": "openai_llm", "model": model, "api_key": KEY},
        **extra,
    }
    return str((await llm_configs.create(store, caller, body))["id"])


def node(lid: str, **extra: Any) -> J:
    return {"type": "say_llm", "logical_id": lid, **extra}


def snapshot(*nodes: J, **workflow: Any) -> J:
    return {
        "workflow_config": {"name": "w", **workflow},
        "node_configs": list(nodes),
        "edge_configs": [],
    }


async def resolve(store: Store, caller: Caller, hydrated: J) -> J:
    async with store.begin() as tx:
        return await resolve_llm_refs(tx, caller.team_id, hydrated)


OPENAI = {"type": "openai_llm", "model": "inline"}
DEFAULT = {"type": "global_default_llm"}


async def test_attachable_ids_override_the_inline_config(store: Store, caller: Caller):
    cid = await save(store, caller, "gpt-5")
    wid = await save(store, caller, "gpt-4.1")
    given = snapshot(
        node("a", attachable_llm_config_id=cid, llms_config=OPENAI),
        node("b", llms_config=OPENAI),
        attachable_llm_config_id=wid,
        llms_config={"type": "no_llm"},
    )
    before = copy.deepcopy(given)
    out = await resolve(store, caller, given)
    assert given == before  # the input is never changed
    a, b = out["node_configs"]
    assert a["llms_config"]["model"] == "gpt-5" and a["llms_config"]["api_key"] == KEY
    assert a["llms_config"]["named_llm_config_id"] == cid
    assert a["attachable_llm_config_id"] == cid
    assert b["llms_config"] == OPENAI
    assert out["workflow_config"]["llms_config"]["model"] == "gpt-4.1"
    assert out["edge_configs"] == []


async def test_named_references_are_resolved_in_groups_and_other_llm_fields(
    store: Store, caller: Caller
):
    cid = await save(store, caller, "gpt-5", name="Fast")
    group = {
        "type": "llm_group_with_backchannel",
        "main_llm_config": {
            "type": "llm_group",
            "llms": [{"type": "openai_llm", "named_llm_config_id": cid}, OPENAI],
        },
        "backchannel_llm_config": {
            "type": "llm_group",
            "llms": [{"type": "global_default_llm", "named_llm_config_name": "Fast"}],
        },
    }
    end = {
        "type": "end_conversation",
        "logical_id": "end",
        "process_transcript_llms_config": {
            "type": "global_default_llm",
            "named_llm_config_id": cid,
        },
    }
    out = await resolve(store, caller, snapshot(node("a", llms_config=group), end))
    resolved = out["node_configs"][0]["llms_config"]
    main = resolved["main_llm_config"]["llms"]
    assert main[0]["model"] == "gpt-5" and main[1] == OPENAI
    back = resolved["backchannel_llm_config"]["llms"][0]
    assert back["model"] == "gpt-5" and back["named_llm_config_name"] == "Fast"
    assert out["node_configs"][1]["process_transcript_llms_config"]["model"] == "gpt-5"


async def test_unknown_references_name_the_node_and_the_id(
    store: Store, caller: Caller
):
    missing = new_object_id()
    with pytest.raises(NotFound) as raised:
        await resolve(
            store, caller, snapshot(node("greet", attachable_llm_config_id=missing))
        )
    assert "'greet'" in raised.value.message and missing in raised.value.message
    inline = {"type": "openai_llm", "named_llm_config_id": "some-uuid"}
    with pytest.raises(NotFound, match="some-uuid"):
        await resolve(store, caller, snapshot(node("a"), llms_config=inline))
    named = {"type": "openai_llm", "named_llm_config_name": "Nope"}
    with pytest.raises(NotFound, match=r"'a'.*Nope"):
        await resolve(store, caller, snapshot(node("a", llms_config=named)))


async def test_an_ambiguous_name_is_refused(store: Store, caller: Caller):
    await save(store, caller, "gpt-5", name="Twin")
    await save(store, caller, "gpt-4.1", name="Twin")
    named = {"type": "openai_llm", "named_llm_config_name": "Twin"}
    with pytest.raises(BadRequest, match="named_llm_config_id"):
        await resolve(store, caller, snapshot(node("a", llms_config=named)))


async def test_another_teams_config_cannot_be_referenced(store: Store, caller: Caller):
    theirs = await save(store, Caller(new_object_id(), new_object_id()), "gpt-5")
    with pytest.raises(NotFound):
        await resolve(
            store, caller, snapshot(node("a", attachable_llm_config_id=theirs))
        )


async def test_the_team_default_replaces_global_default_llm_where_it_is_used(
    store: Store, caller: Caller
):
    unchanged = snapshot(node("a", llms_config=DEFAULT), llms_config=DEFAULT)
    assert await resolve(store, caller, unchanged) == unchanged  # no team default
    cid = await save(store, caller, "team-default", is_default=True)
    # Workflow level: replaced; the node falls back to it.
    out = await resolve(store, caller, unchanged)
    assert out["workflow_config"]["llms_config"]["named_llm_config_id"] == cid
    assert out["node_configs"][0]["llms_config"] == DEFAULT
    # The workflow has an explicit config: the node's default means that one.
    explicit = snapshot(node("a", llms_config=DEFAULT), llms_config=OPENAI)
    assert await resolve(store, caller, explicit) == explicit
    # Nothing at workflow level to fall back to: the node gets the team default.
    bare = snapshot(node("a", llms_config=DEFAULT), llms_config=None)
    out = await resolve(store, caller, bare)
    assert out["node_configs"][0]["llms_config"]["model"] == "team-default"
    # A node without an LLM config is left alone.
    static = snapshot({"type": "say_static", "logical_id": "s"}, llms_config=None)
    assert await resolve(store, caller, static) == static


def test_mask_secrets_masks_every_llm_secret_without_changing_the_input():
    record = {
        "workflow_config_fully_hydrated": {
            "node_configs": [
                {
                    "llms_config": {
                        "type": "llm_group",
                        "llms": [
                            {"api_key": KEY, "model": "m"},
                            {"api_key": None},
                            {"api_key": SecretStr("short")},
                            {
                                "type": "bedrock_llm",
                                "aws_access_key_id": "AKIAEXAMPLE",
                                "aws_secret_access_key": "wJalrXUtnFEMIK7MDENG",
                            },
                            {
                                "default_headers": {
                                    "X-Api-Key": "header-secret-9876",
                                    "X-Tenant": "north",
                                }
                            },
                        ],
                    }
                }
            ]
        }
    }
    before = copy.deepcopy(record)
    masked = mask_secrets(record)
    assert record == before
    llms = masked["workflow_config_fully_hydrated"]["node_configs"][0]["llms_config"][
        "llms"
    ]
    assert llms[0] == {"api_key": "****1234", "model": "m"}
    assert llms[1] == {"api_key": None} and llms[2] == {"api_key": "****"}
    assert llms[3]["aws_secret_access_key"] == "****DENG"
    assert llms[3]["aws_access_key_id"] == "AKIAEXAMPLE"
    assert llms[4]["default_headers"] == {"X-Api-Key": "****9876", "X-Tenant": "north"}
    assert mask_secrets(masked) == masked


def test_masked_secrets_are_restored_by_place_or_by_mask():
    stored = {
        "type": "llm_group",
        "llms": [{"api_key": KEY}, {"api_key": "k-2-zzzz9999"}],
    }
    swapped = {
        "type": "llm_group",
        "llms": [{"api_key": "****9999"}, {"api_key": "****1234"}, {"api_key": None}],
    }
    out = masking.restore_secrets(swapped, stored, field="config", keep_missing=False)
    assert [m["api_key"] for m in out["llms"]] == ["k-2-zzzz9999", KEY, None]
    kept = masking.restore_secrets(
        {"api_key": None}, {"api_key": KEY}, field="config", keep_missing=True
    )
    assert kept == {"api_key": KEY}
    with pytest.raises(InvalidField, match=r"config\.llms\.0\.api_key"):
        masking.restore_secrets(
            {"llms": [{"api_key": "****0000"}]},
            stored,
            field="config",
            keep_missing=False,
        )


async def test_a_version_2_database_gets_the_llm_configs_table(tmp_path: Path):
    path = tmp_path / "v2.db"
    store = open_store(f"sqlite:///{path}")
    await store.migrate()
    await store.close()
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE llm_configs")
        conn.exec_driver_sql("UPDATE threadline_schema_version SET version = 2")
    store = open_store(f"sqlite:///{path}")
    assert await store.migrate() == LATEST_VERSION - 2
    await store.close()
    with engine.connect() as conn:
        assert "llm_configs" in inspect(conn).get_table_names()
        assert current_version(conn) == LATEST_VERSION
    engine.dispose()
