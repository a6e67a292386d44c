"""Shared route pieces: id path parameters and response helpers."""

import asyncio
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Path, Request, Response

from threadline.errors import InvalidField
from threadline.ids import OBJECT_ID_PATTERN
from threadline.service.caller import Caller
from threadline.service.definitions import mcp_servers
from threadline.service.reuse import managed_prompts
from threadline.settings import Settings
from threadline.store import Store
from threadline.tools.http_call import HttpPolicy
from threadline.tools.mcp import McpLimits

WorkflowId = Annotated[
    str, Path(pattern=OBJECT_ID_PATTERN, description="24-hex workflow id")
]
ObjectIdPath = Annotated[str, Path(pattern=OBJECT_ID_PATTERN, description="24-hex id")]
JsonBody = dict[str, Any]
JSON_TYPE = "application/json"


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


async def save_warnings(
    store: Store, caller: Caller, settings: Settings, body: Any
) -> list[JsonBody]:
    """Warnings about a saved config that only a look at the team or the network
    can give: unknown managed prompts, MCP servers runs cannot reach."""
    hydrated = managed_prompts.saved_config(body)
    unknown = await managed_prompts.save_warnings(store, caller, hydrated)
    policy = HttpPolicy(allow_private=settings.http_allow_private)
    limits = McpLimits(max_servers=settings.mcp_max_servers)
    return [*unknown, *await mcp_servers.warnings(hydrated, policy, limits)]


def _encode(body: JsonBody) -> bytes:
    return json.dumps(
        body, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=str
    ).encode("utf-8")


async def json_off_loop(body: JsonBody) -> Response:
    """``body`` as a JSON response, encoded on a worker thread.

    A hydrated workflow of thousands of nodes is megabytes of JSON: encoding it
    on the event loop would stall every other request meanwhile.
    """
    return Response(await asyncio.to_thread(_encode, body), media_type=JSON_TYPE)


@dataclass(frozen=True, slots=True)
class ExecuteBody:
    """An execute request in either shape: ``{run_input, run_id}`` or flat."""

    raw_input: JsonBody
    run_id: Any
    interactive: bool

    @property
    def field(self) -> str:
        """Where the run input sits in the body (for error messages)."""
        return "run_input" if self.interactive else ""


def read_execute_body(body: JsonBody) -> ExecuteBody:
    """Tell the interactive shape from the seed's flat ``WorkflowRunInput``."""
    interactive = "run_input" in body
    raw = body["run_input"] if interactive else body
    if not isinstance(raw, dict):
        raise InvalidField("run_input: must be an object")
    run_id = body.get("run_id") if interactive else body.get("workflow_run_id")
    return ExecuteBody(raw, run_id, interactive)


def idempotency_key(request: Request) -> str | None:
    """The ``Idempotency-Key`` header: a retry with it gets the first answer."""
    raw = request.headers.get("idempotency-key")
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > 255:
        raise InvalidField("Idempotency-Key: must be 1 to 255 characters")
    return key
