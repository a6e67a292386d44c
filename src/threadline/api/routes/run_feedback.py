"""Comments and ratings on a run, on one of its events and on one of its turns."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends

from threadline.api.deps import CallerDep, StoreDep
from threadline.api.params import TurnIndex
from threadline.api.routes.common import JsonBody, ObjectIdPath
from threadline.service.running import run_records

router = APIRouter(tags=["runs"])


@router.post("/workflow-runs/{run_id}/comments")
async def add_comment(
    store: StoreDep,
    caller: CallerDep,
    run_id: ObjectIdPath,
    body: Annotated[JsonBody, Body()],
) -> JsonBody:
    """Comment on a finished run; returns the run."""
    return {"workflow_run": await run_records.add_comment(store, caller, run_id, body)}


@router.delete("/workflow-runs/{run_id}/comments/{comment_id}")
async def delete_comment(
    store: StoreDep, caller: CallerDep, run_id: ObjectIdPath, comment_id: str
) -> JsonBody:
    """Delete a run comment; returns the run."""
    return {
        "workflow_run": await run_records.delete_comment(
            store, caller, run_id, comment_id
        )
    }


# Comments and ratings on one event or one turn of a run: the same four routes
# for each target, registered by _feedback_routes.

Target = tuple[str, Any]
"""What feedback is about: ``("event", event_id)`` or ``("turn", turn_index)``."""


def _event(event_id: str) -> Target:
    return ("event", event_id)


def _turn(turn_index: TurnIndex) -> Target:
    return ("turn", turn_index)


async def _comment_id(comment_id: str) -> str:
    # A dependency, so that the path's parameters keep their order (run, target,
    # comment) in the OpenAPI document.
    return comment_id


def _feedback_routes(
    path: str, target: Callable[..., Target], what: str, docs: dict[str, str]
) -> None:
    """Register comment, uncomment, rate and unrate under ``path`` (in the order
    of ``docs``, which gives each route's description)."""
    At = Annotated[Target, Depends(target)]

    async def comment(
        store: StoreDep,
        caller: CallerDep,
        run_id: ObjectIdPath,
        at: At,
        body: Annotated[JsonBody, Body()],
    ) -> JsonBody:
        return await run_records.comment_on(store, caller, run_id, at, body)

    async def uncomment(
        store: StoreDep,
        caller: CallerDep,
        run_id: ObjectIdPath,
        at: At,
        comment_id: Annotated[str, Depends(_comment_id)],
    ) -> JsonBody:
        return await run_records.comment_on(store, caller, run_id, at, None, comment_id)

    async def rate(
        store: StoreDep,
        caller: CallerDep,
        run_id: ObjectIdPath,
        at: At,
        body: Annotated[JsonBody, Body()],
    ) -> JsonBody:
        return await run_records.rate(store, caller, run_id, at, body.get("value"))

    async def unrate(
        store: StoreDep, caller: CallerDep, run_id: ObjectIdPath, at: At
    ) -> JsonBody:
        return await run_records.rate(store, caller, run_id, at, None)

    routes: dict[str, tuple[Callable[..., Awaitable[JsonBody]], str, str]] = {
        "comment": (comment, "POST", "/comments"),
        "uncomment": (uncomment, "DELETE", "/comments/{comment_id}"),
        "rate": (rate, "PUT", "/rating"),
        "unrate": (unrate, "DELETE", "/rating"),
    }
    for verb, description in docs.items():
        endpoint, method, tail = routes[verb]
        router.add_api_route(
            f"/workflow-runs/{{run_id}}{path}{tail}",
            endpoint,
            methods=[method],
            name=f"{verb}_{what}",
            description=description,
        )


_feedback_routes(
    "/events/{event_id}",
    _event,
    "event",
    {
        "comment": "Comment on one event.",
        "uncomment": "Delete an event comment.",
        "rate": "Set the caller's rating on an event.",
        "unrate": "Remove the caller's rating from an event.",
    },
)
_feedback_routes(
    "/turns/{turn_index}",
    _turn,
    "turn",
    {
        "rate": "Set the caller's rating on a whole turn.",
        "unrate": "Remove the caller's rating from a turn.",
        "comment": "Comment on a turn.",
        "uncomment": "Delete a turn comment.",
    },
)
