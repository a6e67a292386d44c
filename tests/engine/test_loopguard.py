"""Loop safety: caps per turn and per run, and loops detected by meaning."""

import json
from typing import Any

from tests.engine.turn_helpers import (
    START,
    cond,
    drive,
    edge,
    graph,
    llm,
    node,
    say,
    static_responder,
    types,
    user,
)
from threadline.engine import loopguard
from threadline.engine.graph import Graph
from threadline.engine.inputs import TurnEnv
from threadline.engine.state import RunState
from threadline.engine.steps import NodeResult, NodeTask
from threadline.engine.turn import TurnOutcome


def env(**fields: Any) -> TurnEnv:
    return TurnEnv(now=1_700_000_000.0, **fields)


def ids(tasks: list[NodeTask]) -> list[str]:
    return [t.node["logical_id"] for t in tasks]


def error_event(outcome: TurnOutcome) -> dict[str, Any]:
    return next(e for e in outcome.events if e["type"] == "workflow_error")


def assert_aborted(outcome: TurnOutcome, state: RunState, kind: str) -> dict[str, Any]:
    assert outcome.status == "aborted_looping_risk"
    assert state.status == "aborted_looping_risk"
    assert state.termination_source == "loop_guard"
    assert types(outcome)[-1] == "end_workflow"
    event = error_event(outcome)
    assert event["loop"] == state.loop_detected
    assert event["error_message"] == state.error == outcome.error
    assert state.loop_detected is not None
    assert state.loop_detected["kind"] == kind
    return state.loop_detected


def self_edge_graph(**workflow: Any) -> Graph:
    return graph([node("a", is_start=True)], [edge("again", "a", "a")], **workflow)


def test_a_self_edge_that_changes_nothing_is_aborted_after_three_runs():
    state = RunState(run_id="r")
    outcome, tasks = drive(state, self_edge_graph(), START, static_responder)
    assert ids(tasks) == ["a", "a", "a"]
    loop = assert_aborted(outcome, state, "repeat")
    assert loop == {
        "kind": "repeat",
        "thread_id": "0",
        "node_logical_ids": ["a"],
        "counts": {"a": 3},
        "limit": 3,
    }
    assert "node 'a' ran 3 times in a row without progress" in str(state.error)
    json.dumps(state.to_json())


def test_a_two_node_ping_pong_is_aborted_with_its_cycle():
    g = graph(
        [node("a", is_start=True), node("b")],
        [edge("ab", "a", "b"), edge("ba", "b", "a")],
    )
    state = RunState(run_id="r")
    outcome, tasks = drive(state, g, START, static_responder)
    assert ids(tasks) == ["a", "b"] * 5
    loop = assert_aborted(outcome, state, "ping_pong")
    assert loop["node_logical_ids"] == ["a", "b"]
    assert loop["counts"] == {"a": 5, "b": 5}
    assert loop["cycle"] == ["a", "b"]
    assert loop["period"] == 2
    assert "the cycle 'a' -> 'b' repeated 5 times" in str(state.error)


def test_an_llm_ping_pong_by_destination_choice_is_aborted():
    g = graph(
        [
            llm("a", is_start=True, wait_for_user_message=False),
            llm("b", wait_for_user_message=False),
        ],
        [cond("ab", "a", "b", freeform="go b"), cond("ba", "b", "a", freeform="go a")],
    )

    def respond(task: NodeTask) -> NodeResult:
        other = "b" if task.node["logical_id"] == "a" else "a"
        return say("let me check", destination=other)

    state = RunState(run_id="r")
    outcome, tasks = drive(state, g, START, respond)
    assert len(tasks) == 10
    assert assert_aborted(outcome, state, "ping_pong")["counts"] == {"a": 5, "b": 5}


def test_a_three_node_cycle_is_aborted_as_a_cycle():
    g = graph(
        [node("a", is_start=True), node("b"), node("c")],
        [edge("ab", "a", "b"), edge("bc", "b", "c"), edge("ca", "c", "a")],
    )
    state = RunState(run_id="r")
    outcome, tasks = drive(state, g, START, static_responder)
    assert len(tasks) == 15
    loop = assert_aborted(outcome, state, "cycle")
    assert loop["cycle"] == ["a", "b", "c"]
    assert loop["counts"] == {"a": 5, "b": 5, "c": 5}


def polling_graph() -> Graph:
    return graph(
        [node("poll", "worker_llm", is_start=True), node("done")],
        [
            cond("finished", "poll", "done", expression="[[n]] >= 1000"),
            cond("again", "poll", "poll", expression="[[n]] < 1000"),
        ],
    )


def counting(task: NodeTask) -> NodeResult:
    if task.node["logical_id"] == "poll":
        return NodeResult(variables={"n": task.node_run_id})
    return static_responder(task)


def test_a_polling_loop_that_progresses_runs_until_the_per_turn_cap():
    state = RunState(run_id="r")
    outcome, tasks = drive(state, polling_graph(), START, counting)
    assert len(tasks) == 100
    loop = assert_aborted(outcome, state, "turn_cap")
    assert loop["counts"] == {"poll": 100}
    assert loop["limit"] == 100
    assert state.error == "more than 100 node executions in one turn without user input"


def test_a_polling_loop_that_progresses_and_then_exits_completes():
    g = graph(
        [node("poll", "worker_llm", is_start=True), node("done")],
        [
            cond("finished", "poll", "done", expression="[[n]] >= 40"),
            cond("again", "poll", "poll", expression="[[n]] < 40"),
        ],
    )
    state = RunState(run_id="r")
    outcome, tasks = drive(state, g, START, counting)
    assert ids(tasks) == ["poll"] * 40 + ["done"]
    assert outcome.status == "completed"
    assert state.loop_detected is None


def test_the_same_tool_call_with_the_same_arguments_is_no_progress():
    def tool_call(query: str, call_id: str) -> NodeResult:
        message = {
            "type": "ai",
            "content": "",
            "tool_calls": [{"name": "lookup", "args": {"q": query}, "id": call_id}],
        }
        return NodeResult(
            events=[{"type": "worker_llm", "message": message}],
            history=[
                message,
                {"type": "tool", "name": "lookup", "content": "pending"},
            ],
        )

    g = graph(
        [node("w", "worker_llm", is_start=True)],
        [edge("again", "w", "w")],
    )
    # Fresh call ids every time do not count as progress ...
    state = RunState(run_id="r")
    outcome, tasks = drive(
        state, g, START, lambda t: tool_call("x", f"call_{t.node_run_id}")
    )
    assert len(tasks) == 3
    assert_aborted(outcome, state, "repeat")
    # ... new arguments do.
    state = RunState(run_id="r")
    outcome, tasks = drive(
        state, g, START, lambda t: tool_call(f"q{t.node_run_id}", "same")
    )
    assert len(tasks) == 100
    assert_aborted(outcome, state, "turn_cap")


def test_a_long_conversation_with_user_messages_is_never_aborted():
    g = graph(
        [llm("chat", is_start=True), node("ack"), node("log", "worker_llm")],
        [
            edge("to_ack", "chat", "ack"),
            edge("to_log", "ack", "log"),
            edge("back", "log", "chat"),
        ],
    )

    def respond(task: NodeTask) -> NodeResult:
        if task.node["type"] == "worker_llm":
            return NodeResult(variables={"logged": True})
        return say("same answer every time")

    state = RunState(run_id="r")
    outcome, _ = drive(state, g, START, respond)
    for turn in range(60):
        outcome, tasks = drive(state, g, user("same question"), respond)
        assert outcome.status == "waiting_for_user_input", turn
        assert ids(tasks) == ["chat", "ack", "log"]
        state = RunState.from_json(json.loads(json.dumps(state.to_json())))
    assert state.loop_detected is None
    assert state.node_executions == {"chat": 60, "ack": 60, "log": 60}
    assert len(state.loop_trace["0"]) == 3


def test_the_per_run_cap_ends_a_run_that_progresses_across_turns():
    g = graph(
        [llm("chat", is_start=True), node("ack")],
        [edge("to_ack", "chat", "ack"), edge("back", "ack", "chat")],
    )
    state = RunState(run_id="r")
    run_env = env(max_node_runs_per_run=25)
    drive(state, g, START, static_responder, run_env)
    for _ in range(12):
        outcome, _ = drive(state, g, user("hi"), static_responder, run_env)
        assert outcome.status == "waiting_for_user_input"
    assert sum(state.node_executions.values()) == 24
    outcome, tasks = drive(state, g, user("hi"), static_responder, run_env)
    assert ids(tasks) == ["chat"]
    loop = assert_aborted(outcome, state, "run_cap")
    assert loop["counts"] == {"chat": 13, "ack": 12}
    assert loop["limit"] == 25
    assert state.error == "more than 25 node executions in this run"
    assert sum(state.node_executions.values()) == 25


def test_turn_env_limits_are_configurable():
    state = RunState(run_id="r")
    outcome, tasks = drive(
        state, self_edge_graph(), START, static_responder, env(loop_repeat_limit=5)
    )
    assert len(tasks) == 5
    assert assert_aborted(outcome, state, "repeat")["counts"] == {"a": 5}


def test_workflow_miscellaneous_overrides_the_limits():
    state = RunState(run_id="r")
    g = self_edge_graph(miscellaneous={"loop_guard_repeat_limit": "4"})
    outcome, tasks = drive(state, g, START, static_responder)
    assert len(tasks) == 4
    assert_aborted(outcome, state, "repeat")


def test_meaning_rules_can_be_turned_off_leaving_the_caps():
    misc = {"loop_guard_repeat_limit": 0, "loop_guard_cycle_limit": "0"}
    state = RunState(run_id="r")
    outcome, tasks = drive(
        state,
        self_edge_graph(miscellaneous=misc),
        START,
        static_responder,
        env(max_node_runs=30),
    )
    assert len(tasks) == 30
    assert_aborted(outcome, state, "turn_cap")


def test_a_workflow_can_lower_the_per_run_cap_but_not_raise_it():
    lower = self_edge_graph(
        miscellaneous={
            "loop_guard_max_node_runs_per_run": 7,
            "loop_guard_repeat_limit": 0,
        }
    )
    state = RunState(run_id="r")
    outcome, tasks = drive(state, lower, START, static_responder)
    assert len(tasks) == 7
    assert_aborted(outcome, state, "run_cap")
    higher = self_edge_graph(
        miscellaneous={
            "loop_guard_max_node_runs_per_run": 10_000,
            "loop_guard_repeat_limit": 0,
        }
    )
    cfg = loopguard.config(higher, env(max_node_runs_per_run=50))
    assert cfg.max_node_runs_per_run == 50
    assert loopguard.config(higher, env()).repeat_limit == 0


def test_invalid_overrides_fall_back_to_the_defaults_and_the_window_is_bounded():
    g = self_edge_graph(
        miscellaneous={
            "loop_guard_repeat_limit": "lots",
            "loop_guard_cycle_limit": 10_000,
            "loop_guard_max_cycle_length": 10_000,
        }
    )
    cfg = loopguard.config(g, env())
    assert cfg.repeat_limit == 3
    assert cfg.window <= loopguard.MAX_WINDOW


def test_bounded_self_loop_retries_are_left_to_their_own_limit():
    g = graph(
        [
            node(
                "poll",
                "worker_llm",
                is_start=True,
                self_loop_config={"enabled": True, "max_retries": 8},
            ),
            node("gave_up"),
        ],
        [cond("out", "poll", "gave_up", expression="[[self_loop_outcome]] != null")],
    )
    state = RunState(run_id="r")
    outcome, tasks = drive(state, g, START, lambda t: NodeResult())
    assert ids(tasks) == ["poll"] * 9 + ["gave_up"]
    assert "self_loop_exhausted" in types(outcome)
    assert outcome.status == "completed"


def test_a_user_message_restarts_the_window():
    g = graph(
        [llm("chat", is_start=True), node("a")],
        [cond("loop", "chat", "a", expression="true"), edge("aa", "a", "a")],
    )
    state = RunState(run_id="r")
    drive(state, g, START, static_responder)
    outcome, tasks = drive(state, g, user("go"), static_responder)
    assert ids(tasks) == ["chat", "a", "a", "a"]
    assert_aborted(outcome, state, "repeat")
    assert state.loop_detected is not None
    assert state.loop_detected["counts"] == {"a": 3}


def test_the_same_answer_to_every_user_message_is_not_a_loop():
    g = graph([llm("chat", is_start=True)], [])
    state = RunState(run_id="r")
    drive(state, g, START, static_responder)
    for _ in range(10):
        outcome, tasks = drive(state, g, user("again?"), static_responder)
        assert ids(tasks) == ["chat"]
        assert outcome.status == "waiting_for_user_input"
    assert state.loop_trace["0"] == state.loop_trace["0"][:1]


def test_the_trace_is_bounded_plain_json_and_survives_a_round_trip():
    state = RunState(run_id="r")
    drive(state, polling_graph(), START, counting, env(max_node_runs=60))
    trace = state.loop_trace["0"]
    assert len(trace) == loopguard.config(polling_graph(), env()).window == 20
    restored = RunState.from_json(json.loads(json.dumps(state.to_json())))
    assert restored.to_json() == state.to_json()


def test_a_looping_run_replays_to_the_same_events_and_state():
    def run_once() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        g = graph(
            [llm("chat", is_start=True), node("a"), node("b")],
            [
                cond("go", "chat", "a", expression="true"),
                edge("ab", "a", "b"),
                edge("ba", "b", "a"),
            ],
        )
        state = RunState(run_id="same")
        first, _ = drive(state, g, START, static_responder)
        second, _ = drive(state, g, user("hello"), static_responder)
        return first.events + second.events, state.to_json()

    events, state = run_once()
    assert state["status"] == "aborted_looping_risk"
    assert state["loop_detected"]["kind"] == "ping_pong"
    assert run_once() == (events, state)


def test_an_old_state_without_loop_fields_still_loads():
    state = RunState(run_id="r")
    drive(
        state,
        self_edge_graph(),
        START,
        lambda t: say(f"{t.node_run_id}"),
        env(max_node_runs=5),
    )
    data = state.to_json()
    for name in ("node_executions", "loop_trace", "loop_detected"):
        data.pop(name)
    restored = RunState.from_json(data)
    assert restored.node_executions == {}
    assert restored.loop_trace == {}
    assert restored.loop_detected is None
