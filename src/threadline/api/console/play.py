"""The playground: talk to any version of a workflow live, over the WebSocket API.

The page is rendered here (the version's graph, its dynamic variables); the
conversation itself runs in the browser (``static/console.js``), which opens
``/v1/workflow-runs/ws`` with the session cookie and speaks the same frames as the
SDK: streamed text, the turn's events, pause, resume and stop.
"""

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response

from threadline.api.console.web import VisitorDep, page
from threadline.api.console.workflows import checked_id, version_view
from threadline.api.deps import StoreDep

router = APIRouter(include_in_schema=False)


@router.get("/ui/workflows/{workflow_id}/play")
async def play_page(
    request: Request,
    visitor: VisitorDep,
    store: StoreDep,
    workflow_id: str,
    version: int | None = None,
) -> Response:
    """The playground of one version (default: the active one)."""
    view = await version_view(
        store, visitor, checked_id("workflow", workflow_id), version
    )
    misc = view["config"].get("workflow_config", {}).get("miscellaneous") or {}
    defaults = misc.get("default_dynamic_variables") or {}
    return page(
        request,
        "play.html",
        visitor=visitor,
        variables=json.dumps(defaults, indent=1),
        **view,
    )
