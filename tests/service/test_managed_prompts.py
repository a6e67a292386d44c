"""Managed prompts on the store (SQLite here, PostgreSQL under ``make test-pg``):
names unique per team under concurrency, versions, and what a run records."""

import asyncio

import pytest

from threadline.errors import Conflict
from threadline.ids import new_object_id
from threadline.service.caller import Caller
from threadline.service.reuse import managed_prompts as prompts
from threadline.store import Query, Store

LIMITS = prompts.PromptLimits()


def caller() -> Caller:
    return Caller(team_id=new_object_id(), user_id=new_object_id())


async def test_concurrent_creates_of_one_name_store_exactly_one(store: Store):
    team = caller()
    body = {"name": "race", "text": "t"}
    results = await asyncio.gather(
        *(prompts.create(store, team, body, LIMITS) for _ in range(4)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, dict) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, dict))
    async with store.begin() as tx:
        _, total = await tx.documents(prompts.KIND).find(team.team_id, Query())
    assert total == 1


async def test_the_same_name_in_two_teams_is_two_prompts(store: Store):
    one, two = caller(), caller()
    await prompts.create(store, one, {"name": "voice", "text": "one"}, LIMITS)
    await prompts.create(store, two, {"name": "voice", "text": "two"}, LIMITS)
    assert (await prompts.get(store, one, "voice"))["text"] == "one"
    assert (await prompts.get(store, two, "voice"))["text"] == "two"


async def test_a_team_over_its_ceiling_cannot_create_more(store: Store):
    team = caller()
    small = prompts.PromptLimits(max_per_team=2)
    for name in ("a", "b"):
        await prompts.create(store, team, {"name": name, "text": "x"}, small)
    with pytest.raises(Conflict) as refused:
        await prompts.create(store, team, {"name": "c", "text": "x"}, small)
    assert refused.value.code == "over_limit"


async def test_a_run_records_the_current_version_of_each_name_it_uses(store: Store):
    team = caller()
    await prompts.create(store, team, {"name": "persona", "text": "v1"}, LIMITS)
    await prompts.update(store, team, "persona", {"text": "v2"}, LIMITS)
    hydrated = {
        "workflow_config": {
            "default_prompt_prefix": "<<<managed_prompt:global_workflow_prefix>>>"
        },
        "node_configs": [
            {
                "logical_id": "n",
                "main_response_config": {
                    "prompt": "<<<managed_prompt:persona>>><<<managed_prompt:nope>>>"
                },
            }
        ],
    }
    async with store.begin() as tx:
        snapshot = await prompts.resolve_for_run(tx, team.team_id, hydrated)
    used = snapshot["managed_prompts"]
    assert used["persona"]["version"] == 2 and used["persona"]["text"] == "v2"
    assert used["global_workflow_prefix"]["version"] == 0
    assert used["nope"]["missing"] is True
    assert prompts.texts_of(snapshot) == {
        "persona": "v2",
        "global_workflow_prefix": prompts.BUILT_IN["global_workflow_prefix"]["text"],
    }
    assert "managed_prompts" not in hydrated
