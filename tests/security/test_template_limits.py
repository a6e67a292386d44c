"""Template limits: filters cannot build unbounded strings or do unbounded work.

The audit: ``{{x | replace: 'a','aaaaaaaaaa' | ...}}`` eight times on a 10-character
value built a 1 GB string in the server (3.7 s stall). Every value a render builds
is capped (``THREADLINE_TEMPLATE_MAX_CHARS``), checked before it is built where its
size is known, and so are the work and the steps of one render; past a cap the run
gets a ``workflow_error`` event naming the setting.
"""

from typing import Any

import pytest

from tests.api.conftest import Team
from tests.factories import edge, static_node
from threadline.engine.render_limits import Budget, RenderLimits
from threadline.engine.steps import Scope
from threadline.engine.templates import (
    RenderLimitExceeded,
    make_resolver,
    render,
    render_value,
)
from threadline.service.processes import runtime_from_settings
from threadline.service.runtime import Runtime
from threadline.settings import Settings
from threadline.tools.runner import ToolRunner

REPLACE = "replace: 'a','aaaaaaaaaa'"
AUDIT = "{{x | " + " | ".join([REPLACE] * 8) + "}}"  # 10 chars -> 10**9
START = {"command": "start", "thread_to_node_inputs": {"0": {"node_run_inputs": []}}}


def refused(text: str, setting: str, **dynamic: Any) -> str:
    with pytest.raises(RenderLimitExceeded) as caught:
        render(text, dynamic=dynamic)
    message = str(caught.value)
    assert setting in message
    return message


# --- the engine ------------------------------------------------------------------------


def test_the_audit_replace_chain_is_refused_before_it_is_built():
    message = refused(AUDIT, "THREADLINE_TEMPLATE_MAX_CHARS", x="a" * 10)
    assert "'replace' filter would be 10,000,000 characters" in message


Z = "z" * 400_000  # a long literal argument, written in the template


@pytest.mark.parametrize(
    ("template", "value"),
    [
        ("{{x | json | json | json | json | json | json | json | json}}", '"' * 20_000),
        ("{{x | join: '" + "-" * 1_000 + "'}}", ["a"] * 2_000),
        (
            "{{x | append: '" + Z + "' | append: '" + Z + "' | append: '" + Z + "'}}",
            "q",
        ),
        (
            "{{x | prepend: '"
            + Z
            + "' | prepend: '"
            + Z
            + "' | prepend: '"
            + Z
            + "'}}",
            "q",
        ),
        ("{{x | date: '" + "%c" * 40_000 + "'}}", 0),
        ("{{x | upcase | replace: 'SS', '" + "z" * 20 + "'}}", "\u00df" * 100_000),
    ],
    ids=["json", "join", "append", "prepend", "date", "upcase-replace"],
)
def test_every_amplifying_filter_is_capped(template: str, value: Any):
    refused(template, "THREADLINE_TEMPLATE_MAX_CHARS", x=value)


def test_the_substituted_text_of_one_render_is_capped():
    refused("{{x}}" * 5, "THREADLINE_TEMPLATE_MAX_CHARS", x="v" * 300_000)
    text = render("{{x}}" * 3, dynamic={"x": "v" * 300_000})
    assert len(text) == 900_000


def test_the_steps_of_one_render_are_capped():
    refused("{{x}}" * 10_001, "THREADLINE_TEMPLATE_MAX_STEPS", x="v")
    assert render("{{x}}" * 100, dynamic={"x": "v"}) == "v" * 100


def test_the_work_of_one_render_is_capped():
    limits = RenderLimits(max_chars=100, max_work=250)
    # Each placeholder builds 90 characters, then writes only "90".
    template = "{{x | append: '" + "b" * 45 + "' | size}}"
    with pytest.raises(RenderLimitExceeded, match="THREADLINE_TEMPLATE_MAX_WORK"):
        render(template * 3, dynamic={"x": "a" * 45}, limits=limits)
    assert render(template * 2, dynamic={"x": "a" * 45}, limits=limits) == "9090"


def test_render_value_shares_one_budget_over_the_whole_structure():
    limits = RenderLimits(max_chars=1_000)
    body = {"a": "{{x}}", "b": ["{{x}}", {"c": "{{x}}"}]}
    with pytest.raises(RenderLimitExceeded):
        render_value(body, dynamic={"x": "v" * 400}, limits=limits)
    small = render_value(body, dynamic={"x": "v"}, limits=limits)
    assert small == {"a": "v", "b": ["v", {"c": "v"}]}


def test_a_condition_resolver_is_capped_too():
    resolve = make_resolver(runtime={"x": "a" * 10})
    from threadline.engine.expressions import evaluate, parse_expression

    expression = parse_expression("[[x | " + " | ".join([REPLACE] * 8) + "]] == 'a'")
    with pytest.raises(RenderLimitExceeded):
        evaluate(expression, resolve)


def test_the_limits_are_the_operators():
    limits = RenderLimits(max_chars=10)
    with pytest.raises(RenderLimitExceeded, match="over the limit of 10 "):
        render("{{x}}", dynamic={"x": "12345678901"}, limits=limits)
    settings = Settings(
        template_max_chars=7, template_max_work=70, template_max_steps=3
    )
    assert runtime_from_settings(settings).render_limits == RenderLimits(7, 70, 3)
    budget = Budget(RenderLimits(max_steps=2))
    budget.step()
    budget.step()
    with pytest.raises(RenderLimitExceeded):
        budget.step()


# --- a run -----------------------------------------------------------------------------


def _workflow(message: str, **extra_edges: Any) -> dict[str, Any]:
    return {
        "name": "Amplifier",
        "node_configs": [
            static_node("node_start", "Hello", is_start=True),
            static_node("node_say", message),
        ],
        "edge_configs": [edge("edge_1", "node_start", "node_say", **extra_edges)],
    }


async def _run(team: Team, workflow: dict[str, Any], x: str) -> dict[str, Any]:
    created = await team.client.post("/v1/workflows", json=workflow)
    assert created.status_code == 200, created.text
    wid = created.json()["workflow"]["_id"]
    body = {"run_input": {**START, "dynamic_variables": {"x": x}}}
    response = await team.client.post(f"/v1/workflows/{wid}/execute", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _errors(turn: dict[str, Any]) -> list[str]:
    return [e["error_message"] for e in turn["events"] if e["type"] == "workflow_error"]


async def test_a_node_rendering_the_audit_template_fails_the_run_clearly(team: Team):
    turn = await _run(team, _workflow(AUDIT), "a" * 10)
    assert turn["status"] == "failed"
    errors = _errors(turn)
    assert len(errors) == 1
    assert "THREADLINE_TEMPLATE_MAX_CHARS" in errors[0]


async def test_a_condition_amplifying_its_variable_fails_the_run_clearly(team: Team):
    condition = {
        "condition_expression": "{{x | " + " | ".join([REPLACE] * 8) + "}} == 'a'"
    }
    workflow = _workflow("Never said", type="conditional", condition=condition)
    turn = await _run(team, workflow, "a" * 10)
    assert turn["status"] == "failed"
    assert any("template limit reached" in e for e in _errors(turn))


async def test_the_operators_limit_applies_to_runs(team: Team, runtime: Runtime):
    runtime.render_limits = RenderLimits(max_chars=50)
    turn = await _run(team, _workflow("You said {{x}}"), "y" * 60)
    assert "over the limit of 50 " in _errors(turn)[0]
    fine = await _run(team, _workflow("You said {{x}}"), "y" * 10)
    assert fine["status"] != "failed"


async def test_a_tool_whose_templates_hit_a_limit_fails_with_template_limit():
    code = "def f():\n    return '" + AUDIT + "'"
    tool = {"type": "inline_python", "name": "f", "code": code}
    scope = Scope(dynamic={"x": "a" * 10}, runtime={}, threads={})
    out = await ToolRunner().run(tool, {}, scope)
    assert out.error_type == "template_limit"
    assert "THREADLINE_TEMPLATE_MAX_CHARS" in (out.error or "")
