"""Super-node expansion on plain hydrated dicts."""

from typing import Any

import pytest

from tests.engine import turn_helpers as th
from threadline.engine.graph import compile_graph
from threadline.engine.state import RunState
from threadline.engine.supernode import (
    ExpansionError,
    expand_super_nodes,
    reverse_origin,
    runtime_seed,
)
from threadline.engine.supernode_fields import set_path, value_problems

J = dict[str, Any]


def node(lid: str, kind: str = "say_llm", **extra: Any) -> J:
    body: J = {"type": kind, "logical_id": lid, "name": lid, "is_start": False}
    if kind in ("say_llm", "worker_llm"):
        body["main_response_config"] = {"prompt": f"I am {lid}."}
    return {**body, **extra}


def edge(lid: str, src: str, dst: str, **extra: Any) -> J:
    return {
        "logical_id": lid,
        "name": lid,
        "type": "direct",
        "source_node_logical_id": src,
        "destination_node_logical_id": dst,
        **extra,
    }


def cond(lid: str, src: str, dst: str, text: str = "user wants out") -> J:
    return edge(
        lid, src, dst, type="conditional", condition={"condition_freeform": text}
    )


def hydrated(nodes: list[J], edges: list[J], **misc: Any) -> J:
    return {
        "workflow_config": {"name": "wf", "miscellaneous": dict(misc)},
        "node_configs": nodes,
        "edge_configs": edges,
        "dynamic_variables": {},
        "runtime_variables": {},
    }


def child_xy() -> J:
    """X (start, say) -> Y (static): the child of most tests."""
    return hydrated(
        [node("X", is_start=True), node("Y", "say_static")],
        [edge("x_y", "X", "Y")],
    )


def super_node(lid: str = "SUPER", **extra: Any) -> J:
    return {"type": "super_node", "logical_id": lid, "name": lid, **extra}


def parent(sn: J, *exits: J) -> J:
    return hydrated(
        [node("A", is_start=True), sn, node("B")],
        [edge("a_s", "A", sn["logical_id"]), *exits],
    )


def pairs(config: J) -> set[tuple[str, str]]:
    return {
        (e["source_node_logical_id"], e["destination_node_logical_id"])
        for e in config["edge_configs"]
    }


def by_id(config: J, key: str = "node_configs") -> dict[str, J]:
    return {x["logical_id"]: x for x in config[key]}


def field_spec(name: str, *mappings: J, **extra: Any) -> J:
    return {"name": name, "mappings": list(mappings), **extra}


def test_direct_chain_is_inlined() -> None:
    source = parent(super_node(), edge("s_b", "SUPER", "B"))
    result = expand_super_nodes(source, {"SUPER": child_xy()})
    out = result.hydrated
    assert [n["logical_id"] for n in out["node_configs"]] == [
        "A",
        "SUPER__X",
        "SUPER__Y",
        "B",
    ]
    assert all(n["type"] != "super_node" for n in out["node_configs"])
    assert pairs(out) == {
        ("A", "SUPER__X"),
        ("SUPER__X", "SUPER__Y"),
        ("SUPER__Y", "B"),
    }
    assert compile_graph(out).start == "A"
    assert not by_id(out)["SUPER__X"]["is_start"]
    assert result.origins == {
        "SUPER__X": "SUPER",
        "SUPER__Y": "SUPER",
        "SUPER__x_y": "SUPER",
        "s_b__SUPER__Y": "SUPER",
    }
    assert result.report["super_nodes"][0]["logical_id"] == "SUPER"
    assert source["node_configs"][1]["type"] == "super_node"  # input untouched


def test_encapsulated_config_is_the_fallback() -> None:
    source = parent(super_node(encapsulated_workflow_config=child_xy()))
    out = expand_super_nodes(source, {}).hydrated
    assert "SUPER__X" in by_id(out)
    assert expand_super_nodes(source, {}).report["super_nodes"][0]["source"] == (
        "encapsulated"
    )


def test_super_node_start_and_global_move_to_child_start() -> None:
    gnc = {"is_global": True, "condition": {"condition_freeform": "help"}}
    source = hydrated([super_node(is_start=True, global_node_config=gnc)], [])
    out = expand_super_nodes(source, {"SUPER": child_xy()}).hydrated
    graph = compile_graph(out)
    assert graph.start == "SUPER__X"
    assert graph.global_nodes == ("SUPER__X",)
    assert by_id(out)["SUPER__X"]["global_node_config"]["condition"] == gnc["condition"]


def test_conditional_exits_leave_from_interior_llm_nodes() -> None:
    child = hydrated(
        [node("X", is_start=True), node("W", "worker_llm"), node("Z", "say_static")],
        [edge("x_w", "X", "W"), edge("w_z", "W", "Z")],
    )
    source = parent(super_node(), cond("s_b", "SUPER", "B"), edge("s_a", "SUPER", "A"))
    result = expand_super_nodes(source, {"SUPER": child})
    edges = by_id(result.hydrated, "edge_configs")
    conditional = {k: e for k, e in edges.items() if k.startswith("s_b__")}
    assert set(conditional) == {"s_b__SUPER__X", "s_b__SUPER__W"}
    for e in conditional.values():
        assert e["type"] == "conditional"
        assert e["super_node_exit_origin"] == "SUPER"
        assert e["destination_node_logical_id"] == "B"
    direct = edges["s_a__SUPER__Z"]
    assert (direct["source_node_logical_id"], direct["type"]) == ("SUPER__Z", "direct")
    assert "super_node_exit_origin" not in direct


def test_self_edge_of_super_node_reenters_child() -> None:
    source = parent(super_node(), edge("loop", "SUPER", "SUPER"))
    out = expand_super_nodes(source, {"SUPER": child_xy()}).hydrated
    assert ("SUPER__Y", "SUPER__X") in pairs(out)


def test_field_values_reach_prompt_dynamic_and_runtime_variables() -> None:
    interface = {
        "input_fields": [
            field_spec(
                "topic",
                {
                    "target_type": "node_config_field",
                    "target_node_or_edge_logical_id": "X",
                    "target_field_path": "main_response_config.prompt",
                },
                {"target_type": "dynamic_variable", "target_variable_name": "topic"},
                value_type="string",
                max_length=40,
            ),
            field_spec(
                "retries",
                {"target_type": "runtime_variable", "target_variable_name": "tries"},
                value_type="integer",
                required=False,
                default_value=2,
            ),
        ]
    }
    sn = super_node(super_node_interface=interface, field_values={"topic": "billing"})
    source = parent(sn)
    source["workflow_config"]["miscellaneous"]["default_dynamic_variables"] = {"a": 1}
    out = expand_super_nodes(source, {"SUPER": child_xy()}).hydrated
    start = by_id(out)["SUPER__X"]
    assert start["main_response_config"]["prompt"] == "billing"
    defaults = out["workflow_config"]["miscellaneous"]["default_dynamic_variables"]
    assert defaults == {"a": 1, "topic": "billing"}
    assert runtime_seed(start) == {"tries": 2}


def test_edge_and_workflow_config_fields() -> None:
    interface = {
        "input_fields": [
            field_spec(
                "msg",
                {
                    "target_type": "edge_config_field",
                    "target_node_or_edge_logical_id": "x_y",
                    "target_field_path": "condition.condition_freeform",
                },
                {
                    "target_type": "workflow_config_field",
                    "target_field_path": "miscellaneous.default_dynamic_variables.m",
                },
                {
                    "target_type": "workflow_config_field",
                    "target_field_path": "default_prompt_prefix",
                },
            )
        ]
    }
    sn = super_node(super_node_interface=interface, field_values={"msg": "done"})
    result = expand_super_nodes(parent(sn), {"SUPER": child_xy()})
    out = result.hydrated
    inlined = by_id(out, "edge_configs")["SUPER__x_y"]
    assert inlined["condition"] == {"condition_freeform": "done"}
    assert out["workflow_config"]["miscellaneous"]["default_dynamic_variables"] == {
        "m": "done"
    }
    assert "default_prompt_prefix" not in out["workflow_config"]
    assert any("default_prompt_prefix" in w for w in result.report["warnings"])


def test_every_bad_value_is_reported_at_once() -> None:
    interface = {
        "input_fields": [
            field_spec("name", value_type="string", min_length=3),
            field_spec("age", value_type="integer", max_value=120),
            field_spec("flag", value_type="number"),
            field_spec("plan", value_type="enum", enum_values=["gold", "silver"]),
            field_spec("needed"),
            field_spec(
                "where",
                {
                    "target_type": "node_config_field",
                    "target_node_or_edge_logical_id": "nope",
                    "target_field_path": "main_response_config.prompt",
                },
                required=False,
                default_value="x",
            ),
        ]
    }
    values = {"name": "Al", "age": 130, "flag": True, "plan": "bronze", "extra": 1}
    sn = super_node(super_node_interface=interface, field_values=values)
    with pytest.raises(ExpansionError) as caught:
        expand_super_nodes(parent(sn), {"SUPER": child_xy()})
    problems = caught.value.problems
    assert len(problems) == 7
    text = "\n".join(problems)
    for needle in (
        "'extra'",
        "length 2 is below min_length 3",
        "130 is above max_value 120",
        "expected number, got bool",
        "'bronze' is not one of",
        "required field 'needed'",
        "child node 'nope' does not exist",
    ):
        assert needle in text
    assert all(p.startswith("super node 'SUPER': ") for p in problems)


def test_value_checks_and_paths() -> None:
    assert value_problems({"name": "n", "value_type": "integer"}, 3) == []
    assert value_problems({"name": "n", "value_type": "integer"}, 3.5)
    assert value_problems({"name": "n", "value_type": "boolean"}, 1)
    assert value_problems({"name": "n", "value_type": "array", "max_length": 1}, [1, 2])
    assert value_problems({"name": "n", "value_type": "any"}, object()) == []
    target: J = {"a": {"list": [{"v": 1}]}, "s": "text"}
    assert set_path(target, "a.list.0.v", 2) is None
    assert target["a"]["list"][0]["v"] == 2
    assert set_path(target, "a.new.deep", 1) is None
    assert target["a"]["new"] == {"deep": 1}
    assert set_path(target, "s.inner", 1) is not None
    assert set_path(target, "a.list.5", 1) is not None


def test_dynamic_variable_conflict_is_an_error() -> None:
    interface = {
        "input_fields": [
            field_spec(
                "v",
                {"target_type": "dynamic_variable", "target_variable_name": "clinic"},
            )
        ]
    }
    sn = super_node(super_node_interface=interface, field_values={"v": "South"})
    source = parent(sn)
    misc = source["workflow_config"]["miscellaneous"]
    misc["default_dynamic_variables"] = {"clinic": "North"}
    with pytest.raises(ExpansionError, match="contradicts"):
        expand_super_nodes(source, {"SUPER": child_xy()})


def test_reverse_edge_scope_and_llm_override() -> None:
    child = hydrated(
        [
            node("X", is_start=True),
            node("M", "worker_llm", llms_config={"type": "openai_llm"}),
            node("T"),
        ],
        [edge("x_m", "X", "M"), edge("m_t", "M", "T")],
    )
    reverse = {"condition_freeform": "go back"}
    gnc = {"is_global": True, "reverse_conditional_edge": reverse}
    llm = {"type": "anthropic_llm"}
    sn = super_node(
        global_node_config=gnc,
        reverse_edge_scope="terminal_nodes",
        override_llm_config=True,
        override_only_workflow_default_nodes=True,
        llms_config=llm,
    )
    out = by_id(expand_super_nodes(parent(sn), {"SUPER": child}).hydrated)
    assert [k for k, n in out.items() if reverse_origin(n)] == ["SUPER__T"]
    assert out["SUPER__T"]["global_node_config"]["reverse_conditional_edge"] == reverse
    assert out["SUPER__X"]["llms_config"] == llm
    assert out["SUPER__T"]["llms_config"] == llm
    assert out["SUPER__M"]["llms_config"] == {"type": "openai_llm"}

    sn = super_node(global_node_config=gnc, override_llm_config=True, llms_config=llm)
    out = by_id(expand_super_nodes(parent(sn), {"SUPER": child}).hydrated)
    assert {k for k, n in out.items() if reverse_origin(n)} == {
        "SUPER__X",
        "SUPER__M",
        "SUPER__T",
    }
    assert out["SUPER__M"]["llms_config"] == llm


def test_nested_super_nodes_expand_recursively() -> None:
    interface = {
        "input_fields": [
            field_spec(
                "p",
                {
                    "target_type": "node_config_field",
                    "target_node_or_edge_logical_id": "X",
                    "target_field_path": "main_response_config.prompt",
                },
            )
        ]
    }
    inner = super_node(
        "T",
        super_workflow_id="wf_inner",
        super_node_interface=interface,
        field_values={"p": "inner prompt"},
    )
    middle = hydrated([node("M", is_start=True), inner], [edge("m_t", "M", "T")])
    outer = super_node(super_workflow_id="wf_middle")
    source = parent(outer, edge("s_b", "SUPER", "B"))
    result = expand_super_nodes(
        source, {"SUPER": middle, "SUPER__T": child_xy()}, workflow_id="wf_root"
    )
    out = result.hydrated
    assert pairs(out) == {
        ("A", "SUPER__M"),
        ("SUPER__M", "SUPER__T__X"),
        ("SUPER__T__X", "SUPER__T__Y"),
        ("SUPER__T__Y", "B"),
    }
    assert by_id(out)["SUPER__T__X"]["main_response_config"]["prompt"] == "inner prompt"
    assert result.origins["SUPER__T__X"] == "SUPER__T"
    assert result.origins["SUPER__M"] == "SUPER"
    depths = {e["logical_id"]: e["depth"] for e in result.report["super_nodes"]}
    assert depths == {"SUPER__T": 2, "SUPER": 1}


def test_cycle_is_refused() -> None:
    loop = hydrated(
        [node("M", is_start=True), super_node("T", super_workflow_id="wf_root")],
        [edge("m_t", "M", "T")],
    )
    source = parent(super_node(super_workflow_id="wf_child"))
    with pytest.raises(ExpansionError, match="cycle of workflows"):
        expand_super_nodes(source, {"SUPER": loop}, workflow_id="wf_root")
    self_loop = hydrated(
        [node("M", is_start=True), super_node("T", super_workflow_id="wf_child")], []
    )
    with pytest.raises(ExpansionError, match="wf_child -> wf_child"):
        expand_super_nodes(source, {"SUPER": self_loop})


def test_depth_limit() -> None:
    def level(n: int) -> J:
        sn = super_node("S", encapsulated_workflow_config=level(n - 1)) if n else None
        nodes = [node("N", is_start=True), *([sn] if sn else [])]
        return hydrated(nodes, [])

    assert expand_super_nodes(level(3), {}).hydrated
    with pytest.raises(ExpansionError, match="deeper than 2"):
        expand_super_nodes(level(3), {}, max_depth=2)


def test_structural_problems() -> None:
    no_start = hydrated([node("X")], [])
    with pytest.raises(ExpansionError, match="no start node"):
        expand_super_nodes(parent(super_node()), {"SUPER": no_start})
    with pytest.raises(ExpansionError, match="no child config"):
        expand_super_nodes(parent(super_node(super_workflow_id="w")), {})
    clash = parent(super_node())
    clash["node_configs"].append(node("SUPER__X"))
    with pytest.raises(ExpansionError, match="already used"):
        expand_super_nodes(clash, {"SUPER": child_xy()})


def test_disabled_super_node_becomes_a_skipped_no_op() -> None:
    source = parent(super_node(disabled=True), edge("s_b", "SUPER", "B"))
    result = expand_super_nodes(source, {})
    placeholder = by_id(result.hydrated)["SUPER"]
    assert placeholder["type"] == "no_op"
    assert placeholder["disabled"] is True
    assert ("SUPER", "B") in pairs(result.hydrated)
    assert result.report["warnings"]


def test_expanded_graph_runs_child_then_parent() -> None:
    child = hydrated(
        [th.node("X", is_start=True), th.node("Y")], [edge("x_y", "X", "Y")]
    )
    source = hydrated(
        [th.node("A", is_start=True), super_node(), th.node("B")],
        [edge("a_s", "A", "SUPER"), edge("s_b", "SUPER", "B")],
    )
    graph = compile_graph(expand_super_nodes(source, {"SUPER": child}).hydrated)
    _, tasks = th.drive(RunState(run_id="r"), graph, {}, th.static_responder)
    ran = [t.node["logical_id"] for t in tasks]
    assert ran == ["A", "SUPER__X", "SUPER__Y", "B"]


def test_an_expansion_that_multiplies_past_the_node_limit_stops_with_an_error() -> None:
    # Each level holds ten super nodes of the level below: 10**4 nodes at depth 4.
    def level(depth: int) -> J:
        if depth == 0:
            return child_xy()
        sns = [
            super_node(f"S{i}", encapsulated_workflow_config=level(depth - 1))
            for i in range(10)
        ]
        return hydrated([node("A", is_start=True), *sns], [])

    with pytest.raises(ExpansionError, match="more than 500 nodes"):
        expand_super_nodes(level(4), {}, max_nodes=500)
    assert len(expand_super_nodes(level(2), {}).hydrated["node_configs"]) == 211
