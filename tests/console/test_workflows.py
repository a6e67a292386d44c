"""Workflow pages: list and search, versions with the active one, the drawn graph."""

import copy
import re
from typing import Any

from tests.api.conftest import Team
from tests.console.conftest import sign_in
from tests.factories import edge, hydrated_workflow, static_node


def rich_workflow(name: str) -> dict[str, Any]:
    body = copy.deepcopy(hydrated_workflow(name))
    faq = static_node("node_faq", "Opening hours are 9 to 5.")
    faq["global_node_config"] = {"is_global": True}  # no condition: a warning
    body["node_configs"].append(faq)
    side = static_node("node_note", "Noted.")
    body["node_configs"].append(side)
    body["edge_configs"].append(
        edge(
            "edge_side",
            "node_greet",
            "node_note",
            companion_thread_config={"is_companion_thread": True, "thread_id": "notes"},
        )
    )
    return body


async def create(team: Team, body: dict[str, Any]) -> str:
    response = await team.client.post("/v1/workflows", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["workflow"]["_id"])


async def test_the_list_searches_and_links_each_workflow(team: Team):
    first = await create(team, hydrated_workflow("Dental intake"))
    await create(team, hydrated_workflow("Billing helper"))
    team.client.headers.pop("Authorization")
    await sign_in(team.client, team.key)
    listed = (await team.client.get("/ui/workflows")).text
    assert "Dental intake" in listed and "Billing helper" in listed
    found = (await team.client.get("/ui/workflows", params={"search": "dental"})).text
    assert f'href="/ui/workflows/{first}"' in found and "Billing helper" not in found


async def test_the_detail_draws_the_graph_with_kinds_marks_and_problems(team: Team):
    workflow_id = await create(team, rich_workflow("Clinic"))
    made = await team.client.post(
        f"/v1/workflows/{workflow_id}/versions", json={"version_name": "Second"}
    )
    assert made.status_code == 200, made.text
    team.client.headers.pop("Authorization")
    await sign_in(team.client, team.key)
    html = (await team.client.get(f"/ui/workflows/{workflow_id}")).text
    versions = html.split('id="versions"')[1].split("</ul>")[0]
    assert versions.count("<li") == 2 and versions.count("active</span>") == 1
    assert "Second" in versions
    svg = html.split('<svg class="graph"')[1].split("</svg>")[0]
    assert re.search(
        r'class="node type-say_static start[^"]*" data-node="node_greet"', svg
    )
    assert re.search(
        r'class="node type-say_static global[^"]*" data-node="node_faq"', svg
    )
    assert 'class="edge kind-conditional" data-edge="edge_assist_bye"' in svg
    assert "The user wants to end the conversation" in svg
    assert 'class="edge kind-companion" data-edge="edge_side"' in svg
    # The warning about the global node without a condition sits on that node.
    assert "has-problem" in svg.split('data-node="node_faq"')[0].rsplit("<g", 1)[1]
    assert "global_node_without_condition" in html
    assert "notes" in html.split('id="companions"')[1].split("</ul>")[0]
    other = await team.client.get(f"/ui/workflows/{workflow_id}", params={"version": 1})
    assert other.status_code == 200 and "Graph of version 1" in other.text


async def test_another_teams_workflow_is_not_found(team: Team, other_team: Team):
    workflow_id = await create(team, hydrated_workflow("Secret plans"))
    other_team.client.headers.pop("Authorization")
    await sign_in(other_team.client, other_team.key)
    response = await other_team.client.get(f"/ui/workflows/{workflow_id}")
    assert response.status_code == 404 and "Secret plans" not in response.text
    assert "<html" in response.text
    listed = await other_team.client.get("/ui/workflows")
    assert "Secret plans" not in listed.text
    bad = await other_team.client.get("/ui/workflows/not-an-id")
    assert bad.status_code == 404
