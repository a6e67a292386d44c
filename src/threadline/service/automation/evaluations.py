"""Automatic evaluation runs: when a run completes, its evaluator workflow runs.

A workflow whose config carries ``evaluation_config.evaluator_workflow_id`` gets an
evaluation run after each of its runs completes: a run of the evaluator workflow
(its pinned ``evaluator_workflow_version_number``, else its active version) started
in the background with the dynamic variable ``{{workflow_run_id}}`` naming the
source run, marked ``is_evaluation_run`` with ``source_workflow_run_id``. Once it has
run, the source run's ``evaluation_run_info.evaluation_workflow_run_id`` names it and
``GET /v1/workflow-runs/{id}/evaluation-result`` answers. Evaluation runs are never
evaluated themselves, nor are a simulation's runs here: the simulation evaluates
both sides of a conversation, with the selected workflow's evaluator, when it ends.
A failure to evaluate is logged and recorded on the source run
(``evaluation_run_info.error``); it never changes the source run's status.

The evaluator's run is started with the ``StartRun`` the caller gives (the turn
driver passes on ``running.runs.run_one_turn``): this room sits below the
running room and does not import it.

An evaluation start refused by a concurrency limit (the evaluator's workflow limit
or the team's) is not lost: it waits in the start queue
(``service.automation.start_queue``) as an ``evaluation_start`` document of the
``schedules`` collection and is started when a slot frees. Meanwhile the source run's
``evaluation_run_info`` (or the turn's ``evaluation``, turn by turn) carries ``waiting:
{level, limit, position}``.

Starting the evaluator and the queued starts are ``evaluation_starts``'; what is
written onto the source run ``evaluation_records``'.
"""

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from threadline.errors import ThreadlineError, TooManyRequests
from threadline.service.automation.evaluation_records import (
    mark_source,
    record_turn_result,
    show_waiting,
)
from threadline.service.automation.evaluation_starts import (
    enqueue,
    finish_queued,
    refusal,
    start_evaluator,
    start_queued,
)
from threadline.service.caller import Caller
from threadline.service.runtime import Runtime
from threadline.service.turns import StartRun
from threadline.store import Document, Store

__all__ = [
    "evaluate",
    "evaluate_turn",
    "evaluation_config",
    "finish_queued",
    "is_simulated",
    "schedule",
    "show_waiting",
    "start_queued",
]

JsonDict = dict[str, Any]
log = logging.getLogger("threadline.evaluations")


def evaluation_config(doc: Document) -> JsonDict | None:
    """The evaluation config of a (non-evaluation) run, or None."""
    run = doc.body.get("workflow_run") or {}
    if run.get("is_evaluation_run"):
        return None
    snapshot = run.get("workflow_config_fully_hydrated") or {}
    config = (snapshot.get("workflow_config") or {}).get("evaluation_config") or {}
    return config if config.get("evaluator_workflow_id") else None


def is_simulated(doc: Document) -> bool:
    """A run one side of a simulated conversation: its simulation evaluates it
    when the conversation ends (``service.simulations.conversation``)."""
    run = doc.body.get("workflow_run") or {}
    misc = run.get("miscellaneous") or {}
    return run.get("run_by") == "simulation" and isinstance(
        misc.get("simulation"), dict
    )


def _background(runtime: Runtime, work: Coroutine[Any, Any, Any]) -> None:
    task = asyncio.create_task(work)
    runtime.background.add(task)
    task.add_done_callback(runtime.background.discard)


def schedule(
    store: Store, caller: Caller, runtime: Runtime, start_run: StartRun, doc: Document
) -> None:
    """Start the evaluations ``doc`` asks for, in the background (with
    ``start_run``).

    With ``enable_turn_by_turn_evaluation`` the turn just recorded is evaluated
    (its result lands in that turn's ``evaluation``); a completed run is evaluated
    as a whole.
    """
    config = evaluation_config(doc)
    if config is None or is_simulated(doc):
        return
    turns = int(doc.body.get("turn_count") or 0)
    if config.get("enable_turn_by_turn_evaluation") and turns:
        _background(
            runtime,
            evaluate_turn(store, caller, runtime, start_run, doc, config, turns - 1),
        )
    if doc.status == "completed":
        _background(runtime, evaluate(store, caller, runtime, start_run, doc, config))


async def _run_evaluator(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    start_run: StartRun,
    source: Document,
    config: JsonDict,
    turn_index: int | None,
) -> tuple[Document | None, str | None, JsonDict | None]:
    """Start the evaluator workflow: its run, or why not, or how it waits."""
    dynamic = {} if turn_index is None else {"turn_index": turn_index}
    try:
        done = await start_evaluator(
            store, caller, runtime, start_run, source.id, config, dynamic
        )
    except TooManyRequests as exc:
        refused = refusal(exc)
        if refused is None:
            return None, exc.message, None
        waiting = await enqueue(store, caller, source.id, config, turn_index, refused)
        log.info("evaluation of run %s waits for a slot: %s", source.id, waiting)
        return None, None, waiting
    except ThreadlineError as exc:
        log.warning("evaluation of run %s could not start: %s", source.id, exc.message)
        return None, exc.message, None
    return done, None, None


async def evaluate(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    start_run: StartRun,
    doc: Document,
    config: JsonDict,
) -> str | None:
    """Run the evaluator on the completed run ``doc``; return the evaluation's id
    (None when it could not start or waits in the queue)."""
    done, error, waiting = await _run_evaluator(
        store, caller, runtime, start_run, doc, config, None
    )
    if waiting is not None:
        return None
    info: JsonDict = {"evaluation_workflow_run_id": done.id if done else None}
    if error:
        info["error"] = error
    await mark_source(store, caller, doc.id, info)
    return done.id if done else None


async def evaluate_turn(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    start_run: StartRun,
    doc: Document,
    config: JsonDict,
    index: int,
) -> None:
    """Evaluate one turn into ``input_output_pairs[index].evaluation``."""
    done, error, waiting = await _run_evaluator(
        store, caller, runtime, start_run, doc, config, index
    )
    if waiting is None:
        await record_turn_result(store, caller, doc.id, index, done, error)
