"""Shared route pieces: id path parameters and response helpers."""

from typing import Annotated, Any

from fastapi import Path, Request

from threadline.ids import OBJECT_ID_PATTERN
from threadline.settings import Settings

WorkflowId = Annotated[
    str, Path(pattern=OBJECT_ID_PATTERN, description="24-hex workflow id")
]
ObjectIdPath = Annotated[str, Path(pattern=OBJECT_ID_PATTERN, description="24-hex id")]
VersionNumber = Annotated[int, Path(ge=0)]
JsonBody = dict[str, Any]


def execution_url(request: Request, settings: Settings, workflow_id: str) -> str:
    """Where the workflow is executed: ``<base>/v1/workflows/{id}/execute``."""
    base = settings.public_url or str(request.base_url)
    prefix = "/workflows/v1" if request.url.path.startswith("/workflows/v1") else "/v1"
    return f"{base.rstrip('/')}{prefix}/workflows/{workflow_id}/execute"


def workflow_envelope(request: Request, settings: Settings, doc: JsonBody) -> JsonBody:
    """``{"workflow": doc, "execution_url": ...}``; create warnings ride alongside."""
    warnings = doc.pop("warnings", None)
    out: JsonBody = {
        "workflow": doc,
        "execution_url": execution_url(request, settings, doc["_id"]),
    }
    if warnings is not None:
        out["warnings"] = warnings
    return out
