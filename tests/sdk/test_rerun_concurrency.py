"""reruns.execute through the SDK counts against the workflow's limit."""

from typing import Any

import pytest

from tests.api.conftest import Team
from tests.api.test_reruns import _three_turn_run
from threadline.providers.fake import ScriptedLLM

interactly = pytest.importorskip("interactly")


async def test_a_rerun_over_the_workflow_limit_raises_rate_limited(
    sdk: Any, team: Team, llm: ScriptedLLM
) -> None:
    wid, run_id = await _three_turn_run(team, llm)
    await sdk.workflows.update_concurrency(wid, max_concurrent_runs=1)
    with pytest.raises(interactly.RateLimitError) as raised:
        await sdk.reruns.execute(run_id, 1, run_async=False)
    assert raised.value.body["code"] == "concurrency_limit"
    await sdk.workflows.update_concurrency(wid, max_concurrent_runs=2)
    started = await sdk.reruns.execute(run_id, 1, run_async=False)
    assert started.workflow_run_id != run_id
