"""Accepting a command for an existing run: run it now, queue it, or refuse it.

Under the run's lock: a run waiting for input (or paused, or not started) takes the
command at once, as a ``running`` command of this worker. A run whose turn is in
progress applies its workflow's multitask policy (``multitask_strategy``):

- ``enqueue`` (default): the command waits its turn, in strict arrival order;
- ``reject``: 409 ``run_busy``;
- ``interrupt``: the running turn stops at its next step boundary, the run goes
  back to where it waited, then this command runs.

``stop`` always interrupts; ``pump`` (background work) is refused while busy.
Idempotency keys (the ``Idempotency-Key`` header) are stored on the command: a
retry finds the command and gets its answer instead of a second turn.
"""

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from threadline.errors import Conflict, InvalidField, NotFound
from threadline.ids import new_object_id
from threadline.service import commands as machine
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.running import run_history, turn_endings
from threadline.service.runtime import Runtime
from threadline.service.team.global_variables import TeamGlobals, for_run_in
from threadline.service.team.secrets import redact
from threadline.service.turns import TurnRequest
from threadline.store import Command, Document, Store, Transaction, run_cache
from threadline.telemetry import metrics, tracing

JsonDict = dict[str, Any]
POLICIES = ("enqueue", "reject", "interrupt")
DEFAULT_POLICY = "enqueue"
_BUSY = frozenset({"started", "running"})


class RunBusy(Conflict):
    """A turn is in progress and the workflow's policy is ``reject``."""

    code = "run_busy"


class KeyReused(InvalidField):
    """An ``Idempotency-Key`` came back with a different request."""

    code = "idempotency_key_reused"


def request_hash(
    workflow_id: str, run_id: str | None, run_input: JsonDict, version: int | None
) -> str:
    """A fingerprint of what a keyed request asks for."""
    blob = json.dumps(
        [workflow_id, run_id, run_input, version], sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def check_key(found: Command, fingerprint: str | None) -> None:
    if found.request_hash != fingerprint:
        raise KeyReused(
            f"Idempotency-Key {found.idempotency_key!r} was used for a different "
            "request; use a new key for a new request"
        )


@dataclass(frozen=True, slots=True)
class CommandInput:
    """A validated turn request: what its command is made of."""

    request: TurnRequest
    run_input: JsonDict
    """The validated ``WorkflowRunInput`` (``command`` set for a pump)."""
    fingerprint: str | None = None
    """What a keyed request asks for (``request_hash``); None without a key."""

    @property
    def key(self) -> str | None:
        return self.request.idempotency_key

    @property
    def field(self) -> str:
        return self.request.field


def policy_of(workflow: Document | None) -> str:
    raw = (workflow.body if workflow else {}).get("multitask_strategy")
    return raw if raw in POLICIES else DEFAULT_POLICY


def new_command(
    caller: Caller,
    run_id: str,
    seq: int,
    given: CommandInput,
    *,
    running: bool,
    worker_id: str | None,
    interrupt: bool = False,
    extra: JsonDict | None = None,
) -> Command:
    now = wf.now()
    body: JsonDict = {
        "run_input": given.run_input,
        "field": given.field,
        "user_id": caller.user_id,
        **(extra or {}),
    }
    return Command(
        id=new_object_id(),
        team_id=caller.team_id,
        run_id=run_id,
        seq=seq,
        status="running" if running else "pending",
        body=body,
        created_at=now,
        updated_at=now,
        worker_id=worker_id if running else None,
        idempotency_key=given.key,
        request_hash=given.fingerprint,
        interrupt=interrupt,
        trace_context=tracing.traceparent(),
    )


@dataclass(frozen=True, slots=True)
class Accepted:
    command: Command
    run: Document
    start: bool
    """True: the caller must start the driver; False: the command is queued."""
    team: TeamGlobals | None = None
    """The team's global variables, read in the same transaction (started turns)."""


async def _queue(
    tx: Transaction, caller: Caller, run: Document, given: CommandInput
) -> Accepted:
    name = given.run_input.get("command") or "start"
    if name == "pump":
        raise Conflict("a turn of this run is in progress; pump when it has finished")
    if name == "stop":
        policy = "interrupt"
    else:
        workflow = await tx.documents("workflows").get(
            caller.team_id, run.workflow_id or ""
        )
        policy = policy_of(workflow)
    if policy == "reject":
        raise RunBusy(
            "a turn of this run is in progress and its workflow's multitask_strategy "
            "is 'reject'; retry when it has finished"
        )
    command = new_command(
        caller,
        run.id,
        await tx.commands().next_seq(run.id),
        given,
        running=False,
        worker_id=None,
        interrupt=policy == "interrupt",
        extra={"queued": True},
    )
    await tx.commands().insert(command)
    metrics.commands_queued.inc()
    return Accepted(command, run, start=False)


async def _kept_run(
    tx: Transaction,
    runtime: Runtime,
    caller: Caller,
    run_id: str,
    given: CommandInput,
    at: datetime,
) -> Document | None:
    """The run as this process kept it after its last turn, now marked
    ``running``, if the row is still that one (``run_cache``); None: read it."""
    kept = runtime.run_cache.take(caller.team_id, run_id)
    if kept is None or kept.workflow_id != given.request.workflow_id:
        return None
    try:
        machine.check(kept.status, given.run_input.get("command") or "start")
    except Conflict:
        return None  # answered from the row as read, whatever it says now
    # The check that the row is the one kept: its status and ``updated_at``.
    if not await tx.documents("workflow_runs").set_status(
        caller.team_id,
        run_id,
        "running",
        expected_status=kept.status,
        expected_updated_at=kept.updated_at,
        at=at,
        by=caller.user_id,
    ):
        return None
    return run_cache.as_read(kept)


async def accept(
    store: Store, runtime: Runtime, caller: Caller, run_id: str, given: CommandInput
) -> Accepted:
    """Take ``given`` for the run ``run_id``: now, queued, or refused (4xx)."""
    workflow_id = given.request.workflow_id
    name = given.run_input.get("command") or "start"
    async with store.begin() as tx:
        await tx.lock(f"run:{run_id}")
        team = await for_run_in(tx, store, caller.team_id)
        given = replace(given, run_input=without_secrets(given.run_input, team))
        at = wf.now()
        run = await _kept_run(tx, runtime, caller, run_id, given, at)
        if run is None:
            run = await tx.documents("workflow_runs").get(caller.team_id, run_id)
            if run is None:
                raise NotFound(f"workflow run {run_id!r} not found")
            if run.workflow_id != workflow_id:
                raise NotFound(
                    f"workflow run {run_id!r} not found for workflow {workflow_id!r}"
                )
            if run.status not in _BUSY:
                machine.check(run.status, name)
                await tx.documents("workflow_runs").set_status(
                    caller.team_id,
                    run.id,
                    "running",
                    expected_status=run.status,
                    at=at,
                    by=caller.user_id,
                )
        if run.status in _BUSY:
            accepted = await _queue(tx, caller, run, given)
        else:
            command = new_command(
                caller,
                run.id,
                0,  # nothing is queued on an idle run; queued ones come after
                given,
                running=True,
                worker_id=runtime.worker_id,
                extra={
                    "env": turn_endings.turn_env(runtime, turn_endings.state_turn(run)),
                    "previous": run.status,
                    "created": False,
                },
            )
            await tx.commands().insert(command)
            run = await run_history.whole(tx, run, runtime.history_cache)
            accepted = Accepted(
                command,
                replace(run, status="running", updated_at=at),
                start=True,
                team=team,
            )
    if accepted.command.interrupt and run_id in runtime.drivers:
        runtime.interrupts.add(run_id)
    return accepted


def without_secrets(run_input: JsonDict, team: TeamGlobals) -> JsonDict:
    """``run_input`` with the team's secret values redacted, as events are.

    A secret's value typed into a message or a variable is stored nowhere (the
    command, the turn's ``run_input``) and the workflow sees ``[REDACTED]``.
    """
    if not team.secret_values:
        return run_input
    clean: JsonDict = redact(run_input, team.secret_values)
    return clean


async def find_by_key(store: Store, team_id: str, key: str) -> Command | None:
    async with store.begin() as tx:
        return await tx.commands().by_key(team_id, key)


async def set_policy(
    store: Store, caller: Caller, workflow_id: str, policy: Any
) -> JsonDict:
    """``PATCH /v1/workflows/{id}/multitask``: set the workflow's policy."""
    if policy not in POLICIES:
        raise InvalidField(
            f"multitask_strategy: {policy!r} is not one of {', '.join(POLICIES)}"
        )
    async with store.begin() as tx:
        workflow = await wf.get_doc(tx, caller, workflow_id)
        body = {**workflow.body, "multitask_strategy": policy}
        await tx.documents("workflows").replace(
            replace(workflow, body=body, updated_at=wf.now(), updated_by=caller.user_id)
        )
    return {"workflow_id": workflow_id, "multitask_strategy": policy}
