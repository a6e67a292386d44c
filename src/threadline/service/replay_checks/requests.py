"""Asking for a replay check, and reading checks.

``POST /v1/workflows/{id}/versions/{n}/replay-check`` validates the request, picks
the runs (the ``runs`` most recent finished runs of the workflow, or of
``source_version_number``) and stores a ``queued`` check naming them; a worker
(``worker``) replays them in the background. A refused request stores nothing.
"""

from dataclasses import dataclass
from typing import Any

from threadline.errors import Conflict, InvalidField, NotFound
from threadline.ids import is_object_id, new_object_id
from threadline.service.caller import Caller
from threadline.service.commands import TERMINAL
from threadline.service.definitions import graph as graphs
from threadline.service.definitions import workflows as wf
from threadline.service.definitions.replay_gate import CHECKS, fingerprint
from threadline.store import Document, Query, Store

JsonDict = dict[str, Any]
ACTIVE = ("queued", "running")
"""Statuses of a check a worker still has to finish."""
_KEYS = ("runs", "source_version_number")
_MAX_VERSION = 2**31 - 1


@dataclass(frozen=True, slots=True)
class CheckLimits:
    """The operator's ceilings (``THREADLINE_REPLAY_CHECK_*``)."""

    max_runs: int = 20
    max_llm_calls: int = 200


def _count(body: JsonDict, name: str, low: int, high: int, what: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not low <= value <= high
    ):
        raise InvalidField(f"{name}: {what}")
    return value


def params(body: Any, limits: CheckLimits) -> tuple[int, int | None]:
    """``(runs, source_version_number)`` of a request body, or a 422 naming the
    field."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidField("body: a JSON object")
    unknown = sorted(set(body) - set(_KEYS))
    if unknown:
        raise InvalidField(f"{unknown[0]}: unknown field")
    runs = _count(
        body,
        "runs",
        1,
        limits.max_runs,
        f"required, an integer from 1 to {limits.max_runs}"
        " (THREADLINE_REPLAY_CHECK_MAX_RUNS)",
    )
    if runs is None:
        raise InvalidField(
            f"runs: required, an integer from 1 to {limits.max_runs}"
            " (THREADLINE_REPLAY_CHECK_MAX_RUNS)"
        )
    source = _count(
        body,
        "source_version_number",
        0,
        _MAX_VERSION,
        "a version number (integer >= 0)",
    )
    return runs, source


async def _finished_runs(
    store: Store, caller: Caller, workflow_id: str, source: int | None, limit: int
) -> list[Document]:
    """The ``limit`` most recently created finished runs (of version ``source``)."""
    found: list[Document] = []
    equals: JsonDict = {"workflow_id": workflow_id}
    if source is not None:
        equals["version_number"] = source
    async with store.begin() as tx:
        for status in sorted(TERMINAL):
            docs, _ = await tx.documents("workflow_runs").find(
                caller.team_id,
                Query(equals={**equals, "status": status}, size=limit),
            )
            found += docs
    found.sort(key=lambda d: (d.created_at, d.id), reverse=True)
    return found[:limit]


def render(doc: Document) -> JsonDict:
    """A check as the API shows it."""
    body = doc.body
    return {
        "replay_check_id": doc.id,
        "workflow_id": doc.workflow_id,
        "version_number": doc.version_number,
        "source_version_number": body.get("source_version_number"),
        "status": doc.status,
        "passed": body.get("passed"),
        "requested_runs": body.get("requested_runs"),
        "run_ids": body.get("run_ids") or [],
        "max_llm_calls": body.get("max_llm_calls"),
        "summary": body.get("summary"),
        "runs": body.get("runs") or [],
        "usage": body.get("usage") or {"llm_calls": 0},
        "error": body.get("error"),
        "created_at": doc.created_at.isoformat(),
        "created_by": doc.created_by,
        "started_at": body.get("started_at"),
        "finished_at": body.get("finished_at"),
    }


async def create(
    store: Store,
    caller: Caller,
    workflow_id: str,
    number: int,
    body: Any,
    limits: CheckLimits,
) -> JsonDict:
    """Store a ``queued`` check of version ``number`` over the chosen runs."""
    runs, source = params(body, limits)
    async with store.begin() as tx:
        await wf.get_doc(tx, caller, workflow_id)
        version = await wf.get_version_doc(tx, caller, workflow_id, number)
        digest = fingerprint(
            (await graphs.load(tx, caller.team_id, version)).hydrated()
        )
        if source is not None:
            await wf.get_version_doc(tx, caller, workflow_id, source)
    chosen = await _finished_runs(store, caller, workflow_id, source, runs)
    if not chosen:
        of = f"version {source} of " if source is not None else ""
        raise Conflict(
            f"{of}workflow {workflow_id!r} has no finished run to replay",
            code="no_runs_to_replay",
        )
    now = wf.now()
    doc = Document(
        id=new_object_id(),
        team_id=caller.team_id,
        workflow_id=workflow_id,
        version_number=number,
        status="queued",
        body={
            "source_version_number": source,
            "requested_runs": runs,
            "run_ids": [d.id for d in chosen],
            "max_llm_calls": limits.max_llm_calls,
            "version_fingerprint": digest,
            "passed": None,
            "runs": [],
            "summary": None,
            "usage": {"llm_calls": 0},
            "attempts": 0,
            "error": None,
        },
        created_at=now,
        updated_at=now,
        created_by=caller.user_id,
        updated_by=caller.user_id,
    )
    async with store.begin() as tx:
        await tx.documents(CHECKS).insert(doc)
    return render(doc)


async def get(
    store: Store, caller: Caller, workflow_id: str, number: int, check_id: str
) -> JsonDict:
    """One check of version ``number``; 404 for another version's or team's."""
    async with store.begin() as tx:
        await wf.get_doc(tx, caller, workflow_id)
        doc = (
            await tx.documents(CHECKS).get(caller.team_id, check_id)
            if is_object_id(check_id)
            else None
        )
    if doc is None or doc.workflow_id != workflow_id or doc.version_number != number:
        raise NotFound(f"replay check {check_id!r} not found")
    return render(doc)


async def list_(
    store: Store, caller: Caller, workflow_id: str, number: int, page: int, size: int
) -> tuple[list[JsonDict], int]:
    """The checks of version ``number``, newest first."""
    async with store.begin() as tx:
        await wf.get_doc(tx, caller, workflow_id)
        docs, total = await tx.documents(CHECKS).find(
            caller.team_id,
            Query(
                equals={"workflow_id": workflow_id, "version_number": number},
                page=page,
                size=size,
            ),
        )
    return [render(d) for d in docs], total
