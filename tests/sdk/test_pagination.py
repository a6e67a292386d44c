"""The SDK's pages reach every item of every list."""

from typing import Any

from tests.factories import hydrated_workflow


async def test_list_all_returns_every_workflow(sdk: Any):
    for i in range(5):
        await sdk.workflows.create(name=f"Workflow {i}")
    first = await sdk.workflows.list(size=2)
    assert (first.total, first.pages, len(first.items)) == (5, 3, 2)
    assert len({w.id for w in await first.list_all()}) == 5
    second = await first.next_page()
    assert second.page_number == 2 and len(second.items) == 2


async def test_nodes_edges_and_active_versions_page_to_the_end(sdk: Any, team: Any):
    for i in range(3):
        response = await team.client.post(
            "/v1/workflows", json=hydrated_workflow(f"Graph {i}")
        )
        assert response.status_code == 200
    edges = await sdk.edges.list(size=1)
    assert len(await edges.list_all()) == edges.total > 1
    nodes = await sdk.nodes.list(size=2)
    assert len(await nodes.list_all()) == nodes.total > 2
    active = await sdk.workflows.versions.list_active(size=2)
    assert len(await active.list_all()) == 3
