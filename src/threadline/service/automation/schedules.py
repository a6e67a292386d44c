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
"""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from threadline.errors import Conflict, InvalidField, NotFound
from threadline.ids import is_object_id, new_object_id
from threadline.service.caller import Caller
from threadline.service.definitions import wire
from threadline.service.definitions import workflows as wf
from threadline.store import Document, Query, Store, Transaction

JsonDict = dict[str, Any]
COLLECTION = "schedules"
Status = Literal["pending", "in_progress", "completed", "failed", "cancelled"]
STATUSES: tuple[str, ...] = (
    "pending",
    "in_progress",
    "completed",
    "failed",
    "cancelled",
)
ONE_OFF = "one_off"
CRON = "cron"
EVALUATION_START = "evaluation_start"
"""Type of a waiting evaluation start (internal; hidden from the schedules API)."""
TAG = "threadline_schedule"
"""The ``miscellaneous`` key tying a run to the queued start that created it."""


def lock_key(doc_id: str) -> str:
    """The lock serialising read-modify-write of one queued document."""
    return f"threadline:schedule:{doc_id}"


class _Create(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scheduled_time: datetime | None = None
    run_input: JsonDict | None = None
    version: int | None = Field(default=None, ge=0)
    scheduled_by_name: str | None = None
    cron: str | None = None
    timezone: str | None = None


class _Update(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scheduled_time: datetime | None = None
    run_input: JsonDict | None = None
    version: int | None = Field(default=None, ge=0)
    cron: str | None = None
    timezone: str | None = None


# ----------------------------------------------------------------------- times


def utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as UTC (the SDK sends utcnow())."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_time(value: Any) -> datetime:
    """The stored ISO ``scheduled_time`` back as an aware UTC datetime."""
    return utc(datetime.fromisoformat(str(value)))


def zone(name: str | None) -> ZoneInfo:
    """The IANA time zone ``name`` (422 when unknown)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidField(f"timezone: unknown time zone {name!r}") from exc


def next_occurrence(
    cron: str, tz_name: str | None, after: datetime, *, inclusive: bool = False
) -> datetime:
    """The first occurrence of ``cron`` in zone ``tz_name`` after ``after`` (UTC).

    ``inclusive``: an occurrence exactly at ``after`` counts.
    """
    local = utc(after).astimezone(zone(tz_name))
    if inclusive:
        local -= timedelta(seconds=1)
    nxt: datetime = croniter(cron, local).get_next(datetime)
    return utc(nxt)


def _check_cron(cron: str) -> str:
    cron = cron.strip()
    if not croniter.is_valid(cron):
        raise InvalidField(f"cron: {cron!r} is not a valid cron expression")
    return cron


def _future(moment: datetime, now: datetime, field: str) -> datetime:
    moment = utc(moment)
    if moment <= now:
        raise InvalidField(f"{field}: {moment.isoformat()} is not in the future")
    return moment


def _run_input(raw: JsonDict | None) -> JsonDict | None:
    if raw is not None:
        wire.parse_input(raw, "run_input")  # 422 naming the bad field
    return raw


# -------------------------------------------------------------------- rendering


def render(doc: Document) -> JsonDict:
    """The wire ``Schedule`` object (flat, ``_id``)."""
    body = doc.body
    return {
        "_id": doc.id,
        "team_id": doc.team_id,
        "created_by": doc.created_by,
        "updated_by": doc.updated_by,
        "created_at": doc.created_at.isoformat(),
        "updated_at": body.get("modified_at") or doc.updated_at.isoformat(),
        "workflow_id": doc.workflow_id,
        "scheduled_time": body.get("scheduled_time"),
        "status": doc.status,
        "run_input": body.get("run_input"),
        "version": body.get("version"),
        "schedule_name": doc.name,
        "scheduler_arn": None,
        "actual_run_id": body.get("actual_run_id"),
        "scheduled_by_name": body.get("scheduled_by_name"),
        "error_message": body.get("error_message"),
        "cron": body.get("cron"),
        "timezone": body.get("timezone"),
        "run_ids": list(body.get("run_ids") or []),
        "waiting": body.get("waiting") if doc.status == "pending" else None,
    }


def queue_key(doc: Document) -> tuple[datetime, str]:
    """A queued start's place: its due (or arrival) time, then its id."""
    return (due_time(doc), doc.id)


async def team_queue(tx: Transaction, team_id: str, now: datetime) -> list[Document]:
    """The team's due pending starts (schedules and evaluation starts), in order."""
    docs, _ = await tx.documents(COLLECTION).find(
        team_id, Query(equals={"status": "pending"})
    )
    due = [d for d in docs if due_time(d) <= now]
    return sorted(due, key=queue_key)


def position(queue: list[Document], doc_id: str, level: str) -> int:
    """1-based place of ``doc_id`` among the starts of its scope in ``queue``
    (the whole team for the ``team`` level, its workflow for ``workflow``)."""
    mine = next(d for d in queue if d.id == doc_id)
    ahead = 0
    for doc in queue:
        if doc.id == doc_id:
            break
        if level == "team" or doc.workflow_id == mine.workflow_id:
            ahead += 1
    return ahead + 1


def due_time(doc: Document) -> datetime:
    """When a pending schedule is due (its ``scheduled_time``)."""
    return parse_time(doc.body["scheduled_time"])


# ------------------------------------------------------------------------ CRUD


def _validate(model: type[BaseModel], body: Any, what: str) -> Any:
    try:
        return model.model_validate(body if body is not None else {})
    except ValidationError as exc:
        raise wire.invalid(exc, what) from exc


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
    req: _Create = _validate(_Create, body, "schedule")
    if req.timezone is not None and req.cron is None:
        raise InvalidField("timezone: only valid together with cron")
    first: datetime
    if req.cron is not None:
        cron = _check_cron(req.cron)
        start = at if req.scheduled_time is None else req.scheduled_time
        if req.scheduled_time is not None:
            start = _future(req.scheduled_time, at, "scheduled_time")
        first = next_occurrence(
            cron, req.timezone, start, inclusive=req.scheduled_time is not None
        )
    else:
        if req.scheduled_time is None:
            raise InvalidField("scheduled_time: field required")
        first = _future(req.scheduled_time, at, "scheduled_time")
    run_input = _run_input(req.run_input)
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


def _retime_cron(new: JsonDict, raw: JsonDict, req: _Update, at: datetime) -> None:
    """Apply ``cron``/``timezone`` changes and the next occurrence to ``new``."""
    if "cron" in raw or "timezone" in raw:
        if new.get("cron") is None:
            raise InvalidField("cron: only recurring schedules have a cron expression")
        if "cron" in raw:
            if req.cron is None:
                raise InvalidField("cron: must be a cron expression, not null")
            new["cron"] = _check_cron(req.cron)
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
    req: _Update = _validate(_Update, body, "schedule")
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
        new["scheduled_time"] = _future(req.scheduled_time, at, "scheduled_time")
    if "run_input" in raw:
        new["run_input"] = _run_input(req.run_input)
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
