from typing import Any

import pytest

from threadline.engine.validate import Problem, blocking, validate_workflow


def node(logical_id: str, type_: str = "say_llm", **fields: Any) -> dict[str, Any]:
    return {"logical_id": logical_id, "type": type_, **fields}


def edge(
    logical_id: str, src: str, dst: str, type_: str = "direct", **fields: Any
) -> dict[str, Any]:
    return {
        "logical_id": logical_id,
        "type": type_,
        "source_node_logical_id": src,
        "destination_node_logical_id": dst,
        **fields,
    }


def cond(logical_id: str, src: str, dst: str, **condition: Any) -> dict[str, Any]:
    return edge(logical_id, src, dst, "conditional", condition=condition)


def workflow(nodes, edges, **workflow_config: Any) -> dict[str, Any]:
    return {
        "workflow_config": workflow_config,
        "node_configs": nodes,
        "edge_configs": edges,
    }


def codes(problems: list[Problem]) -> list[str]:
    return [p.code for p in problems]


def base() -> dict[str, Any]:
    return workflow(
        [node("start", is_start=True), node("end", "say_static")],
        [cond("e1", "start", "end", condition_expression="isPresent([[x]])")],
    )


def test_a_valid_workflow_has_no_problems():
    assert validate_workflow(base()) == []


def test_missing_start_node_is_an_error():
    problems = validate_workflow(workflow([node("a")], []))
    assert codes(problems) == ["no_start_node"]
    assert problems[0].severity == "error"


def test_two_start_nodes_are_both_named_in_one_problem():
    wf = workflow([node("a", is_start=True), node("b", is_start=True)], [])
    (problem,) = validate_workflow(wf)
    assert problem.code == "multiple_start_nodes"
    assert "'a'" in problem.message
    assert "'b'" in problem.message


def test_duplicate_ids_and_entries_without_ids():
    wf = workflow(
        [node("a", is_start=True), node("a"), "junk", {"type": "say_llm"}],
        [edge("e", "a", "a"), edge("e", "a", "a")],
    )
    problems = validate_workflow(wf)
    assert codes(problems).count("missing_logical_id") == 2
    dup_node = next(p for p in problems if p.code == "duplicate_node_id")
    dup_edge = next(p for p in problems if p.code == "duplicate_edge_id")
    assert dup_node.node_logical_id == "a"
    assert dup_edge.edge_logical_id == "e"


def test_edges_to_unknown_or_missing_nodes():
    wf = base()
    wf["edge_configs"] += [
        edge("e2", "start", "ghost"),
        {"logical_id": "e3", "type": "direct", "source_node_logical_id": "end"},
        edge("e4", "end", "start", "teleport"),
    ]
    problems = validate_workflow(wf)
    assert ("unknown_node", "e2") in [(p.code, p.edge_logical_id) for p in problems]
    assert "'ghost'" in next(p for p in problems if p.code == "unknown_node").message
    assert "missing_endpoint" in codes(problems)
    assert "unknown_edge_type" in codes(problems)


def test_every_problem_is_reported_at_once():
    wf = workflow(
        [node("a", is_start=True), node("b", is_start=True)],
        [
            edge("e1", "a", "nowhere"),
            cond("e2", "a", "b"),
            cond("e3", "b", "a", condition_expression="[[x]] = 1"),
        ],
        guardrail_strikes_config={"escalation_node_logical_id": "gone"},
    )
    found = set(codes(validate_workflow(wf)))
    assert {
        "multiple_start_nodes",
        "unknown_node",
        "conditional_edge_without_condition",
        "invalid_condition_expression",
        "unknown_escalation_node",
    } <= found


def test_errors_come_before_warnings_and_blocking_selects_errors():
    wf = base()
    wf["node_configs"][1]["static_messages_config"] = {"static_messages": ["{{bye}}"]}
    wf["edge_configs"].append(edge("e2", "end", "void"))
    problems = validate_workflow(wf)
    assert [p.severity for p in problems] == ["error", "warning"]
    assert blocking(problems) == problems[:1]
    assert problems[0].to_dict()["edge_logical_id"] == "e2"


def test_garbage_input_never_raises():
    assert codes(validate_workflow({"node_configs": "x"})) == ["no_start_node"]
    assert codes(validate_workflow([])) == ["no_start_node"]  # type: ignore[arg-type]


def test_malformed_expression_names_edge_and_position():
    wf = base()
    wf["edge_configs"][0]["condition"] = {"condition_expression": "[[a]] == 'x"}
    (problem,) = validate_workflow(wf)
    assert problem.code == "invalid_condition_expression"
    assert "'e1'" in problem.message
    assert "position 9" in problem.message


def test_global_node_conditions_are_parsed_and_required():
    wf = base()
    wf["node_configs"] += [
        node(
            "g",
            global_node_config={
                "is_global": True,
                "condition": {"condition_expression": "contains([[a]])"},
                "reverse_conditional_edge": {"condition_expression": "((1"},
            },
        ),
        node("g2", global_node_config={"is_global": True}),
    ]
    problems = validate_workflow(wf)
    assert [(p.code, p.node_logical_id) for p in problems] == [
        ("invalid_condition_expression", "g"),
        ("invalid_condition_expression", "g"),
        ("global_node_without_condition", "g2"),
    ]
    assert "reverse edge" in problems[1].message


def test_known_escalation_node_is_fine():
    wf = base()
    wf["workflow_config"]["guardrail_strikes_config"] = {
        "escalation_node_logical_id": "end"
    }
    assert validate_workflow(wf) == []


# ----------------------------------------------------- evaluate-while-waiting


def waiting_workflow(**config: Any) -> dict[str, Any]:
    ewaw = {"enabled": True, "trigger_node_logical_ids": ["poll"], **config}
    return workflow(
        [
            node("entry", "no_op", is_start=True),
            node("chat", wait_for_user_message=True),
            node("poll", "no_op"),
            node("done", "say_static"),
        ],
        [
            edge("main", "entry", "chat"),
            edge(
                "fork",
                "entry",
                "poll",
                companion_thread_config={
                    "is_companion_thread": True,
                    "thread_id": "lab",
                },
            ),
            {
                **cond(
                    "wait",
                    "chat",
                    "done",
                    condition_expression="[[thread_lab.ready]] == true",
                ),
                "evaluate_while_waiting_config": ewaw,
            },
        ],
    )


def waiting_codes(wf: dict[str, Any]) -> list[str]:
    return [c for c in codes(validate_workflow(wf)) if c.startswith("ewaw_")]


def test_a_valid_waiting_edge_passes():
    assert validate_workflow(waiting_workflow()) == []


def test_disabled_waiting_config_is_not_checked():
    wf = waiting_workflow(enabled=False, trigger_node_logical_ids=[])
    assert waiting_codes(wf) == []


def test_rule_1_waiting_edge_requires_an_expression():
    wf = waiting_workflow()
    wf["edge_configs"][2]["condition"] = {}
    assert "ewaw_requires_expression" in waiting_codes(wf)


def test_rule_2_waiting_edge_rejects_freeform():
    wf = waiting_workflow()
    wf["edge_configs"][2]["condition"]["condition_freeform"] = "the lab is back"
    assert waiting_codes(wf) == ["ewaw_freeform_rejected"]


def test_rule_3_on_node_completion_needs_trigger_nodes():
    wf = waiting_workflow(trigger_node_logical_ids=[])
    assert waiting_codes(wf) == ["ewaw_requires_trigger_nodes"]


def test_rule_4_trigger_nodes_must_exist():
    wf = waiting_workflow(trigger_node_logical_ids=["poll", "typo", 7])
    assert waiting_codes(wf) == ["ewaw_unknown_trigger_node"] * 2


def test_rule_5_trigger_nodes_must_not_wait_for_user():
    wf = waiting_workflow(trigger_node_logical_ids=["chat"])
    problems = validate_workflow(wf)
    (problem,) = [p for p in problems if p.code == "ewaw_trigger_node_waits_for_user"]
    assert problem.node_logical_id == "chat"
    assert problem.edge_logical_id == "wait"


@pytest.mark.parametrize("debounce", [None, 0, -1, True, "5"])
def test_rule_6_background_tick_needs_positive_debounce(debounce):
    wf = waiting_workflow(
        trigger_mode="on_every_background_tick",
        trigger_node_logical_ids=[],
        min_seconds_between_evaluations=debounce,
    )
    assert waiting_codes(wf) == ["ewaw_requires_debounce"]


def test_rule_6_background_tick_with_debounce_passes():
    wf = waiting_workflow(
        trigger_mode="on_every_background_tick", min_seconds_between_evaluations=2.5
    )
    assert waiting_codes(wf) == []


def test_unknown_trigger_mode_is_reported():
    assert waiting_codes(waiting_workflow(trigger_mode="sometimes")) == [
        "ewaw_invalid_trigger_mode"
    ]


def test_rule_7_not_on_super_node_exit_edges():
    wf = waiting_workflow()
    wf["node_configs"][1] = node("chat", "super_node", wait_for_user_message=True)
    assert "ewaw_on_super_node_exit_edge" in waiting_codes(wf)


def test_rule_7_not_on_reverse_edges():
    wf = waiting_workflow()
    wf["node_configs"][3]["global_node_config"] = {
        "is_global": True,
        "condition": {"condition_freeform": "user says stop"},
        "reverse_conditional_edge": {
            "condition_expression": "isPresent([[x]])",
            "evaluate_while_waiting_config": {"enabled": True},
        },
    }
    problems = validate_workflow(wf)
    (problem,) = [p for p in problems if p.code.startswith("ewaw_")]
    assert problem.code == "ewaw_on_reverse_edge"
    assert problem.node_logical_id == "done"


def test_rule_8_source_node_must_wait_for_user():
    wf = waiting_workflow()
    wf["node_configs"][1]["wait_for_user_message"] = False
    assert waiting_codes(wf) == ["ewaw_source_must_wait_for_user"]


def test_rule_8_uses_type_default_when_flag_absent():
    wf = waiting_workflow()
    del wf["node_configs"][1]["wait_for_user_message"]
    assert waiting_codes(wf) == []
    wf["node_configs"][1]["type"] = "say_static"
    assert waiting_codes(wf) == ["ewaw_source_must_wait_for_user"]


def test_rule_9_source_node_must_have_no_direct_edges():
    wf = waiting_workflow()
    wf["edge_configs"].append(edge("out", "chat", "done"))
    problems = validate_workflow(wf)
    (problem,) = [p for p in problems if p.code == "ewaw_source_has_direct_edges"]
    assert "'out'" in problem.message


def test_rule_9_ignores_disabled_direct_edges():
    wf = waiting_workflow()
    wf["edge_configs"].append(edge("out", "chat", "done", disabled=True))
    assert waiting_codes(wf) == []


def test_waiting_edge_with_unknown_source_only_reports_the_endpoint():
    wf = waiting_workflow()
    wf["edge_configs"][2]["source_node_logical_id"] = "ghost"
    assert waiting_codes(wf) == []
    assert "unknown_node" in codes(validate_workflow(wf))


# ---------------------------------------------------------- companion threads


def companion_codes(wf: dict[str, Any]) -> list[str]:
    return [c for c in codes(validate_workflow(wf)) if "companion" in c]


@pytest.mark.parametrize(
    ("thread_id", "reason"),
    [
        ("lab.poll", "[A-Za-z0-9_-]"),
        ("", "[A-Za-z0-9_-]"),
        (5, "[A-Za-z0-9_-]"),
        ("x_companion_y", "_companion_"),
        ("0", "reserved"),
    ],
)
def test_invalid_companion_thread_ids(thread_id, reason):
    wf = waiting_workflow()
    wf["edge_configs"][1]["companion_thread_config"]["thread_id"] = thread_id
    problems = [p for p in validate_workflow(wf) if p.code.startswith("companion")]
    assert [p.code for p in problems] == ["companion_thread_id_invalid"]
    assert reason in problems[0].message


def test_companion_without_thread_id_is_allowed():
    wf = waiting_workflow()
    wf["edge_configs"][1]["companion_thread_config"] = {"is_companion_thread": True}
    wf["edge_configs"][2]["condition"]["condition_expression"] = "[[x]] == 1"
    assert validate_workflow(wf) == []


def test_duplicate_companion_thread_ids():
    wf = waiting_workflow()
    wf["node_configs"].append(node("poll2", "no_op"))
    wf["edge_configs"].append(
        edge(
            "fork2",
            "entry",
            "poll2",
            companion_thread_config={"is_companion_thread": True, "thread_id": "lab"},
        )
    )
    problems = validate_workflow(wf)
    (dup,) = [p for p in problems if p.code == "duplicate_companion_thread_id"]
    assert "'fork'" in dup.message
    assert "'fork2'" in dup.message


def test_fan_out_needs_exactly_one_main_edge():
    wf = waiting_workflow()
    wf["edge_configs"][1]["companion_thread_config"]["is_companion_thread"] = False
    assert "companion_fanout_needs_one_main_edge" in companion_codes(wf)
    wf = waiting_workflow()
    wf["edge_configs"][0]["companion_thread_config"] = {"is_companion_thread": True}
    assert "companion_fanout_needs_one_main_edge" in companion_codes(wf)


def test_lone_companion_edge_continues_main_thread_with_a_warning():
    wf = base()
    wf["node_configs"].append(node("x", "no_op"))
    wf["edge_configs"].append(
        edge("only", "end", "x", companion_thread_config={"is_companion_thread": True})
    )
    (problem,) = validate_workflow(wf)
    assert (problem.code, problem.severity) == ("companion_flag_ignored", "warning")


def test_companion_must_not_reach_an_interactive_node():
    wf = waiting_workflow()
    wf["node_configs"].append(node("ask", "say_llm"))
    wf["edge_configs"].append(edge("poll_ask", "poll", "ask"))
    problems = validate_workflow(wf)
    (problem,) = [p for p in problems if p.code == "companion_reaches_interactive_node"]
    assert (problem.node_logical_id, problem.edge_logical_id) == ("ask", "fork")


def test_companion_must_not_fork_again():
    wf = waiting_workflow()
    wf["node_configs"] += [node("p2", "no_op"), node("p3", "no_op")]
    wf["edge_configs"] += [
        edge("m2", "poll", "p2"),
        edge("f2", "poll", "p3", companion_thread_config={"is_companion_thread": True}),
    ]
    assert "nested_companion_fork" in companion_codes(wf)


def test_companion_must_not_converge_on_main_thread():
    wf = waiting_workflow()
    wf["edge_configs"].append(edge("rejoin", "poll", "done"))
    problems = validate_workflow(wf)
    (problem,) = [p for p in problems if p.code == "companion_converges_on_main_thread"]
    assert problem.node_logical_id == "done"


def test_global_nodes_count_as_main_thread():
    wf = waiting_workflow()
    wf["node_configs"].append(
        node(
            "bye",
            "say_static",
            global_node_config={
                "is_global": True,
                "condition": {"condition_freeform": "x"},
            },
        )
    )
    wf["edge_configs"].append(edge("to_bye", "poll", "bye"))
    assert "companion_converges_on_main_thread" in companion_codes(wf)


# ----------------------------------------------------------------- variables


def test_unknown_dynamic_variable_is_a_warning_naming_the_node():
    wf = base()
    wf["node_configs"][0]["main_response_config"] = {
        "prompt": "Welcome to {{clinic}}. {{clinic}} again."
    }
    (problem,) = validate_workflow(wf)
    assert problem.code == "unknown_dynamic_variable"
    assert problem.severity == "warning"
    assert problem.node_logical_id == "start"
    assert "{{clinic}}" in problem.message


def test_defaults_builtins_globals_and_default_filter_are_not_warnings():
    wf = base()
    wf["workflow_config"]["miscellaneous"] = {
        "default_dynamic_variables": {"clinic": "Acme", "ignored": "{{nope}}"}
    }
    wf["dynamic_variables"] = {"from_run": 1}
    wf["node_configs"][0]["main_response_config"] = {
        "prompt": (
            "{{clinic}} {{location.city}} {{now}} {{rand_uuid}} {{global.token}} "
            "{{from_run}} {{ missing | default: 'n/a' }}"
        )
    }
    wf["workflow_config"]["miscellaneous"]["default_dynamic_variables"]["location"] = {}
    assert validate_workflow(wf) == []


def test_variables_in_edges_and_workflow_config_are_checked():
    wf = base()
    wf["workflow_config"]["default_prompt_prefix"] = "{{org}}"
    wf["edge_configs"][0]["condition"]["condition_expression"] = "{{limit}} > 1"
    problems = validate_workflow(wf)
    assert [(p.node_logical_id, p.edge_logical_id) for p in problems] == [
        (None, None),
        (None, "e1"),
    ]
    assert "the workflow config" in problems[0].message


def test_super_node_embedded_workflows_are_not_scanned():
    wf = base()
    wf["node_configs"][1]["encapsulated_workflow_config"] = {"x": "{{inner}}"}
    assert validate_workflow(wf) == []


def test_unknown_thread_references_and_filters_are_warnings():
    wf = base()
    wf["edge_configs"][0]["condition"]["condition_expression"] = (
        "[[thread_nobody.x | shout]] == 1 AND [[thread_0.y]] == 2"
    )
    assert codes(validate_workflow(wf)) == [
        "unknown_thread_reference",
        "unknown_filter",
    ]
