"""Workflow schedules: one-off runs at a future UTC time, and recurring (cron) ones.

Paths and shapes follow the Interactly SDK's ``SchedulesResource``: create, get and
update answer ``{"schedule": {...}}`` (the SDK's ``Schedule`` model unwraps that
envelope and maps ``_id`` onto ``id``), lists answer a **bare JSON array** windowed by
``skip``/``limit``, cancel is ``DELETE`` and answers 204.

A schedule is one ``schedules`` document. Indexed columns: ``workflow_id``,
``status`` (``pending | in_progress | completed | failed | cancelled``), ``type``
(``one_off`` or ``cron``) and ``name`` (the ``schedule_name``). The body holds the wire
fields (``scheduled_time``, ``run_input``, ``version``, ...).

**The ``updated_at`` column is the due time while a schedule is pending.** The
cross-team due scan uses the store's ``find_stale(status, updated_before, limit)``,
which selects and orders by ``updated_at``; keeping the due time there makes the scan
exact and bounded (due schedules only, oldest due first) without a new store
primitive. The audit "last modified" time shown as ``updated_at`` on the wire is kept
in the body (``modified_at``). Once a schedule leaves ``pending`` the column holds the
time of that change again (the scheduler's recovery of stuck ``in_progress``
schedules relies on it). A dedicated indexed ``due_at`` column with a
``find_due(before, limit)`` primitive would remove the overloading.

Recurring schedules (our extension): ``cron`` (5 or 6 fields, croniter syntax) with
``timezone`` (IANA name, default ``UTC``). ``scheduled_time`` is then optional: the
first firing is the first occurrence at or after it (or after now). After each
firing the schedule stays ``pending`` with the next occurrence as
``scheduled_time``, ``actual_run_id`` is the latest run and ``run_ids`` lists every
run it started; it ends only when cancelled (or when its workflow is gone).

Waiting starts (see ``service.automation.start_queue``): a due schedule whose start a
concurrency limit refused stays ``pending`` and carries ``waiting: {level, limit,
position}`` (shown on the wire while pending). Its ``updated_at`` column is then the
time of the last refusal (still in the past, so it stays due); its place in the
queue is its ``scheduled_time``. Evaluation starts refused by a limit wait in this
collection too, as documents of type ``evaluation_start``; they are internal and
never listed, read or changed through the schedules API.

This module is the CRUD; the times and cron occurrences are ``schedule_times``',
the wire bodies and ``Schedule`` object ``schedule_wire``', and the collection as a
queue of starts ``schedule_queue``'.
"""

from dataclasses import replace
from datetime import datetime
from typing import Any

from threadline.errors import Conflict, InvalidField, NotFound
from threadline.ids import is_object_id, new_object_id
from threadline.service.automation.schedule_queue import (
    COLLECTION,
    CRON,
    EVALUATION_START,
    ONE_OFF,
    Status,
    lock_key,
)
from threadline.service.automation.schedule_times import (
    check_cron,
    future,
    next_occurrence,
    parse_time,
    utc,
    zone,
)
from threadline.service.automation.schedule_wire import (
    Create,
    Update,
    checked_input,
    render,
    validate,
)
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.store import Document, Query, Store

__all__ = ["Status", "cancel", "create", "get", "get_doc", "list_", "update"]

JsonDict = dict[str, Any]


async def _check_version(
    store: Store, caller: Caller, workflow_id: str, version: int | None
) -> None:
    async with store.begin() as tx:
        await wf.get_doc(tx, caller, workflow_id)
        if version is not None:
            try:
                await wf.get_version_doc(tx, caller, workflow_id, version)
            except NotFound as exc:
                raise InvalidField(f"version: {exc.message}") from exc


async def create(
    store: Store,
    caller: Caller,
    workflow_id: str,
    body: Any,
    *,
    now: datetime | None = None,
) -> JsonDict:
    """Schedule a run of the workflow (404 unknown workflow, 422 bad body)."""
    at = utc(now or wf.now())
    req: Create = validate(Create, body, "schedule")
    if req.timezone is not None and req.cron is None:
        raise InvalidField("timezone: only valid together with cron")
    first: datetime
    if req.cron is not None:
        cron = check_cron(req.cron)
        start = at if req.scheduled_time is None else req.scheduled_time
        if req.scheduled_time is not None:
            start = future(req.scheduled_time, at, "scheduled_time")
        first = next_occurrence(
            cron, req.timezone, start, inclusive=req.scheduled_time is not None
        )
    else:
        if req.scheduled_time is None:
            raise InvalidField("scheduled_time: field required")
        first = future(req.scheduled_time, at, "scheduled_time")
    run_input = checked_input(req.run_input)
    await _check_version(store, caller, workflow_id, req.version)
    schedule_id = new_object_id()
    doc = Document(
        id=schedule_id,
        team_id=caller.team_id,
        body={
            "workflow_id": workflow_id,
            "scheduled_time": first.isoformat(),
            "run_input": run_input,
            "version": req.version,
            "scheduled_by_name": req.scheduled_by_name,
            "actual_run_id": None,
            "error_message": None,
            "cron": req.cron.strip() if req.cron else None,
            "timezone": (req.timezone or "UTC") if req.cron else None,
            "run_ids": [],
            "modified_at": at.isoformat(),
        },
        created_at=at,
        updated_at=first,  # the due time while pending (see the module doc)
        created_by=caller.user_id,
        updated_by=caller.user_id,
        workflow_id=workflow_id,
        type=CRON if req.cron else ONE_OFF,
        name=f"workflow-schedule-{schedule_id}",
        status="pending",
        search_text=(req.scheduled_by_name or "").lower(),
    )
    async with store.begin() as tx:
        await tx.documents(COLLECTION).insert(doc)
    return render(doc)


async def get_doc(store: Store, caller: Caller, schedule_id: str) -> Document:
    """The caller's team's schedule, or 404."""
    doc = None
    if is_object_id(schedule_id):
        async with store.begin() as tx:
            doc = await tx.documents(COLLECTION).get(caller.team_id, schedule_id)
    if doc is None or doc.type == EVALUATION_START:
        raise NotFound(f"schedule {schedule_id!r} not found")
    return doc


async def get(store: Store, caller: Caller, schedule_id: str) -> JsonDict:
    """One schedule."""
    return render(await get_doc(store, caller, schedule_id))


async def list_(
    store: Store,
    caller: Caller,
    *,
    workflow_id: str | None,
    status: str | None,
    skip: int,
    limit: int,
) -> list[JsonDict]:
    """Newest first; ``skip``/``limit`` window (the store pages, so skip+limit rows
    are read). A per-workflow list of an unknown workflow is 404."""
    equals: JsonDict = {}
    if workflow_id is not None:
        async with store.begin() as tx:
            await wf.get_doc(tx, caller, workflow_id)
        equals["workflow_id"] = workflow_id
    if status is not None:
        equals["status"] = status
    async with store.begin() as tx:
        collection = tx.documents(COLLECTION)
        # Waiting evaluation starts are internal: read as many more rows as there
        # are of them, then drop them.
        hidden = await collection.count(
            caller.team_id, {**equals, "type": EVALUATION_START}
        )
        docs, _ = await collection.find(
            caller.team_id, Query(equals=equals, size=skip + limit + hidden)
        )
    shown = [d for d in docs if d.type != EVALUATION_START]
    return [render(d) for d in shown[skip : skip + limit]]


def _retime_cron(new: JsonDict, raw: JsonDict, req: Update, at: datetime) -> None:
    """Apply ``cron``/``timezone`` changes and the next occurrence to ``new``."""
    if "cron" in raw or "timezone" in raw:
        if new.get("cron") is None:
            raise InvalidField("cron: only recurring schedules have a cron expression")
        if "cron" in raw:
            if req.cron is None:
                raise InvalidField("cron: must be a cron expression, not null")
            new["cron"] = check_cron(req.cron)
        if "timezone" in raw:
            zone(req.timezone)
            new["timezone"] = req.timezone or "UTC"
    retime = any(k in raw for k in ("scheduled_time", "cron", "timezone"))
    if new.get("cron") is not None and retime:
        anchor = new.get("scheduled_time") if "scheduled_time" in raw else None
        start = anchor if isinstance(anchor, datetime) else at
        new["scheduled_time"] = next_occurrence(
            str(new["cron"]), new["timezone"], start, inclusive=anchor is not None
        )


async def update(
    store: Store,
    caller: Caller,
    schedule_id: str,
    body: Any,
    *,
    now: datetime | None = None,
) -> JsonDict:
    """Change a pending schedule (409 once it has fired or was cancelled)."""
    at = utc(now or wf.now())
    raw = body if isinstance(body, dict) else {}
    req: Update = validate(Update, body, "schedule")
    doc = await get_doc(store, caller, schedule_id)
    if doc.status != "pending":
        raise Conflict(
            f"schedule {schedule_id!r} is {doc.status}; only pending schedules "
            "can be modified"
        )
    new = dict(doc.body)
    if "scheduled_time" in raw:
        if req.scheduled_time is None:
            raise InvalidField("scheduled_time: must be a date-time, not null")
        new["scheduled_time"] = future(req.scheduled_time, at, "scheduled_time")
    if "run_input" in raw:
        new["run_input"] = checked_input(req.run_input)
    if "version" in raw:
        await _check_version(store, caller, doc.workflow_id or "", req.version)
        new["version"] = req.version
    _retime_cron(new, raw, req, at)
    due = new["scheduled_time"]
    due = due if isinstance(due, datetime) else parse_time(due)
    new["scheduled_time"] = due.isoformat()
    new["modified_at"] = at.isoformat()
    if due > at:
        new.pop("waiting", None)  # no longer due: it waits for its time, not a slot
    changed = replace(doc, body=new, updated_at=due, updated_by=caller.user_id)
    async with store.begin() as tx:
        await tx.lock(lock_key(doc.id))
        fresh = await tx.documents(COLLECTION).get(doc.team_id, doc.id)
        # the queue may have updated the position meanwhile: keep its info
        if "waiting" in new and fresh is not None and fresh.body.get("waiting"):
            new["waiting"] = fresh.body["waiting"]
        done = await tx.documents(COLLECTION).replace(
            changed, expected_status="pending"
        )
    if not done:
        raise Conflict(f"schedule {schedule_id!r} is no longer pending")
    return render(changed)


async def cancel(
    store: Store, caller: Caller, schedule_id: str, *, now: datetime | None = None
) -> None:
    """Cancel a pending schedule; cancelling a cancelled one again is a no-op."""
    at = utc(now or wf.now())
    doc = await get_doc(store, caller, schedule_id)
    if doc.status == "cancelled":
        return
    if doc.status != "pending":
        raise Conflict(
            f"schedule {schedule_id!r} is {doc.status}; only pending schedules "
            "can be cancelled"
        )
    body = {**doc.body, "modified_at": at.isoformat()}
    cancelled = replace(
        doc, body=body, status="cancelled", updated_at=at, updated_by=caller.user_id
    )
    async with store.begin() as tx:
        await tx.lock(lock_key(doc.id))
        done = await tx.documents(COLLECTION).replace(
            cancelled, expected_status="pending"
        )
    if not done:
        raise Conflict(f"schedule {schedule_id!r} is no longer pending")
