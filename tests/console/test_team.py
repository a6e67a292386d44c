"""The team page: limits, queue, schedules, webhooks, variables, LLM configs,
credentials (masked) and API keys (created once, revoked)."""

from datetime import UTC, datetime, timedelta

from tests.api.conftest import Team
from tests.api.test_execute import new_workflow
from tests.console.conftest import sign_in
from threadline.providers.fake import ScriptedLLM

SECRET = "sk-team-page-secret-4242"


async def furnish(team: Team) -> dict[str, str]:
    """One of everything, with secrets in the variable, config and credential."""
    client = team.client
    wid = await new_workflow(team)
    when = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    schedule = await client.post(
        f"/v1/workflows/{wid}/schedules", json={"scheduled_time": when, "version": 0}
    )
    assert schedule.status_code == 200, schedule.text
    hook = await client.post(
        "/v1/workflow-webhooks",
        json={
            "name": "Alerts",
            "url": "https://hooks.example.com/in",
            "actions": ["workflow_created", "workflow_run_completed"],
        },
    )
    assert hook.status_code == 200, hook.text
    await new_workflow(team)  # a workflow_created delivery
    variable = await client.post(
        "/v1/global-variables",
        json={"name": "clinic_token", "value": SECRET, "is_secret": True},
    )
    assert variable.status_code in (200, 201), variable.text
    await client.post("/v1/global-variables", json={"name": "clinic", "value": "North"})
    config = await client.post(
        "/v1/llm-configs",
        json={
            "name": "GPT",
            "config": {"provider": "openai", "model": "gpt-4.1", "api_key": SECRET},
        },
    )
    assert config.status_code == 200, config.text
    credential = await client.put(
        "/v1/teams/current/credentials/openai",
        json={"credentials": {"api_key": SECRET}},
    )
    assert credential.status_code == 201, credential.text
    return {
        "workflow": wid,
        "config": config.json()["llm_config"]["id"],
        "schedule": schedule.json()["schedule"]["_id"],
    }


async def test_the_team_page_shows_every_resource_and_no_secret(
    team: Team, llm: ScriptedLLM
):
    made = await furnish(team)
    team.client.headers.pop("Authorization")
    csrf = await sign_in(team.client, team.key)
    html = (await team.client.get("/ui/team")).text
    assert SECRET not in html
    assert 'id="active-runs">0<' in html
    assert made["schedule"] in html.split('id="schedules"')[1].split("</section>")[0]
    webhooks = html.split('id="webhooks"')[1].split("</section>")[0]
    assert "https://hooks.example.com/in" in webhooks and "workflow_created" in webhooks
    variables = html.split('id="variables"')[1].split("</section>")[0]
    assert (
        "clinic_token" in variables and "(secret)" in variables and "North" in variables
    )
    assert "openai" in html.split('id="credentials"')[1].split("</section>")[0]
    llm.extend("Hello from the test")
    tested = await team.client.post(
        f"/ui/team/llm-configs/{made['config']}/test",
        data={"message": "Hi", "csrf_token": csrf},
    )
    assert tested.status_code == 200 and SECRET not in tested.text
    assert "✔ Hello from the test" in tested.text.split('id="llm-test-result"')[1]
    event = webhooks.split("/ui/team/webhook-events/")[1].split("/retry")[0]
    retried = await team.client.post(
        f"/ui/team/webhook-events/{event}/retry", data={"csrf_token": csrf}
    )
    assert retried.status_code == 303


async def test_a_key_is_shown_once_and_revoked_from_the_page(team: Team):
    team.client.headers.pop("Authorization")
    csrf = await sign_in(team.client, team.key)
    refused = await team.client.post("/ui/team/keys", data={"name": "ci"})
    assert refused.status_code == 403
    created = await team.client.post(
        "/ui/team/keys", data={"name": "ci", "csrf_token": csrf}
    )
    secret = (
        created.text.split('id="new-key"')[1].split("<code>")[1].split("</code>")[0]
    )
    assert secret.startswith("tl_")
    again = (await team.client.get("/ui/team")).text
    assert secret not in again and secret[:8] in again
    key_id = again.split('data-key="')[2].split('"')[0]
    revoked = await team.client.post(
        f"/ui/team/keys/{key_id}/revoke", data={"csrf_token": csrf}
    )
    assert revoked.status_code == 303
    assert "revoked" in (await team.client.get("/ui/team")).text
    missing = await team.client.post(
        "/ui/team/keys/000000000000000000000000/revoke", data={"csrf_token": csrf}
    )
    assert missing.status_code == 404


async def test_another_teams_key_cannot_be_revoked(team: Team, other_team: Team):
    other_team.client.headers.pop("Authorization")
    csrf = await sign_in(other_team.client, other_team.key)
    team.client.headers.pop("Authorization")
    await sign_in(team.client, team.key)
    mine = (await team.client.get("/ui/team")).text.split('data-key="')[1].split('"')[0]
    response = await other_team.client.post(
        f"/ui/team/keys/{mine}/revoke", data={"csrf_token": csrf}
    )
    assert response.status_code == 404
    assert (await team.client.get("/ui/team")).status_code == 200
