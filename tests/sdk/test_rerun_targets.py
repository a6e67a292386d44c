"""Re-runs onto another version or workflow, through the SDK's own client."""

from typing import Any

import pytest

from tests.api.conftest import Team
from tests.api.test_execute import new_workflow
from tests.api.test_rerun_targets import other_workflow
from tests.api.test_reruns import _three_turn_run
from tests.api.test_upgrades import NEW_PROMPT, _version, _with_prompt
from threadline.providers.fake import ScriptedLLM

interactly = pytest.importorskip("interactly")
RerunMode = interactly.types.reruns.rerun.RerunMode


async def test_a_conversation_is_rerun_against_a_new_version(
    sdk: Any, team: Team, llm: ScriptedLLM
) -> None:
    wid, run_id = await _three_turn_run(team, llm)
    v1 = await _version(team, wid, _with_prompt(NEW_PROMPT))
    llm.extend("Tuesday works")

    preflight = await sdk.reruns.preflight(run_id, 1, target_version_number=v1)
    started = await sdk.reruns.execute(
        run_id,
        1,
        target_version_number=v1,
        message="next Tuesday instead",
        run_async=False,
    )
    rerun = await sdk.runs.get(started.workflow_run_id)
    lineage = await sdk.runs.list(source_workflow_run_id=run_id, source_turn_index=1)

    assert preflight.resolved_mode == RerunMode.REMAPPED
    assert preflight.is_resumable is True
    assert preflight.carries_over.message_count == 3
    assert started.resolved_mode == RerunMode.REMAPPED
    assert (rerun.workflow_id, rerun.version_number) == (wid, v1)
    assert [r.id for r in lineage.items] == [started.workflow_run_id]
    system = [str(m.content) for m in llm.requests[-1].messages if m.role == "system"]
    assert any("You help VIP patients of Northside." in s for s in system)


async def test_a_portable_token_and_a_bad_target_through_the_sdk(
    sdk: Any, team: Team, llm: ScriptedLLM
) -> None:
    _, run_id = await _three_turn_run(team, llm)
    other = await new_workflow(team, other_workflow())

    token = await sdk.reruns.create_token(
        run_id, 1, target_workflow_id=other, entry_node_logical_id="node_helper"
    )
    preview = await sdk.reruns.preview_token(run_id, 1, token.rerun_token)
    with pytest.raises(interactly.NotFoundError) as missing:
        await sdk.reruns.execute(run_id, 1, target_workflow_id="f" * 24)
    with pytest.raises(interactly.ConflictError) as stricter:
        await sdk.reruns.create_token(
            run_id, 1, target_workflow_id=other, requested_mode="EXACT"
        )

    assert token.resolved_mode == RerunMode.PORTABLE
    assert token.target_workflow_id == other
    assert token.entry_node_logical_id == "node_helper"
    assert token.restored_message_count == 3
    assert preview.resume_thread_id == "0"
    assert preview.threads[0]["node_logical_id"] == "node_helper"
    assert missing.value.body["code"] == "rerun_target_not_found"
    assert stricter.value.body["code"] == "rerun_mode_unavailable"
