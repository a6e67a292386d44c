"""A request's own work stays on the event loop: no dependency hops to a thread."""

from typing import Any

import fastapi.dependencies.utils as fastapi_deps
import pytest

from tests.api.conftest import Team
from tests.api.test_execute import START, new_workflow


async def test_execute_and_lists_use_no_thread_pool_dependency(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    hops: list[str] = []
    original = fastapi_deps.__dict__["run_in_threadpool"]

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(func, "__name__", repr(func)))
        return await original(func, *args, **kwargs)

    workflow_id = await new_workflow(team)
    monkeypatch.setattr(fastapi_deps, "run_in_threadpool", counted)
    started = await team.client.post(
        f"/v1/workflows/{workflow_id}/execute", json={"run_input": START}
    )
    listed = await team.client.get("/v1/workflows", params={"page": 1})
    assert started.status_code == 200, started.text
    assert listed.status_code == 200, listed.text
    assert hops == []
