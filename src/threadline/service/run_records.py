"""Reading and curating stored runs: list, get, delete, comments, ratings."""

from dataclasses import replace
from typing import Any

from threadline.errors import Conflict, InvalidField, NotFound
from threadline.ids import is_object_id, new_logical_id
from threadline.service import workflows as wf
from threadline.service.caller import Caller
from threadline.service.commands import TERMINAL
from threadline.service.envelopes import stored_doc
from threadline.store import Document, Query, Store, Transaction

JsonDict = dict[str, Any]
RATING_VALUES = ("down", "up", "strong_up")


def render(doc: Document) -> JsonDict:
    """``StoredDoc(workflow_run)``: the full run document."""
    return stored_doc(doc, "workflow_run", doc.body["workflow_run"])


def projection(doc: Document) -> JsonDict:
    """The list row: audit fields plus ``{logical_id, workflow_id, status}``."""
    run = doc.body["workflow_run"]
    keep = ("logical_id", "workflow_id", "status", "version_number", "run_by")
    return stored_doc(doc, "workflow_run", {k: run.get(k) for k in keep})


async def _get(tx: Transaction, caller: Caller, run_id: str) -> Document:
    if not is_object_id(run_id):
        raise InvalidField(f"workflow_run_id: {run_id!r} is not a 24-hex id")
    doc = await tx.documents("workflow_runs").get(caller.team_id, run_id)
    if doc is None:
        raise NotFound(f"workflow run {run_id!r} not found")
    return doc


async def get(store: Store, caller: Caller, run_id: str) -> JsonDict:
    """One run of the caller's team."""
    async with store.begin() as tx:
        return render(await _get(tx, caller, run_id))


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
        await tx.documents("workflow_runs").delete(caller.team_id, run_id)


def _content(body: JsonDict) -> str:
    content = body.get("content")
    if not isinstance(content, str) or not content.strip():
        raise InvalidField("content: a comment needs non-blank text")
    if len(content.strip()) > 5000:
        raise InvalidField("content: at most 5000 characters")
    return content.strip()


def _comment(caller: Caller, content: str) -> JsonDict:
    at = wf.now().isoformat()
    return {
        "logical_id": new_logical_id("comment"),
        "content": content,
        "createdBy": caller.user_id,
        "updatedBy": caller.user_id,
        "createdAt": at,
        "updatedAt": at,
    }


def _rating(caller: Caller, value: str) -> JsonDict:
    at = wf.now().isoformat()
    return {
        "logical_id": new_logical_id("rating"),
        "value": value,
        "createdBy": caller.user_id,
        "updatedBy": caller.user_id,
        "createdAt": at,
        "updatedAt": at,
    }


async def _mutate(
    store: Store, caller: Caller, run_id: str, change: Any
) -> tuple[Document, Any]:
    """Apply ``change(run) -> target`` to a finished run and save it."""
    async with store.begin() as tx:
        doc = await _get(tx, caller, run_id)
        if doc.status not in TERMINAL:
            raise Conflict(
                f"run {run_id!r} is {doc.status}; feedback needs a finished run"
            )
        run = dict(doc.body["workflow_run"])
        target = change(run)
        doc = replace(
            doc,
            body={**doc.body, "workflow_run": run},
            updated_at=wf.now(),
            updated_by=caller.user_id,
        )
        await tx.documents("workflow_runs").replace(doc)
    return doc, target


async def add_comment(
    store: Store, caller: Caller, run_id: str, body: JsonDict
) -> JsonDict:
    """Add a run-level comment; returns the whole run."""
    comment = _comment(caller, _content(body))

    def change(run: JsonDict) -> None:
        run["comments"] = [*run.get("comments", []), comment]

    doc, _ = await _mutate(store, caller, run_id, change)
    return render(doc)


async def delete_comment(
    store: Store, caller: Caller, run_id: str, comment_id: str
) -> JsonDict:
    """Delete a run-level comment; returns the whole run."""

    def change(run: JsonDict) -> None:
        kept = [c for c in run.get("comments", []) if c.get("logical_id") != comment_id]
        if len(kept) == len(run.get("comments", [])):
            raise NotFound(f"comment {comment_id!r} not found on run {run_id!r}")
        run["comments"] = kept

    doc, _ = await _mutate(store, caller, run_id, change)
    return render(doc)


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


def _find_event(run: JsonDict, event_id: str) -> JsonDict:
    for pair in run.get("input_output_pairs", []):
        for event in (pair.get("run_output") or {}).get("events", []):
            if event.get("logical_id") == event_id:
                return event  # type: ignore[no-any-return]  # JSON from our own store
    raise NotFound(f"event {event_id!r} not found on this run")


def _find_turn(run: JsonDict, turn_index: int) -> JsonDict:
    pairs = run.get("input_output_pairs", [])
    if not 0 <= turn_index < len(pairs):
        raise NotFound(f"turn {turn_index} not found (the run has {len(pairs)} turns)")
    return pairs[turn_index]  # type: ignore[no-any-return]  # JSON from our own store


async def rate(
    store: Store, caller: Caller, run_id: str, where: tuple[str, Any], value: str | None
) -> JsonDict:
    """Set (or with None remove) the caller's rating on an event or a turn."""
    if value is not None and value not in RATING_VALUES:
        raise InvalidField(f"value: must be one of {', '.join(RATING_VALUES)}")

    def change(run: JsonDict) -> JsonDict:
        target = _target(run, where)
        ratings = [
            r for r in target.get("ratings", []) if r.get("createdBy") != caller.user_id
        ]
        if value is not None:
            ratings.append(_rating(caller, value))
        target["ratings"] = ratings
        return target

    _, target = await _mutate(store, caller, run_id, change)
    return _feedback(target)


async def comment_on(
    store: Store,
    caller: Caller,
    run_id: str,
    where: tuple[str, Any],
    body: JsonDict | None,
    comment_id: str | None = None,
) -> JsonDict:
    """Add (``body``) or delete (``comment_id``) a comment on an event or a turn."""
    new = _comment(caller, _content(body)) if body is not None else None

    def change(run: JsonDict) -> JsonDict:
        target = _target(run, where)
        comments = list(target.get("comments", []))
        if new is not None:
            comments.append(new)
        else:
            kept = [c for c in comments if c.get("logical_id") != comment_id]
            if len(kept) == len(comments):
                raise NotFound(f"comment {comment_id!r} not found")
            comments = kept
        target["comments"] = comments
        return target

    _, target = await _mutate(store, caller, run_id, change)
    return _feedback(target)


def _target(run: JsonDict, where: tuple[str, Any]) -> JsonDict:
    kind, key = where
    return _find_event(run, key) if kind == "event" else _find_turn(run, key)


async def evaluation_result(store: Store, caller: Caller, run_id: str) -> JsonDict:
    """The result of the automatic evaluation of a run (404 when there is none)."""
    async with store.begin() as tx:
        doc = await _get(tx, caller, run_id)
        info = doc.body["workflow_run"].get("evaluation_run_info") or {}
        eval_id = info.get("evaluation_workflow_run_id")
        if not eval_id:
            raise NotFound(f"run {run_id!r} has no evaluation")
        evaluation = await _get(tx, caller, eval_id)
    result = None
    for pair in evaluation.body["workflow_run"].get("input_output_pairs", []):
        for event in (pair.get("run_output") or {}).get("events", []):
            if event.get("type") == "workflow_show_state":
                result = event.get("runtime_variables")
    return {
        "evaluation_workflow_run_id": eval_id,
        "status": evaluation.status,
        "evaluation_result": result,
    }
