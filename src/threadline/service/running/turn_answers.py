"""Answers to commands: what a waiting request gets, from a future or the store.

A command's turn resolves the future of a request waiting in the same process;
a request elsewhere (queued behind a turn of another process, or a retried
``Idempotency-Key``) polls the command's stored answer (``wait_for``).
"""

import asyncio
from dataclasses import replace
from typing import Any

from threadline.engine.turn import TurnOutcome
from threadline.errors import Conflict, ThreadlineError
from threadline.service.runtime import Runtime
from threadline.store import Command, Document, Store

JsonDict = dict[str, Any]
FINISHED = frozenset({"done", "interrupted", "failed"})


class Interrupted(Conflict):
    """A newer command interrupted this turn (multitask policy ``interrupt``)."""

    code = "turn_interrupted"


class Unavailable(Conflict):
    """The answer is not ready yet: retry later (409 with ``Retry-After``)."""

    code = "command_in_progress"
    retry_after = 2


class Lost(Exception):
    """Another worker took the command over (this one was presumed dead)."""


def keeps_answer(command: Command) -> bool:
    """A command whose answer someone may ask for later (a retry with its key, or
    a request waiting in another process)."""
    return bool(command.idempotency_key) or bool(command.body.get("queued"))


def view(doc: Document, outcome: TurnOutcome) -> JsonDict:
    """What an answer needs of the run as the turn left it."""
    state = doc.body.get("state") or {}
    threads = state.get("threads") or {}
    return {
        "status": doc.status,
        "turn": state.get("turn", 0),
        "threads": {t: {"status": s.get("status")} for t, s in threads.items()},
        "outcome": {
            "status": outcome.status,
            "events": outcome.events,
            "outputs": outcome.outputs,
            "error": outcome.error,
            "next_input_hint": outcome.next_input_hint,
            "background": outcome.background,
        },
    }


def error_answer(error: ThreadlineError) -> JsonDict:
    return {
        "error": {"status": error.status, "code": error.code, "message": error.message}
    }


class StoredError(ThreadlineError):
    """An error answered earlier to the same command, answered again."""

    def __init__(self, raw: JsonDict) -> None:
        super().__init__(str(raw.get("message") or "error"), code=str(raw["code"]))
        self.status = int(raw.get("status") or 409)


def from_answer(doc: Document, answer: JsonDict) -> tuple[Document, TurnOutcome]:
    """The (run, turn) pair a stored answer describes; raises a stored error."""
    if "error" in answer:
        raise StoredError(answer["error"])
    raw = answer["outcome"]
    outcome = TurnOutcome(
        status=raw["status"],
        events=raw["events"],
        outputs=raw.get("outputs") or {},
        error=raw.get("error"),
        next_input_hint=raw.get("next_input_hint"),
        background=bool(raw.get("background")),
    )
    state = doc.body.get("state") or {}
    seen = {**state, "turn": answer["turn"], "threads": answer["threads"]}
    return replace(doc, status=answer["status"], body={**doc.body, "state": seen}), (
        outcome
    )


def resolve(runtime: Runtime, command_id: str, value: Any) -> None:
    future = runtime.waiters.pop(command_id, None)
    runtime.sinks.pop(command_id, None)
    if future is None or future.done():
        return
    if isinstance(value, BaseException):
        future.set_exception(value)
    else:
        future.set_result(value)


async def wait_for(
    store: Store, runtime: Runtime, command: Command, *, local: bool = False
) -> tuple[Document, TurnOutcome]:
    """Wait for ``command``'s turn and return its answer (or raise its error).

    A turn this process drives resolves the request's future; otherwise (queued
    behind a turn of another process, or a retried key) the stored answer is
    polled for, up to ``runtime.command_wait_seconds``.
    """
    loop = asyncio.get_running_loop()
    future = runtime.waiters.get(command.id)
    if future is not None and local:
        try:
            result: tuple[Document, TurnOutcome] = await asyncio.shield(future)
            return result
        finally:
            if runtime.waiters.get(command.id) is future:
                runtime.waiters.pop(command.id, None)
    deadline = loop.time() + runtime.command_wait_seconds
    pause = 0.02
    try:
        while True:
            if future is not None:
                done, _ = await asyncio.wait({future}, timeout=pause)
                if done:
                    result = future.result()
                    return result
            else:
                await asyncio.sleep(pause)
            async with store.begin() as tx:
                row = await tx.commands().get(command.id)
                doc = await tx.documents("workflow_runs").get(
                    command.team_id, command.run_id
                )
            if future is not None and future.done():
                result = future.result()
                return result
            if row is None or doc is None:
                raise Unavailable(
                    f"command {command.id} finished without a stored answer; read "
                    f"the run {command.run_id}"
                )
            if row.status in FINISHED and row.response is not None:
                return from_answer(doc, row.response)
            if loop.time() >= deadline:
                raise Unavailable(
                    f"command {command.id} is still {row.status}; retry with the "
                    "same Idempotency-Key, or read the run",
                    details={"retry_after": 2, "command_status": row.status},
                )
            pause = min(pause * 2, 0.25)
    finally:
        if future is not None and runtime.waiters.get(command.id) is future:
            runtime.waiters.pop(command.id, None)
