"""Schedules over HTTP: create, list, get, modify while pending, cancel."""

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.api.conftest import Team
from tests.api.test_concurrency import new_workflow, started
from threadline.service.processes import fire_due
from threadline.service.runtime import Runtime
from threadline.store import Store

BASE = "/v1/workflow-schedules"


def later(hours: float = 1) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


async def create(team: Team, wid: str, **body: Any) -> httpx.Response:
    return await team.client.post(f"/v1/workflows/{wid}/schedules", json=body)


async def test_create_get_list_patch_and_cancel(team: Team):
    wid = await new_workflow(team)
    when = later()
    made = await create(
        team,
        wid,
        scheduled_time=when,
        run_input={"dynamic_variables": {"patient": "Ada"}},
        version=0,
        scheduled_by_name="alice@example.com",
    )
    assert made.status_code == 200, made.text
    sched = made.json()["schedule"]
    sid = sched["_id"]
    assert sched["status"] == "pending" and sched["workflow_id"] == wid
    assert sched["team_id"] == team.team_id and sched["created_by"] == team.user_id
    assert datetime.fromisoformat(sched["scheduled_time"]) == datetime.fromisoformat(
        when
    )
    assert sched["version"] == 0 and sched["scheduler_arn"] is None
    assert sched["actual_run_id"] is None and sched["error_message"] is None
    assert sched["scheduled_by_name"] == "alice@example.com"
    assert sched["schedule_name"]
    assert (await team.client.get(f"{BASE}/{sid}")).json() == {"schedule": sched}

    listed = (await team.client.get(f"/v1/workflows/{wid}/schedules")).json()
    assert isinstance(listed, list) and [s["_id"] for s in listed] == [sid]
    assert [s["_id"] for s in (await team.client.get(BASE)).json()] == [sid]
    done = await team.client.get(BASE, params={"status": "completed"})
    assert done.json() == []

    moved = later(5)
    patch = await team.client.patch(
        f"{BASE}/{sid}", json={"scheduled_time": moved, "run_input": None}
    )
    assert patch.status_code == 200, patch.text
    changed = patch.json()["schedule"]
    assert datetime.fromisoformat(changed["scheduled_time"]) == datetime.fromisoformat(
        moved
    )
    assert changed["run_input"] is None and changed["version"] == 0

    cancel = await team.client.delete(f"{BASE}/{sid}")
    assert cancel.status_code == 204
    assert (await team.client.get(f"{BASE}/{sid}")).json()["schedule"][
        "status"
    ] == "cancelled"
    assert (await team.client.delete(f"{BASE}/{sid}")).status_code == 204
    late = await team.client.patch(f"{BASE}/{sid}", json={"version": 0})
    assert late.status_code == 409


async def test_invalid_creates_are_rejected(team: Team):
    wid = await new_workflow(team)
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert (await create(team, wid, scheduled_time=past)).status_code == 422
    assert (await create(team, wid)).status_code == 422
    assert (
        await create(team, wid, scheduled_time=later(), version=9)
    ).status_code == 422
    bad_input = await create(
        team, wid, scheduled_time=later(), run_input={"dynamic_variables": "no"}
    )
    assert bad_input.status_code == 422
    assert (await create(team, wid, cron="every day")).status_code == 422
    assert (
        await create(team, wid, cron="0 9 * * *", timezone="Mars/Base")
    ).status_code == 422
    missing = await create(team, "0" * 24, scheduled_time=later())
    assert missing.status_code == 404
    assert (await team.client.get(BASE, params={"limit": 101})).status_code == 422
    assert (await team.client.get(BASE, params={"status": "done"})).status_code == 422


async def test_skip_and_limit_window_the_bare_list(team: Team):
    wid = await new_workflow(team)
    ids = [
        (await create(team, wid, scheduled_time=later(i + 1))).json()["schedule"]["_id"]
        for i in range(3)
    ]
    page = await team.client.get(BASE, params={"skip": 1, "limit": 1})
    assert [s["_id"] for s in page.json()] == [ids[1]]  # newest first


async def test_another_team_cannot_see_or_touch_a_schedule(
    team: Team, other_team: Team
):
    wid = await new_workflow(team)
    sid = (await create(team, wid, scheduled_time=later())).json()["schedule"]["_id"]
    assert (await other_team.client.get(f"{BASE}/{sid}")).status_code == 404
    patch = await other_team.client.patch(f"{BASE}/{sid}", json={"version": 0})
    assert patch.status_code == 404
    assert (await other_team.client.delete(f"{BASE}/{sid}")).status_code == 404
    assert (await other_team.client.get(BASE)).json() == []
    foreign = await other_team.client.get(f"/v1/workflows/{wid}/schedules")
    assert foreign.status_code == 404


async def test_a_fired_schedule_can_no_longer_change(
    team: Team, store: Store, runtime: Runtime
):
    wid = await new_workflow(team)
    when = datetime.now(UTC) + timedelta(hours=1)
    made = await create(team, wid, scheduled_time=when.isoformat())
    sid = made.json()["schedule"]["_id"]
    report = await fire_due(store, runtime, now=when + timedelta(seconds=1))
    got = (await team.client.get(f"{BASE}/{sid}")).json()["schedule"]
    assert got["status"] == "completed" and got["actual_run_id"] == report.fired[sid]
    run = await team.client.get(f"/v1/workflow-runs/{got['actual_run_id']}")
    assert run.status_code == 200
    patch = await team.client.patch(f"{BASE}/{sid}", json={"scheduled_time": later(2)})
    assert patch.status_code == 409
    assert (await team.client.delete(f"{BASE}/{sid}")).status_code == 409


async def test_a_recurring_schedule_is_created_and_retimed(team: Team):
    wid = await new_workflow(team)
    made = await create(team, wid, cron="30 8 * * 1", timezone="Europe/Paris")
    assert made.status_code == 200, made.text
    sched = made.json()["schedule"]
    assert sched["cron"] == "30 8 * * 1" and sched["timezone"] == "Europe/Paris"
    local = datetime.fromisoformat(sched["scheduled_time"]).astimezone(
        ZoneInfo("Europe/Paris")
    )
    assert (local.weekday(), local.hour, local.minute) == (0, 8, 30)
    patch = await team.client.patch(
        f"{BASE}/{sched['_id']}", json={"cron": "0 7 * * *", "timezone": "UTC"}
    )
    retimed = datetime.fromisoformat(patch.json()["schedule"]["scheduled_time"])
    assert (retimed.hour, retimed.minute) == (7, 0)
    assert (await team.client.delete(f"{BASE}/{sched['_id']}")).status_code == 204


async def test_a_schedule_waiting_for_a_slot_says_why(
    team: Team, store: Store, runtime: Runtime
):
    wid = await new_workflow(team, limit=1)
    await started(team, wid)  # holds the workflow's only slot
    when = datetime.now(UTC) + timedelta(hours=1)
    sids = [
        (
            await create(
                team, wid, scheduled_time=(when + timedelta(minutes=m)).isoformat()
            )
        ).json()["schedule"]["_id"]
        for m in (0, 1)
    ]
    assert (await team.client.get(f"{BASE}/{sids[0]}")).json()["schedule"][
        "waiting"
    ] is None
    now = when + timedelta(hours=1)
    report = await fire_due(store, runtime, now=now, teams=[team.team_id])
    assert report.fired == {}
    for place, sid in enumerate(sids, start=1):
        got = (await team.client.get(f"{BASE}/{sid}")).json()["schedule"]
        assert got["status"] == "pending"
        assert got["waiting"] == {"level": "workflow", "limit": 1, "position": place}
    listed = (await team.client.get(BASE)).json()
    assert {s["_id"]: s["waiting"]["position"] for s in listed} == {
        sids[0]: 1,
        sids[1]: 2,
    }
    # Moved into the future, it waits for its time again, not for a slot.
    patch = await team.client.patch(
        f"{BASE}/{sids[0]}", json={"scheduled_time": later(48)}
    )
    assert patch.status_code == 200, patch.text
    assert patch.json()["schedule"]["waiting"] is None
