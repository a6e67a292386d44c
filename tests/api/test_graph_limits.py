"""A graph over the operator's size limits is a 422 ``graph_too_large`` naming the
field, and nothing is stored (``THREADLINE_MAX_GRAPH_*``)."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import Team, make_team
from tests.factories import edge, static_node
from threadline.api.app import bootstrap, create_app
from threadline.service.runtime import Runtime
from threadline.settings import Settings
from threadline.store import Store


def chain(nodes: int, text: str = "Hi") -> dict[str, Any]:
    return {
        "name": "chain",
        "workflow_config": {},
        "node_configs": [
            static_node(f"node_{i}", text, is_start=i == 0) for i in range(nodes)
        ],
        "edge_configs": [
            edge(f"edge_{i}", f"node_{i}", f"node_{i + 1}") for i in range(nodes - 1)
        ],
    }


async def team_with(
    store: Store, runtime: Runtime, settings: Settings
) -> AsyncIterator[Team]:
    app = create_app(settings, store=store, runtime=runtime)
    await bootstrap(store, settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield await make_team(store, client)


@pytest.fixture
async def small(
    store: Store, database_url: str, runtime: Runtime
) -> AsyncIterator[Team]:
    settings = Settings(
        database_url=database_url,
        max_graph_nodes=10,
        max_graph_edges=5,
        max_graph_entity_bytes=2_000,
    )
    async for team in team_with(store, runtime, settings):
        yield team


@pytest.fixture
async def defaults(
    store: Store, database_url: str, runtime: Runtime
) -> AsyncIterator[Team]:
    async for team in team_with(store, runtime, Settings(database_url=database_url)):
        yield team


def refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["code"] == "graph_too_large"
    assert error["errors"][0]["field"] == field


async def count(team: Team) -> int:
    total: int = (await team.client.get("/v1/workflows")).json()["total"]
    return total


async def test_a_graph_at_the_limits_is_saved(small: Team):
    body = chain(6)
    body["node_configs"].extend(static_node(f"lone_{i}", "x" * 1_500) for i in range(4))
    response = await small.client.post("/v1/workflows", json=body)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**chain(1), "node_configs": chain(11)["node_configs"]}, "node_configs"),
        (chain(7), "edge_configs"),
        (chain(2, "x" * 2_000), "node_configs.0"),
    ],
)
async def test_a_workflow_over_the_limits_is_refused(
    small: Team, body: dict[str, Any], field: str
):
    refused(await small.client.post("/v1/workflows", json=body), field)
    wrapped = {"name": "w", "config": body}
    refused(await small.client.post("/v1/workflows", json=wrapped), f"{field}")
    assert await count(small) == 0


async def test_a_version_config_or_bundle_over_the_limits_is_refused(small: Team):
    created = await small.client.post("/v1/workflows", json=chain(3))
    workflow_id = created.json()["workflow"]["_id"]
    response = await small.client.patch(
        f"/v1/workflows/{workflow_id}/versions/0/config", json={"config": chain(11)}
    )
    refused(response, "config.node_configs")
    kept = await small.client.get(
        f"/v1/workflows/{workflow_id}", params={"fully_hydrate": True}
    )
    assert len(kept.json()["workflow"]["workflow_config"]["node_configs"]) == 3
    bundle = {
        "bundle": {
            "versions": [{"version_number": 0, "config": chain(11)}],
            "active_version_number": 0,
        }
    }
    response = await small.client.post("/v1/workflows/import/bundle", json=bundle)
    refused(response, "bundle.versions.0.config.node_configs")
    assert await count(small) == 1


async def test_the_default_limits_take_a_thousand_node_graph(defaults: Team):
    response = await defaults.client.post("/v1/workflows", json=chain(1_000))
    assert response.status_code == 200, response.text
    too_big = await defaults.client.post("/v1/workflows", json=chain(2_001))
    refused(too_big, "node_configs")
