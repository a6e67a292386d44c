"""The playground: its page, and the WebSocket it opens with the session cookie."""

from tests.api.conftest import Team
from tests.api.test_execute import START, chat_workflow, new_workflow
from tests.api.test_stream import WebSocketClient
from tests.console.conftest import sign_in

PATH = "/v1/workflow-runs/ws"


async def test_the_page_offers_every_version_and_the_default_variables(team: Team):
    wid = await new_workflow(team, chat_workflow())
    await team.client.post(f"/v1/workflows/{wid}/versions", json={"version_name": "B"})
    team.client.headers.pop("Authorization")
    await sign_in(team.client, team.key)
    html = (await team.client.get(f"/ui/workflows/{wid}/play")).text
    assert 'data-version="0"' in html and "1 · B" in html
    assert "&#34;clinic&#34;: &#34;Northside&#34;" in html
    assert 'data-node="node_chat"' in html and "/ui/static/console.js" in html
    other = await team.client.get(f"/ui/workflows/{wid}/play", params={"version": 1})
    assert 'data-version="1"' in other.text


async def test_the_socket_takes_the_session_cookie_from_this_origin_only(team: Team):
    wid = await new_workflow(team, chat_workflow())
    team.client.headers.pop("Authorization")
    await sign_in(team.client, team.key)
    cookie = f"threadline_console={team.client.cookies['threadline_console']}"
    app = team.client._transport.app  # type: ignore[attr-defined]
    same = {"cookie": cookie, "host": "testserver", "origin": "http://testserver"}
    async with WebSocketClient(app, PATH, same) as ws:
        await ws.send({"workflow_id": wid, **START})
        frames = await ws.until("workflow_ready_for_input")
        spoken = [f["content"] for f in frames if f["type"] == "assistant_response"]
        assert len(spoken) == 1 and spoken[0].startswith("Welcome to Northside")
    for headers in (
        {**same, "origin": "https://evil.example"},
        {"cookie": cookie, "host": "testserver"},
        {"host": "testserver", "origin": "http://testserver"},
        {**same, "cookie": "threadline_console=forged.1.2"},
    ):
        async with WebSocketClient(app, PATH, headers) as ws:
            assert (await ws.closed()).code == 4001
