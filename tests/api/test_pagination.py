"""Every list answers the envelope a client pages with: total, page, size, pages."""

import pytest

from tests.api.conftest import Team
from tests.factories import hydrated_workflow


async def _walk(team: Team, path: str, plural: str, size: int) -> list[str]:
    """Follow ``page + 1`` while ``page < pages``, as the SDK does; return the ids."""
    seen: list[str] = []
    number = 1
    while True:
        response = await team.client.get(path, params={"page": number, "size": size})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["page"] == number and body["size"] == size
        assert body["pages"] == -(-body["total"] // size)
        seen += [item["_id"] for item in body[plural]]
        if body["page"] >= body["pages"]:
            return seen
        number += 1


async def test_every_workflow_is_reached_by_paging(team: Team):
    created = set()
    for i in range(5):
        response = await team.client.post("/v1/workflows", json={"name": f"W{i}"})
        created.add(response.json()["workflow"]["_id"])
    seen = await _walk(team, "/v1/workflows", "workflows", size=2)
    assert len(seen) == 5 and set(seen) == created


async def test_edges_nodes_and_active_versions_page_to_the_end(team: Team):
    for i in range(3):
        body = {**hydrated_workflow(f"Graph {i}")}
        assert (await team.client.post("/v1/workflows", json=body)).status_code == 200
    nodes = (await team.client.get("/v1/nodes")).json()["total"]
    edges = (await team.client.get("/v1/edges")).json()["total"]
    assert len(set(await _walk(team, "/v1/nodes", "nodes", size=2))) == nodes > 2
    assert len(set(await _walk(team, "/v1/edges", "edges", size=1))) == edges > 1
    active = await _walk(team, "/v1/workflows/versions/active", "versions", size=2)
    assert len(set(active)) == 3


@pytest.mark.parametrize(
    ("path", "plural"),
    [
        ("/v1/tools", "tools"),
        ("/v1/workflow-runs", "workflow_runs"),
        ("/v1/global-variables", "variables"),
        ("/v1/llm-configs", "llm_configs"),
        ("/v1/templates", "workflow_templates"),
        ("/v1/node-libraries", "node_libraries"),
        ("/v1/workflow-webhooks", "webhooks"),
        ("/v1/workflow-webhooks/events", "events"),
    ],
)
async def test_an_empty_list_says_it_has_no_pages(team: Team, path: str, plural: str):
    body = (await team.client.get(path, params={"size": 7})).json()
    assert body == {plural: [], "total": 0, "page": 1, "size": 7, "pages": 0}


async def test_a_page_past_the_end_is_empty_but_keeps_the_counts(team: Team):
    await team.client.post("/v1/workflows", json={"name": "Only"})
    body = (
        await team.client.get("/v1/workflows", params={"page": 3, "size": 1})
    ).json()
    assert body["workflows"] == [] and (body["total"], body["pages"]) == (1, 1)


async def test_a_bad_page_or_size_is_refused_naming_it(team: Team):
    for params, name in (({"page": 0}, "page"), ({"size": 0}, "size")):
        response = await team.client.get("/v1/workflows", params=params)
        assert response.status_code == 422
        assert name in response.text
