"""The carried state put onto a re-run's target nodes (``reruns.placement``)."""

import copy
from typing import Any

from threadline.engine.state import RunState, ThreadState
from threadline.service.running.reruns.placement import place
from threadline.service.running.reruns.targets import Plan, Target


def _state() -> dict[str, Any]:
    """Main thread waiting at ``a`` after ``s``; a companion polling at ``p``."""
    main = ThreadState(
        "0",
        "a",
        status="waiting",
        history=[{"type": "ai", "content": "Hi"}, {"type": "human", "content": "yo"}],
        variables={"tier": "gold"},
        visited=["s", "a"],
        fresh_entry=False,
    )
    poller = ThreadState("poller", "p", status="scheduled", parent="0", due_at=9.0)
    state = RunState(
        run_id="r",
        status="waiting_for_user_input",
        turn=2,
        threads={"0": main, "poller": poller},
        dynamic={"patient": "Ann"},
        workflow_variables={"count": 1},
        node_runs={"s": 1, "a": 2, "p": 3},
        node_executions={"s": 1, "a": 2, "p": 3},
        loop_trace={"0": [["a", "x"]]},
        tick_evaluated_at={"edge_wait": 5.0},
    )
    return state.to_json()


def _plan(mode: str, matches: dict[str, str], entry: str | None = None) -> Plan:
    snapshot = {
        "workflow_config": {
            "miscellaneous": {
                "default_dynamic_variables": {"patient": "X", "clinic": "East"}
            }
        }
    }
    return Plan(
        target=Target("w", 1, snapshot, same=False),
        mode=mode,
        history_mode="FULL",
        entry_node_logical_id=entry,
        node_matches=[
            {"source_node_logical_id": s, "target_node_logical_id": t}
            for s, t in matches.items()
        ],
        unmapped_node_ids=[],
    )


def test_remapped_threads_keep_their_places_on_the_matched_nodes() -> None:
    state = _state()

    dropped = place(state, _plan("REMAPPED", {"s": "S", "a": "A", "p": "P"}))

    assert dropped == []
    assert state["threads"]["0"]["node"] == "A"
    assert state["threads"]["0"]["status"] == "waiting"
    assert state["threads"]["0"]["visited"] == ["S", "A"]
    assert state["threads"]["poller"]["node"] == "P"
    assert state["node_runs"] == {"S": 1, "A": 2, "P": 3}
    assert state["loop_trace"] == {} and state["tick_evaluated_at"] == {}
    assert state["dynamic"] == {"patient": "Ann", "clinic": "East"}  # the run wins
    RunState.from_json(state)  # still a state the engine loads


def test_portable_keeps_the_transcript_and_variables_and_waits_at_the_entry() -> None:
    state = _state()
    before = copy.deepcopy(state["threads"]["0"])
    state["status"], state["termination_source"] = "completed", "user"
    state["threads"]["0"]["status"] = "ended"

    dropped = place(state, _plan("PORTABLE", {}, entry="E"))

    assert dropped == ["poller"]
    assert list(state["threads"]) == ["0"]
    main = state["threads"]["0"]
    assert (main["node"], main["status"], main["fresh_entry"]) == (
        "E",
        "waiting",
        False,
    )
    assert main["history"] == before["history"]
    assert main["variables"] == {"tier": "gold"}
    assert main["visited"] == []
    assert state["status"] == "waiting_for_user_input"
    assert state["termination_source"] is None
    assert state["workflow_variables"] == {"count": 1}
    assert state["node_runs"] == {} and state["node_executions"] == {}
    RunState.from_json(state)
