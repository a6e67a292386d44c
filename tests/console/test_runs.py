"""Run pages: the filtered list, one run turn by turn, feedback and re-runs."""

import re
from typing import Any

import pytest

from tests.api.conftest import Team
from tests.api.test_execute import START, chat_workflow, execute, new_workflow, says
from tests.console.conftest import sign_in
from tests.factories import edge
from threadline.providers.fake import ScriptedLLM, tool_call
from threadline.service.caller import Caller
from threadline.service.running import run_views
from threadline.service.running.run_views import RunFilter
from threadline.store import Store


async def finished_run(team: Team, llm: ScriptedLLM) -> tuple[str, str]:
    """A three-turn conversation that ends at node_bye: (workflow id, run id)."""
    wid = await new_workflow(team, chat_workflow())
    first = await execute(
        team, wid, {"run_input": {**START, "dynamic_variables": {"patient": "Ann"}}}
    )
    run_id = str(first["run_id"])
    llm.extend(
        "Of course, Ann.",
        [tool_call("Destination_Node__node_bye", {"justification": "leaving"})],
    )
    await execute(team, wid, {"run_id": run_id, "run_input": says("Appointment?")})
    await execute(team, wid, {"run_id": run_id, "run_input": says("bye", "data")})
    return wid, run_id


def section(html: str, marker: str) -> str:
    return html.split(marker, 1)[1].split("</section>", 1)[0]


async def test_a_run_page_shows_each_turn_its_events_path_and_variables(
    team: Team, llm: ScriptedLLM
):
    wid, run_id = await finished_run(team, llm)
    team.client.headers.pop("Authorization")
    await sign_in(team.client, team.key)
    html = (await team.client.get(f"/ui/runs/{run_id}")).text
    assert 'id="run-status">completed<' in html and 'id="why"' not in html
    turn1 = section(html, 'id="turn-1"')
    assert 'data-role="user">Appointment?<' in turn1
    assert 'data-role="reply">Of course, Ann.<' in turn1
    calls = re.findall(
        r"model fake-model, tokens (\d+) in / (\d+) out / (\d+) total, 5 ms", turn1
    )
    assert len(calls) == 1 and int(calls[0][0]) + int(calls[0][1]) == int(calls[0][2])
    assert f"· {calls[0][2]} tokens" in turn1
    turn2 = section(html, 'id="turn-2"')
    assert "Edge edge_bye taken (conditional_edge): node_chat → node_bye" in turn2
    assert "condition: The user wants to leave" in turn2
    assert 'class="edge kind-conditional on-path" data-edge="edge_bye"' in turn2
    assert 'data-node="node_bye"' in turn2 and "on-path" in turn2
    assert "<code>justification</code></td><td>added" in turn2
    assert "Entered node node_bye" in turn2 and "Left node Node Chat" in turn2
    totals = html.split('id="totals"')[1].split("</table>")[0]
    assert "<td>fake-model</td><td>fake</td><td>2</td>" in totals
    assert f'href="/ui/workflows/{wid}?version=0"' in html


async def test_comments_and_ratings_are_added_and_removed_from_the_page(
    team: Team, llm: ScriptedLLM
):
    _, run_id = await finished_run(team, llm)
    team.client.headers.pop("Authorization")
    csrf = await sign_in(team.client, team.key)
    base = f"/ui/runs/{run_id}"
    no_token = await team.client.post(f"{base}/comments", data={"content": "x"})
    assert no_token.status_code == 403
    added = await team.client.post(
        f"{base}/comments", data={"content": "Nice run", "csrf_token": csrf}
    )
    assert added.status_code == 303
    on_turn = await team.client.post(
        f"{base}/comments",
        data={"content": "Turn one note", "turn_index": "1", "csrf_token": csrf},
    )
    assert on_turn.status_code == 303
    rated = await team.client.post(
        f"{base}/rating", data={"value": "up", "turn_index": "1", "csrf_token": csrf}
    )
    assert rated.status_code == 303
    html = (await team.client.get(base)).text
    run_comments = html.split('id="run-comments"')[1]
    assert "Nice run" in run_comments
    assert "Turn one note" in section(html, 'id="turn-1"')
    assert "rated up" in section(html, 'id="turn-1"')
    comment_id = run_comments.split("/comments/")[1].split("/delete")[0]
    removed = await team.client.post(
        f"{base}/comments/{comment_id}/delete", data={"csrf_token": csrf}
    )
    assert removed.status_code == 303
    assert "Nice run" not in (await team.client.get(base)).text
    empty = await team.client.post(
        f"{base}/comments", data={"content": " ", "csrf_token": csrf}
    )
    assert empty.status_code == 422 and "content" in empty.text


async def test_a_rerun_from_a_turn_links_both_ways(team: Team, llm: ScriptedLLM):
    _, run_id = await finished_run(team, llm)
    team.client.headers.pop("Authorization")
    csrf = await sign_in(team.client, team.key)
    preflight = await team.client.get(f"/ui/runs/{run_id}/turns/1/rerun")
    assert preflight.status_code == 200, preflight.text
    assert "EXACT" in preflight.text and 'id="rerun-form"' in preflight.text
    llm.extend("Sure thing.")
    started = await team.client.post(
        f"/ui/runs/{run_id}/turns/1/rerun",
        data={"csrf_token": csrf, "message": "Tomorrow?"},
    )
    assert started.status_code == 303
    new_page = await team.client.get(started.headers["location"])
    assert f'id="source-run" href="/ui/runs/{run_id}"' in new_page.text
    assert 'data-role="user">Tomorrow?<' in new_page.text
    new_id = started.headers["location"].rsplit("/", 1)[1]
    assert (
        f'href="/ui/runs/{new_id}"'
        in (await team.client.get(f"/ui/runs/{run_id}")).text
    )
    listed = await team.client.get("/ui/runs", params={"rerun_of": run_id})
    assert new_id in listed.text and listed.text.count('data-run="') == 1


async def test_the_list_filters_by_every_field(team: Team, llm: ScriptedLLM):
    wid, done = await finished_run(team, llm)
    waiting = (await execute(team, wid, {"run_input": START}))["run_id"]
    team.client.headers.pop("Authorization")
    await sign_in(team.client, team.key)

    async def ids(**params: Any) -> set[str]:
        response = await team.client.get("/ui/runs", params=params)
        assert response.status_code == 200, response.text
        return {p.split('"')[0] for p in response.text.split('data-run="')[1:]}

    assert await ids() == {done, waiting}
    assert await ids(status="completed") == {done}
    assert await ids(status="waiting_for_user_input", workflow_id=wid) == {waiting}
    assert await ids(version="0") == {done, waiting}
    assert await ids(version="3") == set()
    assert await ids(evaluation="not_evaluated") == {done, waiting}
    assert await ids(evaluation="evaluated") == set()
    assert await ids(termination_source="nobody") == set()
    assert await ids(start="2000-01-01", end="2999-01-01") == {done, waiting}
    assert await ids(end="2000-01-01") == set()
    bad = await team.client.get("/ui/runs", params={"version": "x"})
    assert bad.status_code == 422 and "version" in bad.text


async def test_a_waiting_run_says_why_it_is_not_moving(team: Team):
    wid = await new_workflow(team, chat_workflow())
    run_id = (await execute(team, wid, {"run_input": START}))["run_id"]
    team.client.headers.pop("Authorization")
    await sign_in(team.client, team.key)
    html = (await team.client.get(f"/ui/runs/{run_id}")).text
    why = html.split('id="why">')[1].split("</p>")[0]
    assert "waiting for the user" in why and "node_chat" in why
    assert 'data-node="node_chat"' in html
    assert "waiting" in html.split('data-node="node_chat"')[0].rsplit("<g", 1)[1]
    live = await team.client.get(
        f"/ui/runs/{run_id}/status",
        params={"shown": "waiting_for_user_input", "turns": 1},
    )
    assert live.status_code == 200 and "HX-Refresh" not in live.headers
    moved = await team.client.get(
        f"/ui/runs/{run_id}/status", params={"shown": "running", "turns": 0}
    )
    assert moved.headers["HX-Refresh"] == "true"


async def test_another_teams_run_is_not_found(
    team: Team, other_team: Team, llm: ScriptedLLM
):
    _, run_id = await finished_run(team, llm)
    other_team.client.headers.pop("Authorization")
    csrf = await sign_in(other_team.client, other_team.key)
    assert (await other_team.client.get(f"/ui/runs/{run_id}")).status_code == 404
    assert run_id not in (await other_team.client.get("/ui/runs")).text
    post = await other_team.client.post(
        f"/ui/runs/{run_id}/comments", data={"content": "hi", "csrf_token": csrf}
    )
    assert post.status_code == 404
    rerun = await other_team.client.get(f"/ui/runs/{run_id}/turns/1/rerun")
    assert rerun.status_code == 404


async def test_a_looping_run_shows_its_cycle_on_the_graph(team: Team):
    body = {
        "name": "Loops",
        "workflow_config": {},
        "node_configs": [
            {
                "type": "say_static",
                "logical_id": "node_hi",
                "is_start": True,
                "static_messages_config": {"static_messages": ["Hi"]},
            },
            {"type": "no_op", "logical_id": "node_a", "name": "A"},
            {"type": "no_op", "logical_id": "node_b", "name": "B"},
        ],
        "edge_configs": [
            edge("edge_in", "node_hi", "node_a"),
            edge("edge_ab", "node_a", "node_b"),
            edge("edge_ba", "node_b", "node_a"),
        ],
    }
    wid = await new_workflow(team, body)
    first = await execute(team, wid, {"run_input": START})
    assert first["status"] == "aborted_looping_risk", first["status"]
    team.client.headers.pop("Authorization")
    await sign_in(team.client, team.key)
    html = (await team.client.get(f"/ui/runs/{first['run_id']}")).text
    cycle = html.split('id="cycle">')[1].split("</p>")[0]
    assert "node_a" in cycle and "node_b" in cycle
    drawing = html.split('id="cycle">')[1].split("</svg>")[0]
    for node in ("node_a", "node_b"):
        assert "in-cycle" in drawing.split(f'data-node="{node}"')[0].rsplit("<g", 1)[1]
    assert "in-cycle" not in drawing.split('data-node="node_hi"')[0].rsplit("<g", 1)[1]


async def test_body_filters_read_in_batches_until_the_page_is_full(
    team: Team, store: Store, monkeypatch: pytest.MonkeyPatch
):
    wid = await new_workflow(team, chat_workflow())
    made = [
        (await execute(team, wid, {"run_input": START}))["run_id"] for _ in range(3)
    ]
    monkeypatch.setattr(run_views, "SCAN_BATCH", 1)
    caller = Caller(team_id=team.team_id, user_id=team.user_id)
    newest = list(reversed(made))
    for page in (1, 2, 3):
        f = RunFilter(evaluation="not_evaluated", page=page, size=1)
        rows, matched, more = await run_views.list_rows(store, caller, f)
        assert [r["id"] for r in rows] == [newest[page - 1]]
        # page 1 stops as soon as it knows of a next page; later ones read to the end
        assert (matched, more) == ((2, True) if page == 1 else (3, False))
    rows, matched, more = await run_views.list_rows(
        store, caller, RunFilter(evaluation="evaluated", size=1)
    )
    assert (rows, matched, more) == ([], 0, False)
