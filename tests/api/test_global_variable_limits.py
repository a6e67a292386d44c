"""One bad global variable never breaks the team's list.

Values are checked before they are stored (valid Unicode, a bounded depth and
size: ``THREADLINE_MAX_VARIABLE_DEPTH``, ``THREADLINE_MAX_VARIABLE_BYTES``), and
rows stored before that check are still listed, resolved, fixed and deleted.
"""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import Team, make_team
from tests.factories import static_node
from threadline.api.app import bootstrap, create_app
from threadline.ids import new_object_id
from threadline.service.definitions import workflows as wf
from threadline.service.runtime import Runtime
from threadline.service.team import global_variables as service
from threadline.settings import Settings
from threadline.store import Document, Store

URL = "/v1/global-variables"


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        max_body_bytes=200_000,
        max_variable_depth=8,
        max_variable_bytes=1_000,
    )


async def listed(team: Team) -> dict[str, Any]:
    response = await team.client.get(URL)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (nested(9), "variable_too_deep"),
        ({"k": nested(8)}, "variable_too_deep"),
        ("x" * 1_001, "variable_too_large"),
        (["é" * 300, "é" * 300], "variable_too_large"),  # bytes, not characters
    ],
)
async def test_a_value_over_the_limits_is_a_422_and_is_not_stored(
    team: Team, value: Any, code: str
):
    response = await team.client.post(URL, json={"name": "big", "value": value})
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["code"] == code
    assert error["errors"][0]["field"].startswith("value")
    assert (await listed(team))["total"] == 0


async def test_a_value_at_the_limits_is_kept(team: Team):
    for name, value in (("deep", nested(8)), ("long", "x" * 990)):
        response = await team.client.post(URL, json={"name": name, "value": value})
        assert response.status_code == 200, response.text
        assert response.json()["variable"]["value"] == value
    assert (await listed(team))["total"] == 2


async def test_bulk_reports_a_bad_value_and_creates_the_rest(team: Team):
    body = {
        "variables": [
            {"name": "ok", "value": "fine"},
            {"name": "deep", "value": nested(20)},
        ]
    }
    response = await team.client.post(f"{URL}/bulk", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["total_created"] == 1 and result["total_errors"] == 1
    assert result["errors"][0]["code"] == "variable_too_deep"
    assert result["errors"][0]["name"] == "deep"


async def test_an_update_over_the_limits_is_a_422_and_keeps_the_value(team: Team):
    created = await team.client.post(URL, json={"name": "v", "value": "before"})
    variable_id = created.json()["variable"]["id"]
    response = await team.client.patch(
        f"{URL}/{variable_id}", json={"value": nested(30)}
    )
    assert response.status_code == 422
    got = await team.client.get(f"{URL}/{variable_id}")
    assert got.json()["variable"]["value"] == "before"


async def _stored_before_the_fix(
    store: Store, team: Team, name: str, value: Any
) -> str:
    """A row as the service wrote it before values were checked."""
    now = wf.now()
    doc = Document(
        id=new_object_id(),
        team_id=team.team_id,
        body={"name": name, "value": value, "description": None, "is_secret": False},
        created_at=now,
        updated_at=now,
        created_by=team.user_id,
        updated_by=team.user_id,
        name=name,
        search_text=name,
    )
    async with store.begin() as tx:
        await tx.documents(service.COLLECTION).insert(doc)
    return doc.id


async def test_rows_stored_before_the_check_are_listed_resolved_fixed_and_deleted(
    store: Store, team: Team
):
    await team.client.post(URL, json={"name": "good", "value": "fine"})
    deep = await _stored_before_the_fix(store, team, "deep", nested(300))
    broken = await _stored_before_the_fix(store, team, "broken", "a\ud800b")
    body = await listed(team)
    assert body["total"] == 3
    shown = {v["name"]: v for v in body["variables"]}
    assert shown["good"]["value"] == "fine"
    for name in ("deep", "broken"):
        assert shown[name]["value"] is None
        assert "cannot be shown" in shown[name]["value_error"]
    resolved = await team.client.get(f"{URL}/resolve")
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["variables"] == {
        "good": "fine",
        "deep": None,
        "broken": None,
    }
    one = await team.client.get(f"{URL}/{deep}")
    assert one.status_code == 200 and one.json()["variable"]["value"] is None
    fixed = await team.client.patch(f"{URL}/{deep}", json={"value": [1, 2]})
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["variable"]["value"] == [1, 2]
    assert "value_error" not in fixed.json()["variable"]
    renamed = await team.client.patch(f"{URL}/{broken}", json={"name": "renamed"})
    assert renamed.status_code == 200, renamed.text
    assert (await team.client.delete(f"{URL}/{broken}")).status_code == 204
    assert (await listed(team))["total"] == 2


async def test_a_run_goes_on_when_a_stored_value_is_unreadable(
    store: Store, team: Team
):
    await _stored_before_the_fix(store, team, "deep", nested(300))
    body = {
        "name": "uses globals",
        "node_configs": [
            static_node("node_hi", "Deep is [{{global.deep}}]", is_start=True)
        ],
        "edge_configs": [],
    }
    created = await team.client.post("/v1/workflows", json=body)
    workflow_id = created.json()["workflow"]["_id"]
    start = {
        "command": "start",
        "thread_to_node_inputs": {"0": {"node_run_inputs": []}},
    }
    run = await team.client.post(
        f"/v1/workflows/{workflow_id}/execute", json={"run_input": start}
    )
    assert run.status_code == 200, run.text
    assert "Deep is []" in run.text


@pytest.fixture
async def default_limits_client(
    store: Store, database_url: str, runtime: Runtime
) -> AsyncIterator[Team]:
    settings = Settings(database_url=database_url)
    app = create_app(settings, store=store, runtime=runtime)
    await bootstrap(store, settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield await make_team(store, client)


async def test_the_default_limits_keep_ordinary_values_and_refuse_deep_ones(
    default_limits_client: Team,
):
    team = default_limits_client
    ordinary = {"hours": {"mon": ["9-5"], "sat": None}, "phones": ["555-0100"]}
    ok = await team.client.post(URL, json={"name": "clinic", "value": ordinary})
    assert ok.status_code == 200
    deep = await team.client.post(URL, json={"name": "deep", "value": nested(40)})
    assert deep.status_code == 422
    assert deep.json()["code"] == "variable_too_deep"
