"""Putting a re-run's projected state onto its target's nodes.

The state at the checkpoint is the source run's, on the source's node logical ids.
``place`` moves it onto the target (see ``docs/reruns.md``):

- ``EXACT``: unchanged;
- ``REMAPPED``: every thread keeps its place on the matching target node; node
  counters and the visited lists follow the mapping; per-config bookkeeping (loop
  traces, waiting-edge debounce, a pending transition message) is dropped;
- ``PORTABLE``: the main thread keeps its transcript and variables and waits at the
  entry node; companion threads (whose places do not exist in the target) are
  dropped, and so are all per-node counters.

With an ``entry_node_logical_id`` the main thread waits there in any mode, as if
that node had just asked the user something: the next user message runs it.
The target's ``default_dynamic_variables`` the run lacks are added (the run's
values win), as for a new run of the target.
"""

from typing import Any

from threadline.engine.state import MAIN_THREAD, WAITING
from threadline.service.running.reruns.targets import Plan

JsonDict = dict[str, Any]

_PER_CONFIG = ("loop_trace", "tick_evaluated_at")


def _defaults(snapshot: JsonDict) -> JsonDict:
    misc = (snapshot.get("workflow_config") or {}).get("miscellaneous") or {}
    defaults = misc.get("default_dynamic_variables") or {}
    return dict(defaults) if isinstance(defaults, dict) else {}


def _rekey(counts: Any, mapping: dict[str, str], *, add: bool) -> dict[str, int]:
    out: dict[str, int] = {}
    for node_id, count in (counts or {}).items():
        dest = mapping.get(str(node_id))
        if dest is None or not isinstance(count, int):
            continue
        out[dest] = out.get(dest, 0) + count if add else max(out.get(dest, 0), count)
    return out


def _remap_thread(thread: JsonDict, mapping: dict[str, str]) -> None:
    node = thread.get("node")
    if node is not None:
        thread["node"] = mapping.get(str(node), node)
    for key in ("visited", "global_callers"):
        thread[key] = [mapping[n] for n in thread.get(key) or [] if n in mapping]
    thread["transition_prompt"] = None


def _park(state: JsonDict, node_id: str) -> None:
    """The main thread waits at ``node_id``; the run waits for the user."""
    threads = state.setdefault("threads", {})
    thread = threads.setdefault(
        MAIN_THREAD, {"thread_id": MAIN_THREAD, "history": [], "variables": {}}
    )
    thread.update(
        node=node_id,
        status=WAITING,
        fresh_entry=False,
        pending=[],
        conditional_hops=0,
        after_reverse=False,
        global_callers=[],
        self_loop_attempts=0,
        self_loop_started_at=None,
        due_at=None,
        wait_transitions=0,
        transition_prompt=None,
    )
    state.update(
        status="waiting_for_user_input",
        error=None,
        termination_source=None,
        loop_detected=None,
    )


def place(state: JsonDict, plan: Plan) -> list[str]:
    """Move ``state`` onto the plan's target in place; the dropped thread ids."""
    dropped: list[str] = []
    if plan.mode == "REMAPPED":
        mapping = plan.node_map
        for thread in (state.get("threads") or {}).values():
            _remap_thread(thread, mapping)
        state["node_runs"] = _rekey(state.get("node_runs"), mapping, add=False)
        state["node_executions"] = _rekey(
            state.get("node_executions"), mapping, add=True
        )
    elif plan.mode == "PORTABLE":
        threads = state.get("threads") or {}
        dropped = [t for t in threads if t != MAIN_THREAD]
        state["threads"] = {k: v for k, v in threads.items() if k == MAIN_THREAD}
        main = state["threads"].get(MAIN_THREAD)
        if main is not None:
            main.update(visited=[], parent=None)
        state["node_runs"], state["node_executions"] = {}, {}
    if plan.mode != "EXACT":
        for key in _PER_CONFIG:
            state[key] = {}
        state["dynamic"] = {
            **_defaults(plan.snapshot),
            **(state.get("dynamic") or {}),
        }
    if plan.entry_node_logical_id is not None:
        _park(state, plan.entry_node_logical_id)
    return dropped
