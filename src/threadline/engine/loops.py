"""Bounded self-loops (``self_loop_config``): run a node again until an exit edge
matches, ``max_retries`` re-runs have happened or ``expiry_time`` has passed.

Before each retry the engine emits ``self_loop_delay`` and ``self_loop_edge``; with a
``time_between_retries`` the thread is *scheduled* (``due_at``) rather than run in
the same breath: a companion thread is *scheduled* (``due_at``) and the next turn or
pump runs it, so a turn never blocks on a companion; the main thread's next task
carries ``delay_s`` and the shell waits it out within the turn, as Interactly does.
On exhaustion: ``self_loop_exhausted`` and the runtime variable
``self_loop_outcome`` (``max_retries`` or ``expiry_time``), then routing is tried once
more so an edge on that variable can fire.
"""

from typing import Any

from threadline.engine.emit import Emitter
from threadline.engine.moves import write_variables
from threadline.engine.state import MAIN_THREAD, READY, SCHEDULED, ThreadState

JsonDict = dict[str, Any]


def _outcome(config: JsonDict, attempts: int, elapsed: float) -> str | None:
    retries = config.get("max_retries")
    if retries is not None and attempts > int(retries):
        return "max_retries"
    expiry = config.get("expiry_time")
    if expiry and elapsed >= float(expiry):
        return "expiry_time"
    return None


def retry_or_exhaust(
    thread: ThreadState, node: JsonDict, run_id: int, em: Emitter
) -> bool:
    """Handle a finished run of a self-looping node with no exit edge.

    Returns True when the node was scheduled to run again, False when the node has
    no bounded self-loop or the loop is exhausted (``self_loop_outcome`` written).
    """
    config = node.get("self_loop_config") or {}
    if not config.get("enabled"):
        return False
    node_id = node["logical_id"]
    fields = em.node_fields(node_id, run_id)
    thread.self_loop_attempts += 1
    if thread.self_loop_started_at is None:
        thread.self_loop_started_at = em.now
    attempts = thread.self_loop_attempts
    outcome = _outcome(config, attempts, em.now - thread.self_loop_started_at)
    if outcome is not None:
        em.emit(
            "self_loop_exhausted",
            thread.thread_id,
            **fields,
            outcome=outcome,
            total_attempts=attempts,
        )
        write_variables(thread, node, {"self_loop_outcome": outcome})
        thread.self_loop_attempts = 0
        thread.self_loop_started_at = None
        return False
    delay = float(config.get("time_between_retries") or 0)
    em.emit(
        "self_loop_delay",
        thread.thread_id,
        **fields,
        delay_seconds=delay,
        attempt_number=attempts + 1,
    )
    edge = {"logical_id": f"self_loop_{node_id}", "name": "Self loop"}
    em.edge(
        "self_loop_edge",
        thread.thread_id,
        edge,
        node_id,
        node_id,
        f"No exit edge matched; attempt {attempts + 1}",
    )
    if thread.thread_id != MAIN_THREAD:
        expiry = config.get("expiry_time")
        deadline = thread.self_loop_started_at + float(expiry) if expiry else None
        em.emit(
            "companion_step_boundary",
            thread.thread_id,
            companion_thread_id=thread.thread_id,
            attempts_completed=attempts,
            deadline_epoch=deadline,
            still_active=True,
        )
    thread.fresh_entry = True
    thread.due_at = em.now + delay if delay > 0 else None
    # The main thread waits out the delay inside the turn (the conversation cannot
    # go on meanwhile); a companion is scheduled and resumed by a later pump.
    background = delay > 0 and thread.thread_id != MAIN_THREAD
    thread.status = SCHEDULED if background else READY
    return True
