"""Self-loops, scheduled threads, evaluate-while-waiting, guardrail strikes, transitions."""

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
)
from threadline.engine.inputs import TurnEnv
from threadline.engine.state import RunState
from threadline.engine.steps import NodeResult, NodeTask


def poller(**loop: object) -> dict[str, object]:
    return node(
        "poll", "tool_node", is_start=True, self_loop_config={"enabled": True, **loop}
    )


def test_a_bounded_self_loop_retries_then_reports_its_outcome():
    g = graph(
        [poller(max_retries=2), node("gave_up")],
        [
            cond(
                "out",
                "poll",
                "gave_up",
                expression="[[self_loop_outcome]] == 'max_retries'",
            )
        ],
    )
    state = RunState(run_id="r")
    outcome, tasks = drive(state, g, START, lambda t: NodeResult())
    assert [t.node["logical_id"] for t in tasks] == ["poll", "poll", "poll", "gave_up"]
    assert [t.attempt for t in tasks[:3]] == [1, 2, 3]
    assert types(outcome).count("self_loop_edge") == 2
    exhausted = next(e for e in outcome.events if e["type"] == "self_loop_exhausted")
    assert exhausted["outcome"] == "max_retries"
    assert exhausted["total_attempts"] == 3
    assert outcome.status == "completed"


def test_a_self_loop_stops_as_soon_as_an_exit_edge_matches():
    g = graph(
        [poller(max_retries=10), node("done")],
        [cond("ready", "poll", "done", expression="[[status]] == 'ready'")],
    )
    answers = iter(["pending", "pending", "ready"])
    state = RunState(run_id="r")
    _, tasks = drive(
        state, g, START, lambda t: NodeResult(variables={"status": next(answers, "x")})
    )
    assert [t.node["logical_id"] for t in tasks] == ["poll", "poll", "poll", "done"]


def test_a_self_loop_with_spacing_is_scheduled_and_a_later_pump_runs_it():
    g = graph(
        [
            node("greet", is_start=True),
            llm("chat"),
            node(
                "poll",
                "tool_node",
                self_loop_config={
                    "enabled": True,
                    "max_retries": 5,
                    "time_between_retries": 30,
                },
            ),
        ],
        [
            edge("main", "greet", "chat"),
            edge(
                "fork",
                "greet",
                "poll",
                companion_thread_config={
                    "is_companion_thread": True,
                    "thread_id": "labs",
                },
            ),
        ],
    )
    state = RunState(run_id="r")
    first, tasks = drive(state, g, START, static_responder, TurnEnv(now=1000.0))
    assert [t.node["logical_id"] for t in tasks] == ["greet", "poll"]
    assert first.status == "waiting_for_user_input" and first.background
    boundary = next(e for e in first.events if e["type"] == "companion_step_boundary")
    assert boundary["companion_thread_id"] == "0_companion_labs"
    early, early_tasks = drive(
        state, g, {"command": "pump"}, static_responder, TurnEnv(now=1010.0)
    )
    assert early_tasks == [] and early.background
    _due, due_tasks = drive(
        state, g, {"command": "pump"}, static_responder, TurnEnv(now=1031.0)
    )
    assert [t.node["logical_id"] for t in due_tasks] == ["poll"]
    assert state.turn == 1


def test_a_waiting_edge_fires_when_its_trigger_node_completes():
    g = graph(
        [
            node("greet", is_start=True),
            llm("chat"),
            node("results"),
            node("check", "tool_node"),
        ],
        [
            edge("main", "greet", "chat"),
            edge(
                "fork",
                "greet",
                "check",
                companion_thread_config={
                    "is_companion_thread": True,
                    "thread_id": "lab",
                },
            ),
            cond(
                "ready",
                "chat",
                "results",
                expression="[[thread_lab.lab_status]] == 'done'",
                evaluate_while_waiting_config={
                    "enabled": True,
                    "trigger_mode": "on_node_completion",
                    "trigger_node_logical_ids": ["check"],
                },
            ),
        ],
    )

    def respond(task: NodeTask) -> NodeResult:
        if task.node["logical_id"] == "check":
            return NodeResult(variables={"lab_status": "done"})
        return static_responder(task)

    state = RunState(run_id="r")
    outcome, tasks = drive(state, g, START, respond)
    assert [t.node["logical_id"] for t in tasks] == ["greet", "check", "results"]
    matched = next(
        e for e in outcome.events if e["type"] == "waiting_condition_matched"
    )
    assert matched["trigger_node_logical_id"] == "check"
    assert "'done' == 'done'" in matched["hydrated_condition_expression"]
    assert outcome.status == "completed"


def test_tick_mode_waiting_edges_are_debounced_and_fire_on_a_pump():
    g = graph(
        [llm("chat", is_start=True), node("next")],
        [
            cond(
                "flag",
                "chat",
                "next",
                expression="[[go]] == true",
                evaluate_while_waiting_config={
                    "enabled": True,
                    "trigger_mode": "on_every_background_tick",
                    "min_seconds_between_evaluations": 10,
                },
            )
        ],
    )
    state = RunState(run_id="r")
    first, _ = drive(state, g, START, static_responder, TurnEnv(now=100.0))
    assert first.background
    quiet, _ = drive(
        state, g, {"command": "pump"}, static_responder, TurnEnv(now=101.0)
    )
    assert (
        next(e for e in quiet.events if e["type"] == "waiting_evaluation_boundary")[
            "edges_evaluated"
        ]
        == 1
    )
    state.threads["0"].variables["go"] = True
    _debounced, tasks = drive(
        state, g, {"command": "pump"}, static_responder, TurnEnv(now=105.0)
    )
    assert tasks == []
    fired, tasks = drive(
        state, g, {"command": "pump"}, static_responder, TurnEnv(now=112.0)
    )
    assert [t.node["logical_id"] for t in tasks] == ["next"]
    assert "waiting_condition_matched" in types(fired)


def test_guardrail_strikes_escalate_to_the_escalation_node():
    g = graph(
        [
            llm("chat", is_start=True, wait_for_user_message=False),
            llm("guard", is_guardrail_node=True, wait_for_user_message=False),
            node("human"),
        ],
        [
            cond("to_guard", "chat", "guard", expression="[[abusive]] == true"),
            edge("back", "guard", "chat"),
        ],
        guardrail_strikes_config={
            "max_guardrail_nodes_before_escalation": 2,
            "escalation_node_logical_id": "human",
        },
    )
    state = RunState(run_id="r")
    outcome, tasks = drive(
        state,
        g,
        START,
        lambda t: NodeResult(variables={"abusive": True}),
        TurnEnv(now=1.0, max_node_runs=20),
    )
    assert [t.node["logical_id"] for t in tasks] == ["chat", "guard", "chat", "human"]
    escalation = next(
        e for e in outcome.events if e["type"] == "guardrail_escalation_edge"
    )
    assert escalation["num_guardrail_nodes_entered"] == 2
    assert escalation["destination_node_logical_id"] == "human"


def test_guardrail_escalation_without_a_target_speaks_and_finishes():
    g = graph(
        [
            llm("chat", is_start=True, wait_for_user_message=False),
            llm("guard", is_guardrail_node=True),
        ],
        [cond("to_guard", "chat", "guard", expression="true")],
        guardrail_strikes_config={
            "max_guardrail_nodes_before_escalation": 1,
            "escalation_message": "Transferring you, {{name}}.",
        },
    )
    state = RunState(run_id="r")
    outcome, _ = drive(
        state,
        g,
        {**START, "dynamic_variables": {"name": "Ann"}},
        lambda t: NodeResult(),
    )
    spoken = [e["content"] for e in outcome.events if e["type"] == "assistant_response"]
    assert spoken == ["Transferring you, Ann."]
    assert outcome.status == "completed"


def test_a_dynamic_transition_message_is_generated_by_an_llm_task():
    g = graph(
        [llm("chat", is_start=True, wait_for_user_message=False), node("bye")],
        [
            edge(
                "leave",
                "chat",
                "bye",
                type="conditional",
                condition={
                    "condition_expression": "true",
                    "dynamic_messages_config": {
                        "dynamic_message_prompt": "Say goodbye to {{name}}"
                    },
                },
            )
        ],
    )
    state = RunState(run_id="r")

    def respond(task: NodeTask) -> NodeResult:
        if task.purpose == "transition":
            assert task.node["main_response_config"]["prompt"] == "Say goodbye to Ann"
            assert task.tools_disabled
            return say("Bye Ann, take care")
        return static_responder(task)

    outcome, tasks = drive(
        state, g, {**START, "dynamic_variables": {"name": "Ann"}}, respond
    )
    assert [t.purpose for t in tasks] == ["node", "transition", "node"]
    spoken = [e["content"] for e in outcome.events if e["type"] == "assistant_response"]
    assert spoken == ["ok", "Bye Ann, take care", "static bye"]


def test_a_pump_on_a_quiet_run_changes_nothing():
    g = graph([llm("chat", is_start=True)], [])
    state = RunState(run_id="r")
    drive(state, g, START, static_responder)
    before = state.to_json()
    outcome, tasks = drive(state, g, {"command": "pump"}, static_responder)
    assert tasks == [] and not outcome.background
    after = state.to_json()
    assert {k: v for k, v in after.items() if k != "events"} == {
        k: v for k, v in before.items() if k != "events"
    }


def test_a_main_thread_self_loop_waits_out_its_spacing_within_the_turn():
    g = graph(
        [poller(max_retries=2, time_between_retries=3), node("after")],
        [cond("out", "poll", "after", expression="isPresent([[self_loop_outcome]])")],
    )
    state = RunState(run_id="r")
    clock = iter([10.0, 13.0, 16.0, 17.0])

    def respond(task: NodeTask) -> NodeResult:
        return NodeResult(finished_at=next(clock))

    outcome, tasks = drive(state, g, START, respond, TurnEnv(now=10.0))
    assert [t.node["logical_id"] for t in tasks] == ["poll", "poll", "poll", "after"]
    assert [t.delay_s for t in tasks] == [0.0, 3.0, 3.0, 0.0]
    assert not outcome.background
    assert outcome.status == "completed"
