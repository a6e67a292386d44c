"""Reading and curating stored runs: list, get, delete, comments, ratings.

A run is stored as one document (its ``WorkflowRun`` record without the turns, plus
the engine state) and one ``run_turns`` row per execution segment; readers put the
``input_output_pairs`` back together.
"""

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from threadline.errors import Conflict, InvalidField, NotFound
from threadline.ids import is_object_id, new_logical_id
from threadline.service.caller import Caller
from threadline.service.commands import TERMINAL
from threadline.service.definitions import workflows as wf
from threadline.service.definitions.envelopes import stored_doc
from threadline.service.definitions.masking import mask_secrets
from threadline.service.running import budget_gate
from threadline.store import Document, Query, Store, Transaction

JsonDict = dict[str, Any]
RATING_VALUES = ("down", "up", "strong_up")


def full_run(doc: Document, pairs: list[JsonDict]) -> JsonDict:
    """The ``WorkflowRun`` record with its ``input_output_pairs``; keys masked."""
    run: JsonDict = mask_secrets(
        {**doc.body["workflow_run"], "input_output_pairs": pairs}
    )
    if doc.status:  # the status column leads while a turn is in progress
        run["status"] = doc.status
    return run


def render(doc: Document, pairs: list[JsonDict]) -> JsonDict:
    """``StoredDoc(workflow_run)``: the full run document."""
    return stored_doc(doc, "workflow_run", full_run(doc, pairs))


def projection(doc: Document) -> JsonDict:
    """The list row: audit fields plus ``{logical_id, workflow_id, status}``."""
    run = doc.body["workflow_run"]
    keep = ("logical_id", "workflow_id", "status", "version_number", "run_by")
    row = {k: run.get(k) for k in keep}
    if doc.status:
        row["status"] = doc.status
    return stored_doc(doc, "workflow_run", row)


async def _get(tx: Transaction, caller: Caller, run_id: str) -> Document:
    if not is_object_id(run_id):
        raise InvalidField(f"workflow_run_id: {run_id!r} is not a 24-hex id")
    doc = await tx.documents("workflow_runs").get(caller.team_id, run_id)
    if doc is None:
        raise NotFound(f"workflow run {run_id!r} not found")
    return doc


async def get_doc(tx: Transaction, caller: Caller, run_id: str) -> Document:
    """The stored document of one run of the caller's team (404 otherwise)."""
    return await _get(tx, caller, run_id)


async def load(
    store: Store, caller: Caller, run_id: str, now: float | None = None
) -> JsonDict:
    """One run of the caller's team, as ``StoredDoc(workflow_run)``; with ``now``
    (a runtime clock reading) and a budget, ``run_budget_usage`` shows each
    budget's limit, what is used and what remains."""
    async with store.begin() as tx:
        doc = await _get(tx, caller, run_id)
        rendered = render(doc, await tx.turns().list(caller.team_id, run_id))
    if now is not None:
        usage = budget_gate.view(doc.body, now)
        if usage is not None:
            rendered["workflow_run"]["run_budget_usage"] = usage
    return rendered


async def run_record(store: Store, doc: Document) -> JsonDict:
    """The bare ``WorkflowRun`` of a stored run document."""
    async with store.begin() as tx:
        return full_run(doc, await tx.turns().list(doc.team_id, doc.id))


get = load


async def list_(
    store: Store, caller: Caller, query: Query
) -> tuple[list[JsonDict], int]:
    """The team's runs, newest first, as projections."""
    async with store.begin() as tx:
        docs, total = await tx.documents("workflow_runs").find(caller.team_id, query)
    return [projection(d) for d in docs], total


async def delete(store: Store, caller: Caller, run_id: str) -> None:
    """Delete a run (a run with a turn in progress cannot be deleted)."""
    async with store.begin() as tx:
        doc = await _get(tx, caller, run_id)
        if doc.status == "running":
            raise Conflict(f"run {run_id!r} has a turn in progress")
        await tx.turns().delete_run(caller.team_id, run_id)
        await tx.documents("workflow_runs").delete(caller.team_id, run_id)


def _content(body: JsonDict) -> str:
    content = body.get("content")
    if not isinstance(content, str) or not content.strip():
        raise InvalidField("content: a comment needs non-blank text")
    if len(content.strip()) > 5000:
        raise InvalidField("content: at most 5000 characters")
    return content.strip()


def _audit(caller: Caller, prefix: str, **fields: Any) -> JsonDict:
    at = wf.now().isoformat()
    return {
        "logical_id": new_logical_id(prefix),
        **fields,
        "createdBy": caller.user_id,
        "updatedBy": caller.user_id,
        "createdAt": at,
        "updatedAt": at,
    }


async def _finished(tx: Transaction, caller: Caller, run_id: str) -> Document:
    doc = await _get(tx, caller, run_id)
    if doc.status not in TERMINAL:
        raise Conflict(f"run {run_id!r} is {doc.status}; feedback needs a finished run")
    return doc


async def _change_run(
    store: Store, caller: Caller, run_id: str, change: Callable[[JsonDict], None]
) -> JsonDict:
    """Change the run record of a finished run; return the whole run."""
    async with store.begin() as tx:
        doc = await _finished(tx, caller, run_id)
        run = dict(doc.body["workflow_run"])
        change(run)
        doc = replace(
            doc,
            body={**doc.body, "workflow_run": run},
            updated_at=wf.now(),
            updated_by=caller.user_id,
        )
        await tx.documents("workflow_runs").replace(doc)
        return render(doc, await tx.turns().list(caller.team_id, run_id))


async def add_comment(
    store: Store, caller: Caller, run_id: str, body: JsonDict
) -> JsonDict:
    """Add a run-level comment; returns the whole run."""
    comment = _audit(caller, "comment", content=_content(body))

    def change(run: JsonDict) -> None:
        run["comments"] = [*run.get("comments", []), comment]

    return await _change_run(store, caller, run_id, change)


async def delete_comment(
    store: Store, caller: Caller, run_id: str, comment_id: str
) -> JsonDict:
    """Delete a run-level comment; returns the whole run."""

    def change(run: JsonDict) -> None:
        kept = [c for c in run.get("comments", []) if c.get("logical_id") != comment_id]
        if len(kept) == len(run.get("comments", [])):
            raise NotFound(f"comment {comment_id!r} not found on run {run_id!r}")
        run["comments"] = kept

    return await _change_run(store, caller, run_id, change)


def _feedback(target: JsonDict) -> JsonDict:
    users = {
        item.get("createdBy")
        for key in ("comments", "ratings")
        for item in target.get(key, [])
    }
    return {
        "ratings": target.get("ratings", []),
        "comments": target.get("comments", []),
        "feedback_users": {u: {"id": u} for u in users if u},
    }


def _locate(pairs: list[JsonDict], where: tuple[str, Any]) -> tuple[int, JsonDict]:
    """The turn index and the dict (turn or event) a feedback call targets."""
    kind, key = where
    if kind == "turn":
        if not 0 <= key < len(pairs):
            raise NotFound(f"turn {key} not found (the run has {len(pairs)} turns)")
        return key, pairs[key]
    for index, pair in enumerate(pairs):
        for event in (pair.get("run_output") or {}).get("events", []):
            if event.get("logical_id") == key:
                return index, event
    raise NotFound(f"event {key!r} not found on this run")


async def _change_target(
    store: Store,
    caller: Caller,
    run_id: str,
    where: tuple[str, Any],
    change: Callable[[JsonDict], None],
) -> JsonDict:
    """Change the comments/ratings of one turn or event; return its feedback."""
    async with store.begin() as tx:
        await _finished(tx, caller, run_id)
        pairs = await tx.turns().list(caller.team_id, run_id)
        index, target = _locate(pairs, where)
        change(target)
        await tx.turns().replace(caller.team_id, run_id, index, pairs[index], wf.now())
    return _feedback(target)


async def rate(
    store: Store, caller: Caller, run_id: str, where: tuple[str, Any], value: str | None
) -> JsonDict:
    """Set (or with None remove) the caller's rating on an event or a turn."""
    if value is not None and value not in RATING_VALUES:
        raise InvalidField(f"value: must be one of {', '.join(RATING_VALUES)}")

    def change(target: JsonDict) -> None:
        ratings = [
            r for r in target.get("ratings", []) if r.get("createdBy") != caller.user_id
        ]
        if value is not None:
            ratings.append(_audit(caller, "rating", value=value))
        target["ratings"] = ratings

    return await _change_target(store, caller, run_id, where, change)


async def comment_on(
    store: Store,
    caller: Caller,
    run_id: str,
    where: tuple[str, Any],
    body: JsonDict | None,
    comment_id: str | None = None,
) -> JsonDict:
    """Add (``body``) or delete (``comment_id``) a comment on an event or a turn."""
    new = (
        _audit(caller, "comment", content=_content(body)) if body is not None else None
    )

    def change(target: JsonDict) -> None:
        comments = list(target.get("comments", []))
        if new is not None:
            comments.append(new)
        else:
            kept = [c for c in comments if c.get("logical_id") != comment_id]
            if len(kept) == len(comments):
                raise NotFound(f"comment {comment_id!r} not found")
            comments = kept
        target["comments"] = comments

    return await _change_target(store, caller, run_id, where, change)


async def evaluation_result(store: Store, caller: Caller, run_id: str) -> JsonDict:
    """The result of the automatic evaluation of a run (404 when there is none)."""
    async with store.begin() as tx:
        doc = await _get(tx, caller, run_id)
        info = doc.body["workflow_run"].get("evaluation_run_info") or {}
        eval_id = info.get("evaluation_workflow_run_id")
        if not eval_id:
            raise NotFound(f"run {run_id!r} has no evaluation")
        evaluation = await _get(tx, caller, eval_id)
        pairs = await tx.turns().list(caller.team_id, eval_id)
    result = None
    for pair in pairs:
        for event in (pair.get("run_output") or {}).get("events", []):
            if event.get("type") == "workflow_show_state":
                result = event.get("runtime_variables")
    return {
        "evaluation_workflow_run_id": eval_id,
        "status": evaluation.status,
        "evaluation_result": result,
    }
