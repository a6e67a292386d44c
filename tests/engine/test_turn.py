"""The turn engine: waits, routing, statuses and events, driven with fake results."""

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
from threadline.engine.graph import Graph
from threadline.engine.inputs import TurnEnv
from threadline.engine.state import RunState
from threadline.engine.steps import NodeResult, NodeTask


def greeter_graph() -> Graph:
    return graph(
        [node("greet", is_start=True), llm("chat"), node("bye")],
        [
            edge("e1", "greet", "chat"),
            cond("e2", "chat", "bye", freeform="user says bye"),
        ],
    )


def test_a_first_turn_greets_then_waits_for_the_user():
    state = RunState(run_id="r1")
    outcome, tasks = drive(state, greeter_graph(), START, static_responder)
    assert [t.node["logical_id"] for t in tasks] == ["greet"]
    assert outcome.status == "waiting_for_user_input"
    assert types(outcome) == [
        "start_workflow",
        "start_thread",
        "start_node_run",
        "assistant_response",
        "end_node_run",
        "workflow_show_state",
        "direct_edge",
        "workflow_navigation_message",
        "busy_wait_for_user_message",
        "end_workflow_iteration",
        "workflow_ready_for_input",
    ]
    assert outcome.next_input_hint is not None
    assert outcome.next_input_hint["origin_node_logical_id"] == "chat"
    memo = state.threads["0"].history[-1]
    assert memo["response_metadata"]["navigation_message"] == "true"
    assert 'to agent "chat" via direct edge "e1"' in memo["content"]


def test_a_user_message_wakes_the_waiting_node_and_reaches_its_history():
    state = RunState(run_id="r1")
    g = greeter_graph()
    drive(state, g, START, static_responder)
    outcome, tasks = drive(state, g, user("hello"), static_responder)
    [task] = tasks
    assert task.node["logical_id"] == "chat"
    assert [m["content"] for m in task.messages] == ["hello"]
    assert task.history[-1]["content"] == "hello"
    assert "user_messages" in types(outcome)
    assert outcome.status == "waiting_for_user_input"
    assert [d.node_logical_id for d in task.destinations] == ["bye"]
    assert task.destinations[0].tool_name == "Destination_Node__bye"


def test_an_llm_chosen_destination_is_followed_and_its_args_become_variables():
    state = RunState(run_id="r1")
    g = greeter_graph()
    drive(state, g, START, static_responder)

    def respond(task: NodeTask) -> NodeResult:
        if task.node["logical_id"] == "chat":
            return NodeResult(
                destination="bye", destination_args={"justification": "said bye"}
            )
        return static_responder(task)

    outcome, tasks = drive(state, g, user("bye now"), respond)
    assert [t.node["logical_id"] for t in tasks] == ["chat", "bye"]
    edge_event = next(e for e in outcome.events if e["type"] == "conditional_edge")
    assert edge_event["args_filled"] == {"justification": "said bye"}
    assert edge_event["destination_node_logical_id"] == "bye"
    assert state.threads["0"].variables["justification"] == "said bye"
    assert outcome.status == "completed"
    assert types(outcome)[-1] == "end_workflow"


def test_direct_edges_win_over_conditional_ones_and_offer_no_destinations():
    g = graph(
        [node("a", is_start=True), node("b"), node("c")],
        [cond("ec", "a", "c", expression="true"), edge("ed", "a", "b")],
    )
    state = RunState(run_id="r")
    _, tasks = drive(state, g, START, static_responder)
    assert [t.node["logical_id"] for t in tasks] == ["a", "b"]
    assert tasks[0].destinations == ()


def test_expression_edges_route_on_variables_written_by_the_node():
    g = graph(
        [node("check", "worker_llm", is_start=True), node("adult"), node("minor")],
        [
            cond("e_minor", "check", "minor", expression="[[age]] < 18"),
            cond("e_adult", "check", "adult", expression="[[age]] >= 18"),
        ],
    )

    def respond(task: NodeTask) -> NodeResult:
        if task.node["logical_id"] == "check":
            return NodeResult(variables={"age": 42})
        return static_responder(task)

    state = RunState(run_id="r")
    outcome, tasks = drive(state, g, START, respond)
    assert [t.node["logical_id"] for t in tasks] == ["check", "adult"]
    event = next(e for e in outcome.events if e["type"] == "conditional_edge")
    assert "[[age]] >= 18" in event["reason"]
    assert state.threads["0"].variables["check.age"] == 42


def test_a_disabled_node_is_skipped_silently_and_a_disabled_edge_never_taken():
    g = graph(
        [node("a", is_start=True), node("off", disabled=True), node("b"), node("c")],
        [
            edge("e1", "a", "off"),
            edge("e2", "off", "b"),
            edge("e3", "b", "c", disabled=True),
        ],
    )
    state = RunState(run_id="r")
    outcome, tasks = drive(state, g, START, static_responder)
    assert [t.node["logical_id"] for t in tasks] == ["a", "b"]
    assert all(e.get("origin_node_logical_id") != "off" for e in outcome.events)
    assert outcome.status == "completed"


def test_a_runaway_loop_is_aborted_with_looping_risk():
    g = graph(
        [node("a", is_start=True), node("b")],
        [edge("e1", "a", "b"), edge("e2", "b", "a")],
    )
    state = RunState(run_id="r")
    outcome, tasks = drive(
        state, g, START, static_responder, TurnEnv(now=1.0, max_node_runs=10)
    )
    assert len(tasks) == 10
    assert outcome.status == "aborted_looping_risk"
    assert "workflow_error" in types(outcome)
    assert types(outcome)[-1] == "end_workflow"


def test_a_node_error_fails_the_run_with_a_workflow_error():
    g = greeter_graph()
    state = RunState(run_id="r")
    outcome, _ = drive(state, g, START, lambda t: NodeResult(error="vendor down"))
    assert outcome.status == "failed"
    assert outcome.error == "vendor down"
    error = next(e for e in outcome.events if e["type"] == "workflow_error")
    assert error["error_message"] == "vendor down"
    assert state.termination_source == "execution_error"


def test_stop_cancels_and_pause_then_resume_continues():
    g = greeter_graph()
    state = RunState(run_id="r")
    drive(state, g, START, static_responder)
    paused, _ = drive(state, g, {"command": "pause"}, static_responder)
    assert paused.status == "paused"
    assert "pause_event" in types(paused)
    resumed, tasks = drive(state, g, user("hi", command="resume"), static_responder)
    assert [t.node["logical_id"] for t in tasks] == ["chat"]
    assert resumed.status == "waiting_for_user_input"
    stopped, _ = drive(state, g, {"command": "stop"}, static_responder)
    assert stopped.status == "cancelled"
    assert types(stopped)[-1] == "end_workflow"


def test_usage_of_every_llm_call_is_summed_per_model_on_end_workflow():
    g = graph([node("a", "worker_llm", is_start=True)], [])
    call = {
        "response_model": "m1",
        "provider": "p",
        "input_tokens": 3,
        "output_tokens": 2,
        "total_tokens": 5,
        "latency_ms": 10,
        "user_key": False,
    }
    state = RunState(run_id="r")
    outcome, _ = drive(
        state,
        g,
        START,
        lambda t: NodeResult(llm_calls=[call, {**call, "user_key": True}]),
    )
    end = outcome.events[-1]
    assert end["type"] == "end_workflow"
    usage = end["llm_token_usage"]
    assert usage["total_tokens"] == 10
    assert usage["call_count"] == 2
    assert usage["call_count_with_user_keys"] == 1
    assert usage["breakdown_by_models"][0]["response_model"] == "m1"
    assert end["llm_latency_stats"]["average_latency_milliseconds"] == 10


def test_the_same_inputs_and_results_replay_to_the_same_events_and_state():
    def run_twice() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        state = RunState(run_id="same")
        g = greeter_graph()
        first, _ = drive(state, g, START, static_responder)
        second, _ = drive(state, g, user("hello"), static_responder)
        return first.events + second.events, state.to_json()

    assert run_twice() == run_twice()


def test_state_survives_a_json_round_trip_between_turns():
    g = greeter_graph()
    state = RunState(run_id="r")
    drive(state, g, START, static_responder)
    restored = RunState.from_json(state.to_json())
    outcome, tasks = drive(restored, g, user("hello"), static_responder)
    assert [t.node["logical_id"] for t in tasks] == ["chat"]
    assert outcome.status == "waiting_for_user_input"


def test_consecutive_conditional_hops_switch_routing_tools_off():
    g = graph(
        [
            llm("a", is_start=True, wait_for_user_message=False),
            llm("b", wait_for_user_message=False),
        ],
        [cond("ab", "a", "b", freeform="go b"), cond("ba", "b", "a", freeform="go a")],
        miscellaneous={"consecutive_conditional_edges_max_limit": "2"},
    )
    seen: list[bool] = []

    def respond(task: NodeTask) -> NodeResult:
        seen.append(task.tools_disabled)
        if task.tools_disabled:
            return say("no more hops")
        return NodeResult(destination="b" if task.node["logical_id"] == "a" else "a")

    state = RunState(run_id="r")
    outcome, _ = drive(state, g, START, respond)
    assert seen == [False, False, True]
    assert outcome.status == "waiting_for_user_input"


def test_a_companion_edge_forks_a_thread_that_runs_beside_the_main_one():
    g = graph(
        [node("a", is_start=True), node("main_next"), node("poll")],
        [
            edge("main", "a", "main_next"),
            edge(
                "fork",
                "a",
                "poll",
                companion_thread_config={
                    "is_companion_thread": True,
                    "thread_id": "labs",
                },
            ),
        ],
    )
    state = RunState(run_id="r")
    outcome, tasks = drive(state, g, START, static_responder)
    assert [(t.thread_id, t.node["logical_id"]) for t in tasks] == [
        ("0", "a"),
        ("0", "main_next"),
        ("0_companion_labs", "poll"),
    ]
    assert "companion_edge" in types(outcome)
    assert outcome.status == "completed"


def test_a_global_node_is_reached_by_expression_and_returns_by_its_reverse_edge():
    g = graph(
        [
            llm("chat", is_start=True),
            llm(
                "help",
                wait_for_user_message=False,
                global_node_config={
                    "is_global": True,
                    "condition": {"condition_expression": "[[needs_help]] == true"},
                    "reverse_conditional_edge": {
                        "condition_expression": "[[needs_help]] == false"
                    },
                },
            ),
        ],
        [],
    )

    def respond(task: NodeTask) -> NodeResult:
        if task.node["logical_id"] == "chat":
            return NodeResult(variables={"needs_help": True})
        return NodeResult(variables={"needs_help": False})

    state = RunState(run_id="r")
    outcome, tasks = drive(state, g, user("help!", command="start"), respond)
    assert [t.node["logical_id"] for t in tasks] == ["chat", "help"]
    kinds = [e["type"] for e in outcome.events if e["type"].endswith("_edge")]
    assert kinds == ["conditional_edge", "reverse_conditional_edge"]
    assert state.threads["0"].node == "chat"
    assert state.threads["0"].global_callers == []


def test_guardrail_nodes_cannot_hop_to_each_other_by_condition():
    g = graph(
        [
            llm("g1", is_start=True, is_guardrail_node=True),
            llm("g2", is_guardrail_node=True),
        ],
        [cond("hop", "g1", "g2", expression="true")],
    )
    state = RunState(run_id="r")
    outcome, tasks = drive(state, g, user("x", command="start"), static_responder)
    assert [t.node["logical_id"] for t in tasks] == ["g1"]
    assert "conditional_edge" not in types(outcome)


def test_an_unknown_start_node_is_refused():
    import pytest

    from threadline.engine.inputs import InvalidInput

    state = RunState(run_id="r")
    with pytest.raises(InvalidInput, match="nowhere"):
        drive(
            state,
            greeter_graph(),
            {**START, "start_node_logical_id": "nowhere"},
            static_responder,
        )


def test_a_waiting_start_node_runs_at_once_when_the_first_input_carries_a_message():
    g = graph([llm("chat", is_start=True)], [])
    state = RunState(run_id="r")
    outcome, tasks = drive(
        state, g, user("hi there", command="start"), static_responder
    )
    assert [t.node["logical_id"] for t in tasks] == ["chat"]
    assert [m["content"] for m in tasks[0].messages] == ["hi there"]
    assert outcome.status == "waiting_for_user_input"


def test_a_node_whose_conditions_do_not_fire_parks_and_runs_again_on_the_next_message():
    g = graph(
        [
            node("ask", "worker_llm", is_start=True, wait_for_user_message=True),
            node("done"),
        ],
        [cond("have", "ask", "done", expression="isPresent([[name]])")],
    )
    names = iter([{}, {"name": "Ann"}])
    state = RunState(run_id="r")
    first, _ = drive(
        state,
        g,
        user("hello", command="start"),
        lambda t: NodeResult(variables=next(names)),
    )
    assert first.status == "waiting_for_user_input"
    second, tasks = drive(
        state, g, user("I'm Ann"), lambda t: NodeResult(variables=next(names, {}))
    )
    assert [t.node["logical_id"] for t in tasks] == ["ask", "done"]
    assert second.status == "completed"


def test_event_ids_are_the_uuid5_of_run_and_counter():
    import uuid

    from threadline.engine.emit import event_id

    namespace = uuid.UUID("5b1f0c7e-2f4c-4e43-9d2e-6b8a3c1f0a11")
    for seed in ("r1:1", "some-run:12345", ""):
        assert event_id(seed) == str(uuid.uuid5(namespace, seed))


def test_each_turn_reports_its_own_metrics():
    g = graph(
        [node("a", "worker_llm", is_start=True), node("b", "tool_node")],
        [edge("e", "a", "b")],
    )
    call = {
        "response_model": "m",
        "provider": "p",
        "input_tokens": 2,
        "output_tokens": 3,
        "total_tokens": 5,
        "latency_ms": 40,
    }

    def respond(task: NodeTask) -> NodeResult:
        if task.node["type"] == "worker_llm":
            return NodeResult(
                llm_calls=[call, {**call, "latency_ms": 60}], finished_at=1.5
            )
        return NodeResult(output={"latency_ms": 7.0}, finished_at=2.0)

    state = RunState(run_id="r")
    outcome, _ = drive(state, g, START, respond, TurnEnv(now=1.0))
    metrics = next(e for e in outcome.events if e["type"] == "end_workflow_iteration")[
        "iteration_metrics"
    ]
    assert metrics["e2e_latency_milliseconds"] == 1000
    assert metrics["nodes_executed_count"] == 2
    assert metrics["llm_call_count"] == 2 and metrics["llm_total_tokens"] == 10
    assert metrics["llm_call_latency_stats"]["median_milliseconds"] == 50
    assert metrics["tool_call_count"] == 1
    assert metrics["tool_call_latency_stats"]["max_milliseconds"] == 7.0
