"""The ``interrupt`` multitask policy when the running turn has no step left.

Found driving the server with the SDK: a command that arrives while a one-step turn
is inside its only LLM call asks for an interrupt the turn can no longer honour
(there is no later step boundary). The turn finishes normally, and the new command
must then run as an ordinary turn, not be interrupted by its own request.
"""

import asyncio

from tests.api.conftest import Team
from tests.api.test_durability import post, queued, start_gated
from tests.api.test_execute import says, spoken
from threadline.providers.fake import ScriptedLLM
from threadline.service.runtime import Runtime
from threadline.store import Store


async def test_an_interrupt_after_the_last_step_leaves_the_new_command_its_turn(
    team: Team, runtime: Runtime, llm: ScriptedLLM, store: Store
):
    wid, run_id, gate = await start_gated(team, runtime, llm)
    await team.client.patch(
        f"/v1/workflows/{wid}/multitask", json={"multitask_strategy": "interrupt"}
    )
    llm.extend("Answer to a.", "Answer to b.")
    first = asyncio.create_task(
        post(team, wid, {"run_id": run_id, "run_input": says("a")})
    )
    await gate.entered.wait()
    second = asyncio.create_task(
        post(team, wid, {"run_id": run_id, "run_input": says("b", "data")})
    )
    await queued(store, run_id)
    gate.release.set()
    finished, answer = await first, await second
    assert finished.status_code == 200, finished.text
    assert answer.status_code == 200, answer.text
    assert spoken(answer.json()) == ["Answer to b."]
