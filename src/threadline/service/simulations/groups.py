"""Simulation groups: one run of a simulation config, N conversations.

``run`` stores a ``simulation_groups`` document (status ``pending``; the config as
it was, the resolved turn limit and concurrency) and its ``number_of_simulations``
conversations as ``simulation_runs`` documents (``pending``, ``run_index`` 0..N-1),
in one transaction. The background driver (``simulations.driver``) takes it from
there. Columns: a group's ``workflow_id`` is its simulation's id; a conversation's
``workflow_id`` is its group's id, ``logical_id`` its simulation's id,
``version_number`` its index (and ``created_at`` grows with the index, so the
oldest-first order is the index order).

Stored group statuses: ``pending``, ``running``, ``stopping`` (stopped while
conversations were in flight: they end at their next turn boundary), ``completed``,
``failed``, ``cancelled``. The wire shows ``stopping`` as ``cancelled``.

``stop`` cancels the conversations not started yet at once (in the same
transaction, under the group's lock, so the driver cannot claim one meanwhile);
the ones in flight stop before their next turn, keeping the runs they made.
"""

from dataclasses import replace
from datetime import timedelta
from typing import Any

from threadline.errors import Conflict, InvalidField, NotFound
from threadline.ids import new_object_id
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.simulations import configs
from threadline.service.simulations.configs import (
    CONVERSATIONS,
    GROUPS,
    SimulationLimits,
)
from threadline.store import Document, Query, Store, Transaction

JsonDict = dict[str, Any]
FINISHED = ("completed", "failed", "cancelled")
RUNNER_NAME_MAX = 200


def lock_key(group_id: str) -> str:
    """The lock serialising a group's claims and its stop."""
    return f"simulation_group:{group_id}"


def wire_status(status: str | None) -> str:
    return "cancelled" if status == "stopping" else str(status or "pending")


async def counts(tx: Transaction, team_id: str, group_id: str) -> dict[str, int]:
    """How many of the group's conversations are in each status."""
    docs = tx.documents(CONVERSATIONS)
    where = {"workflow_id": group_id}
    out = {}
    for status in ("pending", "running", "completed", "failed", "cancelled"):
        out[status] = await docs.count(team_id, where, statuses=(status,))
    return out


def render(doc: Document, tally: dict[str, int]) -> JsonDict:
    """The wire object the SDK's ``SimulationGroup`` model reads."""
    body = doc.body
    return {
        "_id": doc.id,
        "id": doc.id,
        "simulation_config_id": body["simulation_config_id"],
        "simulation_id": body["simulation_config_id"],
        "status": wire_status(doc.status),
        "total_runs": body["total_runs"],
        "completed_runs": tally["completed"],
        "failed_runs": tally["failed"],
        "cancelled_runs": tally["cancelled"],
        "running_runs": tally["running"],
        "pending_runs": tally["pending"],
        "runner_name": body.get("runner_name"),
        "max_turns": body.get("max_turns"),
        "max_concurrent_runs": body.get("concurrency"),
        "finished_at": body.get("finished_at"),
        "team_id": doc.team_id,
        "created_by": doc.created_by,
        "created_at": doc.created_at.isoformat(),
        "updated_at": doc.updated_at.isoformat(),
    }


async def rendered(tx: Transaction, doc: Document) -> JsonDict:
    return render(doc, await counts(tx, doc.team_id, doc.id))


def _runner_name(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidField("body: must be a JSON object")
    name = raw.get("runner_name")
    if name is not None and not isinstance(name, str):
        raise InvalidField("runner_name: must be a string")
    if name is not None and len(name) > RUNNER_NAME_MAX:
        raise InvalidField(f"runner_name: longer than {RUNNER_NAME_MAX} characters")
    return name


def _conversation(group: Document, index: int, simulation_id: str) -> Document:
    at = group.created_at + timedelta(microseconds=index)
    body: JsonDict = {
        "simulation_group_id": group.id,
        "simulation_config_id": simulation_id,
        "run_index": index,
        "selected_workflow_run_id": None,
        "counter_workflow_run_id": None,
        "error_message": None,
        "end_reason": None,
        "step": 0,
        "turns": {"selected": 0, "counter": 0},
        "events": 0,
        "message": None,
        "started_at": None,
        "finished_at": None,
        "waiting": None,
        "evaluations": {},
    }
    return Document(
        id=new_object_id(),
        team_id=group.team_id,
        body=body,
        created_at=at,
        updated_at=at,
        created_by=group.created_by,
        updated_by=group.created_by,
        workflow_id=group.id,
        logical_id=simulation_id,
        version_number=index,
        status="pending",
    )


async def run(
    store: Store,
    caller: Caller,
    simulation_id: str,
    raw: Any,
    limits: SimulationLimits,
) -> JsonDict:
    """Start a group of the simulation's conversations (the driver runs them)."""
    runner_name = _runner_name(raw)
    async with store.begin() as tx:
        sim = await configs.get_doc(tx, caller, simulation_id)
        config = sim.body
        size = int(config.get("number_of_simulations") or 1)
        asked_turns = config.get("max_turns")
        turns = int(asked_turns or limits.max_turns)
        concurrency = int(config.get("max_concurrent_runs") or 1)
        over = (
            ("number_of_simulations", size, limits.max_conversations),
            ("max_turns", turns, limits.max_turns),
            ("max_concurrent_runs", concurrency, limits.max_concurrent_runs),
        )
        for field, asked, ceiling in over:
            if asked > ceiling:  # the ceiling was lowered after the config was saved
                raise InvalidField(
                    f"{field}: {asked} is over this server's limit of {ceiling}",
                    code=configs.OVER_LIMIT,
                )
        for side in ("selected_workflow", "counter_workflow"):
            workflow_id = (config.get(side) or {}).get("workflow_id")
            if (
                not workflow_id
                or await tx.documents("workflows").get(caller.team_id, workflow_id)
                is None
            ):
                raise Conflict(
                    f"{side}.workflow_id: workflow {workflow_id!r} no longer exists",
                    code="workflow_not_found",
                )
        at = wf.now()
        group = Document(
            id=new_object_id(),
            team_id=caller.team_id,
            body={
                "simulation_config_id": sim.id,
                "simulation_config": config,
                "runner_name": runner_name,
                "total_runs": size,
                "max_turns": turns,
                "concurrency": concurrency,
                "finished_at": None,
                "failed_fast": False,
            },
            created_at=at,
            updated_at=at,
            created_by=caller.user_id,
            updated_by=caller.user_id,
            workflow_id=sim.id,
            logical_id=config.get("logical_id"),
            name=runner_name,
            status="pending",
        )
        await tx.documents(GROUPS).insert(group)
        await tx.documents(CONVERSATIONS).insert_many(
            [_conversation(group, i, sim.id) for i in range(size)]
        )
        await tx.documents(configs.KIND).replace(
            replace(sim, status="running", body={**config, "status": "running"})
        )
        return render(
            group,
            {
                "pending": size,
                "running": 0,
                "completed": 0,
                "failed": 0,
                "cancelled": 0,
            },
        )


async def get_doc(tx: Transaction, caller: Caller, group_id: str) -> Document:
    doc = await tx.documents(GROUPS).get(caller.team_id, group_id)
    if doc is None:
        raise NotFound(f"simulation run {group_id!r} not found")
    return doc


async def get(store: Store, caller: Caller, group_id: str) -> JsonDict:
    async with store.begin() as tx:
        return await rendered(tx, await get_doc(tx, caller, group_id))


async def list_for(
    store: Store, caller: Caller, simulation_id: str, *, page: int, size: int
) -> JsonDict:
    """A simulation's groups, newest first."""
    async with store.begin() as tx:
        await configs.get_doc(tx, caller, simulation_id)
        docs, total = await tx.documents(GROUPS).find(
            caller.team_id,
            Query(equals={"workflow_id": simulation_id}, page=page, size=size),
        )
        items = [await rendered(tx, d) for d in docs]
    return {"simulation_groups": items, "total": total, "page": page, "size": size}


async def stop(store: Store, caller: Caller, group_id: str) -> JsonDict:
    """Stop a group: nothing more starts; conversations in flight end at their next
    turn boundary (409 ``simulation_finished`` once it has finished)."""
    async with store.begin() as tx:
        await tx.lock(lock_key(group_id))
        doc = await get_doc(tx, caller, group_id)
        if doc.status in FINISHED or doc.status == "stopping":
            raise Conflict(
                f"simulation run {group_id!r} is already {wire_status(doc.status)}",
                code="simulation_finished",
            )
        docs = tx.documents(CONVERSATIONS)
        pending, _ = await docs.find(
            caller.team_id,
            Query(equals={"workflow_id": group_id}, newest_first=False),
        )
        at = wf.now()
        for conv in pending:
            if conv.status != "pending":
                continue
            body = {**conv.body, "end_reason": "stopped", "finished_at": at.isoformat()}
            await docs.replace(
                replace(conv, status="cancelled", body=body, updated_at=at),
                expected_status="pending",
            )
        running = await docs.count(
            caller.team_id, {"workflow_id": group_id}, statuses=("running",)
        )
        status = "stopping" if running else "cancelled"
        body = {**doc.body, "stopped_by": caller.user_id, "stopped_at": at.isoformat()}
        if not running:
            body["finished_at"] = at.isoformat()
        doc = replace(doc, status=status, body=body, updated_at=at)
        await tx.documents(GROUPS).replace(doc)
        if not running:
            await set_config_status(tx, doc, "cancelled")
        return await rendered(tx, doc)


async def set_config_status(tx: Transaction, group: Document, status: str) -> None:
    """Show a group's outcome as its simulation config's status."""
    sim_id = str(group.body["simulation_config_id"])
    sim = await tx.documents(configs.KIND).get(group.team_id, sim_id)
    if sim is not None:
        await tx.documents(configs.KIND).replace(
            replace(sim, status=status, body={**sim.body, "status": status})
        )
