"""The per-process caches of API keys and team variables (``service.team.team_cache``).

A change made through this process is seen by the very next request; a change
made by another process sharing the database (here: written to the database
without going through the service) is seen within the cache's time-to-live.
"""

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.api.conftest import Team
from tests.factories import static_node
from tests.fakes.clock import HandClock
from threadline.service.team import auth, team_cache
from threadline.service.team import global_variables as variables
from threadline.settings import Settings
from threadline.store import Store

START = {"command": "start", "thread_to_node_inputs": {"0": {"node_run_inputs": []}}}


@pytest.fixture
def clock(store: Store, app_client: httpx.AsyncClient) -> HandClock:
    """The caches' clock, set after ``app_client``'s bootstrap, which gives the
    store new caches."""
    clock = HandClock(now=1000.0)
    team_cache.of(store).clock = clock
    return clock


async def _revoke_elsewhere(store: Store, key_id: str) -> None:
    """What ``threadline keys revoke`` in another process does to the database."""
    async with store.begin() as tx:
        assert await tx.revoke_api_key(key_id, datetime.now(UTC))


# ------------------------------------------------------------------ API keys


async def test_a_key_revoked_here_is_refused_at_once(
    store: Store, team: Team, clock: HandClock
):
    assert (await team.client.get("/v1/workflows")).status_code == 200  # cached
    [key] = await auth.list_keys(store, team.team_id)
    await auth.revoke_key(store, key.id)
    refused = await team.client.get("/v1/workflows")
    assert refused.status_code == 401
    assert refused.json()["code"] == "unauthenticated"


async def test_a_key_revoked_by_another_process_is_refused_within_the_ttl(
    store: Store, team: Team, clock: HandClock, settings: Settings
):
    assert (await team.client.get("/v1/workflows")).status_code == 200
    [key] = await auth.list_keys(store, team.team_id)
    await _revoke_elsewhere(store, key.id)
    # Still trusted from this process's cache, for at most the TTL ...
    assert (await team.client.get("/v1/workflows")).status_code == 200
    clock.now += settings.auth_cache_seconds
    # ... and refused from then on.
    assert (await team.client.get("/v1/workflows")).status_code == 401
    assert (await team.client.get("/v1/workflows")).status_code == 401


async def test_with_no_ttl_a_revoke_elsewhere_is_refused_at_once(
    store: Store, team: Team, app_client: httpx.AsyncClient
):
    team_cache.configure(store, auth_seconds=0, team_seconds=0)
    assert (await team.client.get("/v1/workflows")).status_code == 200
    [key] = await auth.list_keys(store, team.team_id)
    await _revoke_elsewhere(store, key.id)
    assert (await team.client.get("/v1/workflows")).status_code == 401


async def test_an_unknown_key_is_not_remembered(
    store: Store, app_client: httpx.AsyncClient, clock: HandClock
):
    secret = "tl_created_elsewhere_0123456789"
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await app_client.get("/v1/workflows", headers=headers)).status_code == 401
    # Made valid by another process: accepted at once (the refusal was not cached).
    await auth.create_key(store, "0000000000000000000000a1", "user", secret=secret)
    assert (await app_client.get("/v1/workflows", headers=headers)).status_code == 200


async def test_a_cached_key_still_checks_the_teamid_header(
    team: Team, other_team: Team, clock: HandClock
):
    assert (await team.client.get("/v1/workflows")).status_code == 200
    response = await team.client.get(
        "/v1/workflows", headers={"teamid": other_team.team_id}
    )
    assert response.status_code == 403


# --------------------------------------------------------- global variables


async def _run_says(team: Team, wid: str) -> list[str]:
    executed = await team.client.post(
        f"/v1/workflows/{wid}/execute", json={"run_input": START}
    )
    assert executed.status_code == 200, executed.text
    return [
        e["content"]
        for e in executed.json()["events"]
        if e["type"] == "assistant_response"
    ]


async def _saying_workflow(team: Team, name: str, text: str) -> str:
    """A workflow of one static node saying ``text``; its id."""
    made = await team.client.post(
        "/v1/workflows",
        json={
            "name": name,
            "node_configs": [static_node("node_say", text, is_start=True)],
            "edge_configs": [],
        },
    )
    assert made.status_code == 200, made.text
    return str(made.json()["workflow"]["_id"])


async def _region_workflow(team: Team) -> tuple[str, str]:
    created = await team.client.post(
        "/v1/global-variables", json={"name": "region", "value": "eu-west"}
    )
    assert created.status_code == 200, created.text
    wid = await _saying_workflow(team, "Region", "Region {{global.region}}")
    return created.json()["variable"]["id"], wid


@pytest.mark.parametrize("write", ["patch", "delete"])
async def test_a_variable_changed_here_is_used_by_the_next_turn(
    team: Team, clock: HandClock, write: str
):
    variable_id, wid = await _region_workflow(team)
    assert await _run_says(team, wid) == ["Region eu-west"]  # now cached
    url = f"/v1/global-variables/{variable_id}"
    if write == "patch":
        changed = await team.client.patch(url, json={"value": "us-east"})
        expected = ["Region us-east"]
    else:
        changed = await team.client.delete(url)
        expected = ["Region {{global.region}}"]  # an unknown variable is kept
    assert changed.status_code in (200, 204), changed.text
    assert await _run_says(team, wid) == expected


async def test_a_variable_created_here_is_used_by_the_next_turn(
    team: Team, clock: HandClock
):
    wid = await _saying_workflow(team, "Greeting", "Hi {{global.who}}")
    assert await _run_says(team, wid) == ["Hi {{global.who}}"]  # now cached
    created = await team.client.post(
        "/v1/global-variables", json={"name": "who", "value": "Ada"}
    )
    assert created.status_code == 200
    assert await _run_says(team, wid) == ["Hi Ada"]


async def test_a_variable_changed_by_another_process_is_used_within_the_ttl(
    store: Store, team: Team, clock: HandClock, settings: Settings
):
    variable_id, wid = await _region_workflow(team)
    assert await _run_says(team, wid) == ["Region eu-west"]
    async with store.begin() as tx:  # another process's write
        docs = tx.documents(variables.COLLECTION)
        doc = await docs.get(team.team_id, variable_id)
        assert doc is not None
        body: dict[str, Any] = {**doc.body, "value": "ap-south"}
        await docs.replace(replace(doc, body=body))
    assert await _run_says(team, wid) == ["Region eu-west"]  # within the TTL
    clock.now += settings.team_cache_seconds
    assert await _run_says(team, wid) == ["Region ap-south"]


async def test_each_team_reads_its_own_variables(
    team: Team, other_team: Team, clock: HandClock
):
    _, wid = await _region_workflow(team)
    assert await _run_says(team, wid) == ["Region eu-west"]
    _, other_wid = await _region_workflow(other_team)
    patched = await other_team.client.get("/v1/global-variables")
    [other_variable] = patched.json()["variables"]
    await other_team.client.patch(
        f"/v1/global-variables/{other_variable['id']}", json={"value": "sa-east"}
    )
    assert await _run_says(other_team, other_wid) == ["Region sa-east"]
    assert await _run_says(team, wid) == ["Region eu-west"]
