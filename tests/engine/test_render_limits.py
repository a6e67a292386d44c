"""Render limits inside a turn: a template past a limit fails the run with a
``workflow_error`` event (prepare, routing after a node, background passes)."""

from tests.engine.turn_helpers import (
    START,
    cond,
    drive,
    edge,
    graph,
    llm,
    node,
    static_responder,
    types,
    user,
)
from threadline.engine.inputs import TurnEnv
from threadline.engine.render_limits import RenderLimits
from threadline.engine.state import RunState
from threadline.engine.turn import TurnOutcome

TINY = TurnEnv(now=100.0, render_limits=RenderLimits(max_chars=20))
LONG = "x" * 30


def _errors(outcome: TurnOutcome) -> list[str]:
    return [e["error_message"] for e in outcome.events if e["type"] == "workflow_error"]


def test_a_freeform_condition_past_the_limit_fails_when_the_node_is_prepared():
    g = graph(
        [llm("chat", is_start=True, wait_for_user_message=False), node("next")],
        [cond("go", "chat", "next", freeform="The user said [[said]]")],
    )
    state = RunState(run_id="r")
    state.workflow_variables["said"] = LONG
    outcome, tasks = drive(state, g, START, static_responder, TINY)
    assert tasks == []
    assert outcome.status == "failed"
    assert "THREADLINE_TEMPLATE_MAX_CHARS" in _errors(outcome)[0]


def test_a_transition_message_past_the_limit_fails_after_the_node():
    condition = {
        "condition_expression": "true",
        "static_messages_config": {"static_messages": ["Now {{topic}}"]},
    }
    g = graph(
        [node("first", is_start=True), node("next")],
        [edge("go", "first", "next", type="conditional", condition=condition)],
    )
    state = RunState(run_id="r")
    run_input = {**START, "dynamic_variables": {"topic": LONG}}
    outcome, tasks = drive(state, g, run_input, static_responder, TINY)
    assert [t.node["logical_id"] for t in tasks] == ["first"]
    assert outcome.status == "failed"
    assert "template limit reached" in _errors(outcome)[0]


def test_a_waiting_edge_past_the_limit_fails_on_a_background_pass():
    g = graph(
        [llm("chat", is_start=True), node("next")],
        [
            cond(
                "flag",
                "chat",
                "next",
                expression="[[said | append: 'yyyyyyyyyyyyyyyyyyyy']] == 'a'",
                evaluate_while_waiting_config={
                    "enabled": True,
                    "trigger_mode": "on_every_background_tick",
                },
            )
        ],
    )
    state = RunState(run_id="r")
    drive(state, g, user("hi", "start"), static_responder, TINY)
    state.threads["0"].variables["said"] = "z"
    outcome, tasks = drive(state, g, {"command": "pump"}, static_responder, TINY)
    assert tasks == []
    assert outcome.status == "failed"
    assert "workflow_error" in types(outcome)
