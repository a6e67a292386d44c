"""One simulated conversation: the two workflows take turns, each an ordinary run.

The side that opens (the selected workflow when ``assistant_starts_first``, else
the counter workflow) starts its run with no message; from then on each side's
reply (the ``assistant_response`` texts of its turn) is the other side's next user
message. Each turn is one ``StartRun`` call whose ``Idempotency-Key`` is
``simulation:{conversation id}:{step}``, and the conversation document records the
step, both run ids and the message to deliver next after every turn: a process that
takes over after a crash re-sends the same step with the same key and gets the first
answer instead of a second turn, so no turn runs twice.

Each run's ``miscellaneous.simulation`` names its simulation, group, conversation,
side and (once both exist) its peer run; the conversation names both runs.

A conversation ends when a side's run ends (``selected_ended`` /
``counter_ended``; a failed run fails the conversation), when the next side has had
``max_turns`` turns, when both sides in a row said nothing (``no_reply``; a
side that says nothing passes no message, so a workflow that waits for the user
first can open second), when the runs' events
reach ``max_events``, when ``timeout_seconds`` have passed since its first turn
(``timeout``, failed), or when its group is stopped (``stopped``, cancelled). The
ending is recorded before it is carried out; then the runs still waiting are stopped
(so they hold no concurrency slot), and, unless stopped, each side's run is
evaluated by the selected workflow's evaluator (``automation.evaluations``).

A start refused by a concurrency limit (the team's, or a workflow's
``max_concurrent_runs``) is not a failure: the conversation records ``waiting``
and retries. Within a group one conversation at a time is *opening* (has started
one run but not the other; ``Context.opening``), so a limit smaller than twice the
group's concurrency queues conversations instead of deadlocking them.
"""

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any

from threadline.errors import Conflict, ThreadlineError, TooManyRequests
from threadline.service.automation import evaluations
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.runtime import Runtime
from threadline.service.simulations.configs import CONVERSATIONS
from threadline.service.turns import StartRun, TurnRequest
from threadline.store import Document, Store

JsonDict = dict[str, Any]
SIDES = ("selected", "counter")
TERMINAL_RUN = frozenset({"completed", "failed", "cancelled", "aborted_looping_risk"})
FAILED_RUN = frozenset({"failed", "aborted_looping_risk"})
RETRY = "retry"
"""``step``'s answer when the turn could not be taken now (no slot yet)."""


class Lost(Exception):
    """The conversation document changed under this driver (another took over)."""


@dataclass(frozen=True, slots=True)
class Context:
    """What driving one group's conversations needs."""

    store: Store
    runtime: Runtime
    start_run: StartRun
    group: Document
    opening: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held by the conversation whose two runs are not both started yet: one at a
    time per group, so conversations holding one slot each cannot starve every
    second run of a limit (each would wait for a slot the others hold)."""

    @property
    def caller(self) -> Caller:
        return Caller(
            team_id=self.group.team_id, user_id=self.group.created_by or "simulation"
        )

    @property
    def config(self) -> JsonDict:
        config: JsonDict = self.group.body["simulation_config"]
        return config

    def side(self, side: str) -> JsonDict:
        details: JsonDict = self.config.get(f"{side}_workflow") or {}
        return details


def opened(conv: Document) -> bool:
    """Both sides' runs exist."""
    return all(conv.body.get(f"{s}_workflow_run_id") for s in SIDES)


def other(side: str) -> str:
    return "counter" if side == "selected" else "selected"


def first_side(ctx: Context) -> str:
    return "selected" if ctx.config.get("assistant_starts_first", True) else "counter"


def next_side(ctx: Context, conv: Document) -> str:
    step = int(conv.body.get("step") or 0)
    first = first_side(ctx)
    return first if step % 2 == 0 else other(first)


def _reply(events: list[JsonDict]) -> str:
    said = [
        str(e.get("content"))
        for e in events
        if e.get("type") == "assistant_response" and e.get("content")
    ]
    return "\n".join(said)


def _raw_input(ctx: Context, conv: Document, side: str, started: bool) -> JsonDict:
    message = conv.body.get("message")
    inputs = (
        [{"type": "llm", "messages": [{"type": "human", "content": message}]}]
        if message
        else []
    )
    raw: JsonDict = {
        "command": "data" if started else "start",
        "thread_to_node_inputs": {"0": {"node_run_inputs": inputs}},
    }
    if not started:
        raw["run_by"] = "simulation"
        raw["dynamic_variables"] = dict(ctx.side(side).get("dynamic_variables") or {})
        raw["miscellaneous"] = {
            "simulation": {
                "simulation_id": conv.body["simulation_config_id"],
                "simulation_group_id": ctx.group.id,
                "simulation_run_id": conv.id,
                "run_index": conv.body["run_index"],
                "side": side,
            }
        }
    return raw


async def save(ctx: Context, conv: Document, **changes: Any) -> Document:
    """Write the conversation's new state (only while it is still ``running``)."""
    status = changes.pop("status", conv.status)
    new = replace(
        conv, status=status, body={**conv.body, **changes}, updated_at=wf.now()
    )
    async with ctx.store.begin() as tx:
        if not await tx.documents(CONVERSATIONS).replace(
            new, expected_status="running"
        ):
            raise Lost(conv.id)
    return new


async def _link(ctx: Context, conv: Document) -> None:
    """Name each run's peer in its ``miscellaneous.simulation`` (both idle now)."""
    ids = {s: conv.body.get(f"{s}_workflow_run_id") for s in SIDES}
    for side in SIDES:
        run_id, peer = ids[side], ids[other(side)]
        if not run_id or not peer:
            return
    for side in SIDES:
        run_id, peer = str(ids[side]), ids[other(side)]
        async with ctx.store.begin() as tx:
            await tx.lock(f"run:{run_id}")
            runs = tx.documents("workflow_runs")
            doc = await runs.get(ctx.group.team_id, run_id)
            if doc is None:
                continue
            record = doc.body["workflow_run"]
            misc = dict(record.get("miscellaneous") or {})
            link = {**(misc.get("simulation") or {}), "peer_workflow_run_id": peer}
            misc["simulation"] = link
            body = {**doc.body, "workflow_run": {**record, "miscellaneous": misc}}
            # A new ``updated_at``: a process keeping the row sees it changed.
            changed = replace(doc, body=body, updated_at=wf.now())
            await runs.replace(changed, expected_status=doc.status)


def _ending(
    ctx: Context, conv: Document, side: str, status: str | None, error: str | None
) -> JsonDict | None:
    """Why the conversation ends after ``side``'s turn, or None."""
    body = conv.body
    if status in FAILED_RUN:
        reason = f"the {side} workflow's run {status}"
        return {
            "status": "failed",
            "reason": f"{side}_failed",
            "error": reason + (f": {error}" if error else ""),
        }
    if status in TERMINAL_RUN:
        return {"status": "completed", "reason": f"{side}_ended", "error": None}
    if int(body.get("events") or 0) >= int(ctx.config.get("max_events") or 3000):
        return {"status": "completed", "reason": "max_events", "error": None}
    turns = body.get("turns") or {}
    if int(turns.get(other(side)) or 0) >= int(ctx.group.body["max_turns"]):
        return {"status": "completed", "reason": "max_turns", "error": None}
    if int(body.get("silent") or 0) >= 2:  # neither side has anything to say
        return {"status": "completed", "reason": "no_reply", "error": None}
    return None


def timed_out(ctx: Context, conv: Document) -> JsonDict | None:
    started = conv.body.get("started_at")
    if started is None:
        return None
    limit = float(ctx.config.get("timeout_seconds") or 120)
    if wf.now().timestamp() - float(started) < limit:
        return None
    return {
        "status": "failed",
        "reason": "timeout",
        "error": f"the conversation did not end within timeout_seconds ({int(limit)})",
    }


async def step(ctx: Context, conv: Document) -> Document | str:
    """Take the conversation's next turn: the updated conversation, or ``RETRY``."""
    side = next_side(ctx, conv)
    run_id = conv.body.get(f"{side}_workflow_run_id")
    details = ctx.side(side)
    request = TurnRequest(
        workflow_id=str(details["workflow_id"]),
        raw_input=_raw_input(ctx, conv, side, run_id is not None),
        run_id=run_id,
        query_version=None if run_id else details.get("version_number"),
        field="simulation",
        idempotency_key=f"simulation:{conv.id}:{conv.body.get('step') or 0}",
    )
    try:
        doc, outcome = await ctx.start_run(ctx.store, ctx.caller, ctx.runtime, request)
    except TooManyRequests as exc:
        details_ = exc.details if isinstance(exc.details, dict) else {}
        waiting = {
            "side": side,
            "level": details_.get("level"),
            "limit": details_.get("limit"),
            "reason": exc.message,
        }
        if conv.body.get("waiting") != waiting:
            conv = await save(ctx, conv, waiting=waiting)
        return RETRY
    except Conflict as exc:
        if exc.code == "command_in_progress":  # the first attempt is still running
            return RETRY
        raise
    turns = dict(conv.body.get("turns") or {})
    turns[side] = int(turns.get(side) or 0) + 1
    reply = _reply(outcome.events)
    changes: JsonDict = {
        f"{side}_workflow_run_id": doc.id,
        "step": int(conv.body.get("step") or 0) + 1,
        "turns": turns,
        "events": int(conv.body.get("events") or 0) + len(outcome.events),
        "message": reply or None,
        "silent": 0 if reply else int(conv.body.get("silent") or 0) + 1,
        "waiting": None,
        f"{side}_status": doc.status,
    }
    if conv.body.get("started_at") is None:
        changes["started_at"] = wf.now().timestamp()
    ahead = replace(conv, body={**conv.body, **changes})
    if run_id is None and opened(ahead):
        await _link(ctx, ahead)  # idempotent: a re-sent step links again
    ending = _ending(ctx, ahead, side, doc.status, outcome.error) or timed_out(
        ctx, ahead
    )
    if ending is not None:  # saved with the turn: a resumed driver never adds one
        changes["ending"] = ending
    return await save(ctx, conv, **changes)


async def _stop_run(ctx: Context, conv: Document, side: str) -> None:
    run_id = conv.body.get(f"{side}_workflow_run_id")
    if not run_id:
        return
    async with ctx.store.begin() as tx:
        doc = await tx.documents("workflow_runs").get(ctx.group.team_id, run_id)
    if doc is None or doc.status in TERMINAL_RUN:
        return
    details = ctx.side(side)
    request = TurnRequest(
        workflow_id=str(details["workflow_id"]),
        raw_input={"command": "stop"},
        run_id=run_id,
        field="simulation",
        idempotency_key=f"simulation:{conv.id}:stop:{side}",
    )
    try:
        await ctx.start_run(ctx.store, ctx.caller, ctx.runtime, request)
    except ThreadlineError:  # it ended meanwhile; nothing holds a slot
        return


async def _evaluate(ctx: Context, conv: Document) -> JsonDict:
    """Evaluate both runs with the selected workflow's evaluator (once each)."""
    found: JsonDict = dict(conv.body.get("evaluations") or {})
    selected_id = conv.body.get("selected_workflow_run_id")
    if not selected_id:
        return found
    async with ctx.store.begin() as tx:
        runs = tx.documents("workflow_runs")
        docs = {
            side: await runs.get(ctx.group.team_id, rid)
            for side in SIDES
            if (rid := conv.body.get(f"{side}_workflow_run_id"))
        }
    selected = docs.get("selected")
    config = evaluations.evaluation_config(selected) if selected else None
    if config is None:
        return found
    for side, doc in docs.items():
        if doc is None or side in found:
            continue
        info = doc.body["workflow_run"].get("evaluation_run_info") or {}
        if info:
            found[side] = info.get("evaluation_workflow_run_id")
            continue
        found[side] = await evaluations.evaluate(
            ctx.store, ctx.caller, ctx.runtime, ctx.start_run, doc, config
        )
    return found


async def finish(ctx: Context, conv: Document) -> Document:
    """Carry out the recorded ending: stop the runs, evaluate, close."""
    ending: JsonDict = conv.body["ending"]
    for side in SIDES:
        await _stop_run(ctx, conv, side)
    found = conv.body.get("evaluations") or {}
    if ending["status"] != "cancelled":
        found = await _evaluate(ctx, conv)
    statuses: JsonDict = {}
    async with ctx.store.begin() as tx:
        for side in SIDES:
            rid = conv.body.get(f"{side}_workflow_run_id")
            run = (
                await tx.documents("workflow_runs").get(ctx.group.team_id, rid)
                if rid
                else None
            )
            statuses[f"{side}_status"] = run.status if run else None
    return await save(
        ctx,
        conv,
        status=ending["status"],
        end_reason=ending["reason"],
        error_message=ending.get("error"),
        evaluations=found,
        finished_at=wf.now().isoformat(),
        **statuses,
    )
