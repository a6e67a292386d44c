"""Simulation configs: create, list, get, update, delete, and the JSON schema.

A config (``SimulationConfig``, the SDK's model) names the *selected* workflow (the
assistant under test) and the *counter* workflow (the simulated user), how many
conversations one run of it makes (``number_of_simulations``), how many run at once
(``max_concurrent_runs``) and when a conversation stops (``max_turns``, our
extension; ``max_events``; ``timeout_seconds``). It is stored as a ``simulations``
document whose body is the validated config and whose ``status`` column is the
config's status (the latest group's, or what ``PATCH`` set).

Saving checks that both workflows (and their pinned versions, if any) exist in the
caller's team (422 ``workflow_not_found`` / ``version_not_found``) and that every
size is within the operator's ceilings (``SimulationLimits``, 422 ``over_limit``).
Only ``name``, ``description`` and ``status`` change after creation; a PATCH that
changes anything else is refused (422 ``immutable_field``) and nothing is stored.
"""

from dataclasses import dataclass, replace
from typing import Annotated, Any
from uuid import uuid4

from pydantic import Field, StringConstraints, ValidationError

from threadline.config.base import WireModel
from threadline.errors import Conflict, InvalidField, NotFound
from threadline.ids import OBJECT_ID_PATTERN, new_object_id
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.definitions.wire import invalid
from threadline.settings import Settings
from threadline.store import Document, Query, Store, Transaction

JsonDict = dict[str, Any]
KIND = "simulations"
GROUPS = "simulation_groups"
CONVERSATIONS = "simulation_runs"
OVER_LIMIT = "over_limit"
INT32_MAX = 2**31 - 1
HexId = Annotated[str, StringConstraints(pattern=OBJECT_ID_PATTERN)]
STATUSES = ("pending", "running", "completed", "failed", "cancelled")
UPDATABLE = ("name", "description", "status")
SETTABLE_STATUSES = (*STATUSES, "active", "inactive")
ACTIVE_GROUP_STATUSES = ("pending", "running", "stopping")
"""Group statuses (stored) whose conversations may still run."""


@dataclass(frozen=True, slots=True)
class SimulationLimits:
    """The operator's ceilings (``THREADLINE_SIMULATION_*``)."""

    max_conversations: int = 100
    max_turns: int = 50
    max_concurrent_runs: int = 10
    max_seconds: int = 3600

    @classmethod
    def of(cls, settings: Settings) -> "SimulationLimits":
        return cls(
            max_conversations=settings.simulation_max_conversations,
            max_turns=settings.simulation_max_turns,
            max_concurrent_runs=settings.simulation_max_concurrent_runs,
            max_seconds=settings.simulation_max_seconds,
        )


class SimulationWorkflowDetails(WireModel):
    """One side of a simulation: a workflow, optionally pinned to a version."""

    workflow_id: HexId | None = Field(default=None, description="The workflow's id")
    version_number: int | None = Field(
        default=None,
        ge=0,
        le=INT32_MAX,
        description="The version its runs use (null: the active version)",
    )
    version_name: str | None = None
    dynamic_variables: dict[str, Any] | None = Field(
        default=None, description="Dynamic variables of each run of this side"
    )
    name: str | None = Field(default=None, description="The workflow's name")


class SimulationConfig(WireModel):
    """A simulation: the selected workflow talking to the counter workflow."""

    logical_id: str = Field(
        default_factory=lambda: f"simulation_{uuid4()}",
        description="Unique identifier for the simulation",
    )
    status: str = Field(default="pending", description="The latest group's status")
    name: str | None = None
    description: str | None = None
    selected_workflow: SimulationWorkflowDetails = Field(
        default_factory=SimulationWorkflowDetails,
        description="The workflow under test (the assistant)",
    )
    counter_workflow: SimulationWorkflowDetails = Field(
        default_factory=SimulationWorkflowDetails,
        description="The workflow that plays the user",
    )
    timeout_seconds: int = Field(default=120, ge=1, le=INT32_MAX)
    max_events: int = Field(default=3000, ge=1, le=INT32_MAX)
    number_of_simulations: int = Field(default=1, ge=1, le=INT32_MAX)
    max_concurrent_runs: int = Field(default=1, ge=1, le=INT32_MAX)
    max_turns: int | None = Field(
        default=None,
        ge=1,
        le=INT32_MAX,
        description="Most turns of each side's run per conversation (extension; "
        "null: THREADLINE_SIMULATION_MAX_TURNS)",
    )
    assistant_starts_first: bool = True
    stop_on_failure: bool = False
    run_by: str | None = None


def render(doc: Document) -> JsonDict:
    """The wire object the SDK's ``Simulation`` model reads."""
    return {
        "_id": doc.id,
        "id": doc.id,
        "simulation_config": doc.body,
        "name": doc.body.get("name"),
        "description": doc.body.get("description"),
        "status": doc.status,
        "team_id": doc.team_id,
        "created_by": doc.created_by,
        "updated_by": doc.updated_by,
        "created_at": doc.created_at.isoformat(),
        "updated_at": doc.updated_at.isoformat(),
    }


def _over(field: str, asked: int, ceiling: int, setting: str) -> InvalidField:
    return InvalidField(
        f"{field}: {asked} is over this server's limit of {ceiling} ({setting})",
        code=OVER_LIMIT,
        details=[{"field": field, "limit": ceiling}],
    )


def _check_limits(body: JsonDict, limits: SimulationLimits) -> None:
    checks = (
        ("number_of_simulations", limits.max_conversations, "CONVERSATIONS"),
        ("max_turns", limits.max_turns, "TURNS"),
        ("max_concurrent_runs", limits.max_concurrent_runs, "CONCURRENT_RUNS"),
        ("timeout_seconds", limits.max_seconds, "SECONDS"),
    )
    for field, ceiling, name in checks:
        asked = body.get(field)
        if isinstance(asked, int) and asked > ceiling:
            raise _over(field, asked, ceiling, f"THREADLINE_SIMULATION_MAX_{name}")


async def _check_side(
    tx: Transaction, caller: Caller, body: JsonDict, side: str
) -> None:
    details = body[side]
    workflow_id = details.get("workflow_id")
    if workflow_id is None:
        raise InvalidField(f"{side}.workflow_id: required", code="validation_error")
    try:
        workflow = await wf.get_doc(tx, caller, workflow_id)
    except NotFound as exc:
        raise InvalidField(
            f"{side}.workflow_id: workflow {workflow_id!r} not found",
            code="workflow_not_found",
        ) from exc
    number = details.get("version_number")
    if number is not None:
        try:
            await wf.get_version_doc(tx, caller, workflow_id, number)
        except NotFound as exc:
            raise InvalidField(
                f"{side}.version_number: workflow {workflow_id!r} has no version "
                f"{number}",
                code="version_not_found",
            ) from exc
    if not details.get("name"):
        details["name"] = workflow.body.get("name") or workflow.name


async def _validate(
    tx: Transaction, caller: Caller, raw: Any, limits: SimulationLimits
) -> JsonDict:
    if isinstance(raw, dict) and isinstance(raw.get("simulation_config"), dict):
        raw = raw["simulation_config"]  # the envelope the API answers with
    if not isinstance(raw, dict):
        raise InvalidField("body: a simulation config must be a JSON object")
    try:
        body = SimulationConfig.model_validate(raw).model_dump(mode="json")
    except ValidationError as exc:
        raise invalid(exc, "simulation config") from exc
    if body["status"] not in SETTABLE_STATUSES:
        raise InvalidField(
            f"status: {body['status']!r} is not one of {', '.join(SETTABLE_STATUSES)}"
        )
    _check_limits(body, limits)
    for side in ("selected_workflow", "counter_workflow"):
        await _check_side(tx, caller, body, side)
    return body


def _search_text(body: JsonDict) -> str:
    return f"{body.get('name') or ''} {body.get('description') or ''}".lower()


async def create(
    store: Store, caller: Caller, raw: Any, limits: SimulationLimits
) -> JsonDict:
    """Validate and store a new simulation config."""
    at = wf.now()
    async with store.begin() as tx:
        body = await _validate(tx, caller, raw, limits)
        doc = Document(
            id=new_object_id(),
            team_id=caller.team_id,
            body=body,
            created_at=at,
            updated_at=at,
            created_by=caller.user_id,
            updated_by=caller.user_id,
            workflow_id=body["selected_workflow"]["workflow_id"],
            logical_id=body["logical_id"],
            name=body.get("name"),
            status=body["status"],
            search_text=_search_text(body),
        )
        await tx.documents(KIND).insert(doc)
    return render(doc)


async def get_doc(tx: Transaction, caller: Caller, simulation_id: str) -> Document:
    """The caller's simulation config, or 404."""
    doc = await tx.documents(KIND).get(caller.team_id, simulation_id)
    if doc is None:
        raise NotFound(f"simulation {simulation_id!r} not found")
    return doc


async def get(store: Store, caller: Caller, simulation_id: str) -> JsonDict:
    async with store.begin() as tx:
        return render(await get_doc(tx, caller, simulation_id))


async def list_(
    store: Store, caller: Caller, *, page: int, size: int, search: str | None
) -> JsonDict:
    """The team's simulation configs, newest first."""
    query = Query(search=(search or "").lower() or None, page=page, size=size)
    async with store.begin() as tx:
        docs, total = await tx.documents(KIND).find(caller.team_id, query)
    return {
        "simulations": [render(d) for d in docs],
        "total": total,
        "page": page,
        "size": size,
    }


def _changes(current: JsonDict, raw: Any) -> JsonDict:
    if not isinstance(raw, dict):
        raise InvalidField("body: the updates must be a JSON object")
    if isinstance(raw.get("simulation_config"), dict):
        raw = raw["simulation_config"]
    changes: JsonDict = {}
    for key, value in raw.items():
        if key == "logical_id":  # a typed model's fresh default; never changed
            continue
        if key in UPDATABLE:
            changes[key] = value
        elif current.get(key) != value:
            raise InvalidField(
                f"{key}: only {', '.join(UPDATABLE)} can change after creation",
                code="immutable_field",
            )
    for key in ("name", "description"):
        if key in changes and not isinstance(changes[key], str | None):
            raise InvalidField(f"{key}: must be a string or null")
    if "status" in changes and changes["status"] not in SETTABLE_STATUSES:
        raise InvalidField(
            f"status: {changes['status']!r} is not one of "
            f"{', '.join(SETTABLE_STATUSES)}"
        )
    return changes


async def update(
    store: Store, caller: Caller, simulation_id: str, raw: Any
) -> JsonDict:
    """Change the config's name, description or status."""
    async with store.begin() as tx:
        doc = await get_doc(tx, caller, simulation_id)
        changes = _changes(doc.body, raw)
        body = {**doc.body, **changes}
        doc = replace(
            doc,
            body=body,
            name=body.get("name"),
            status=body.get("status"),
            search_text=_search_text(body),
            updated_at=wf.now(),
            updated_by=caller.user_id,
        )
        await tx.documents(KIND).replace(doc)
    return render(doc)


async def delete(store: Store, caller: Caller, simulation_id: str) -> JsonDict:
    """Delete the config with its groups and conversations (409 while a group of
    it is still running). The workflow runs they made stay."""
    async with store.begin() as tx:
        await get_doc(tx, caller, simulation_id)
        groups = tx.documents(GROUPS)
        active = await groups.count(
            caller.team_id,
            {"workflow_id": simulation_id},
            statuses=ACTIVE_GROUP_STATUSES,
        )
        if active:
            raise Conflict(
                f"simulation {simulation_id!r} has a group still running; stop it "
                "first (POST /v1/simulation-runs/{id}/stop)",
                code="simulation_running",
            )
        await tx.documents(CONVERSATIONS).delete_where(
            caller.team_id, {"logical_id": simulation_id}
        )
        await groups.delete_where(caller.team_id, {"workflow_id": simulation_id})
        await tx.documents(KIND).delete(caller.team_id, simulation_id)
    return {"message": f"simulation {simulation_id} deleted", "id": simulation_id}


def schema() -> JsonDict:
    """The JSON schema of a simulation config."""
    return {"config_schema": SimulationConfig.model_json_schema()}
