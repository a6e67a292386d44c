"""Super-node ``field_values`` that reference a variable of the calling workflow."""

from typing import Any

from tests.engine import turn_helpers as th
from threadline.engine.graph import compile_graph
from threadline.engine.inputs import TurnEnv
from threadline.engine.state import RunState
from threadline.engine.supernode import expand_super_nodes
from threadline.engine.supernode_fields import reference

J = dict[str, Any]


def hydrated(nodes: list[J], edges: list[J]) -> J:
    return {
        "workflow_config": {"name": "wf", "miscellaneous": {}},
        "node_configs": nodes,
        "edge_configs": edges,
    }


INTERFACE: J = {
    "input_fields": [
        {
            "name": "member_id",
            "value_type": "integer",  # a reference is not type-checked
            "mappings": [
                {"target_type": "dynamic_variable", "target_variable_name": "member"},
                {
                    "target_type": "node_config_field",
                    "target_node_or_edge_logical_id": "X",
                    "target_field_path": "static_messages_config.static_messages.0",
                },
            ],
        },
        {
            "name": "who",
            "mappings": [
                {"target_type": "runtime_variable", "target_variable_name": "who"}
            ],
        },
    ]
}


def expanded(field_values: J, start_at_super: bool = False) -> J:
    child = hydrated(
        [
            th.node(
                "X",
                is_start=True,
                static_messages_config={"static_messages": ["literal"]},
            ),
            th.node("Y"),
        ],
        [th.edge("x_y", "X", "Y")],
    )
    sn = {
        "type": "super_node",
        "logical_id": "SUPER",
        "name": "SUPER",
        "is_start": start_at_super,
        "super_node_interface": INTERFACE,
        "field_values": field_values,
    }
    nodes = [sn] if start_at_super else [th.node("A", is_start=True), sn]
    edges = [] if start_at_super else [th.edge("a_s", "A", "SUPER")]
    return expand_super_nodes(hydrated(nodes, edges), {"SUPER": child}).hydrated


REFS = {"member_id": "dynamic_variable:caller_id", "who": "runtime_variable:name"}


def test_reference_forms() -> None:
    assert reference("dynamic_variable:caller_id") == ("dynamic_variable", "caller_id")
    assert reference("runtime_variable: global.x ") == ("runtime_variable", "global.x")
    assert reference("dynamic_variable:") is None
    assert reference("hello: world") is None
    assert reference(7) is None


def test_a_reference_mapped_to_a_config_field_becomes_its_placeholder() -> None:
    out = expanded(REFS)
    x = next(n for n in out["node_configs"] if n["logical_id"] == "SUPER__X")
    assert x["static_messages_config"]["static_messages"] == ["{{caller_id}}"]
    defaults = out["workflow_config"]["miscellaneous"].get("default_dynamic_variables")
    assert not defaults  # the reference is resolved at run time, not a default


def run(config: J, run_input: J) -> tuple[RunState, list[J]]:
    state = RunState(run_id="r")
    outcome, _ = th.drive(state, compile_graph(config), run_input, th.static_responder)
    return state, outcome.events


def test_the_child_sees_the_callers_values_on_entry() -> None:
    start = {
        **th.START,
        "dynamic_variables": {"caller_id": 42},
        "runtime_variables": {"name": "Ada"},
    }
    for at_super in (False, True):
        state, events = run(expanded(REFS, at_super), start)
        assert state.dynamic["member"] == 42
        assert state.threads["0"].variables["who"] == "Ada"
        assert not [e for e in events if e["type"] == "workflow_warning"]


def test_a_global_and_a_dotted_path_resolve_too() -> None:
    refs = {
        "member_id": "dynamic_variable:global.account",
        "who": "dynamic_variable:c.n",
    }
    start = {**th.START, "dynamic_variables": {"c": {"n": "Bo"}}}
    state = RunState(run_id="r")
    env = TurnEnv(now=1_700_000_000.0, globals_={"account": 7})
    th.drive(state, compile_graph(expanded(refs)), start, th.static_responder, env)
    assert state.dynamic["member"] == 7
    assert state.threads["0"].variables["who"] == "Bo"


def test_an_unset_reference_leaves_the_variable_unset_and_warns() -> None:
    state, events = run(expanded(REFS), th.START)
    assert "member" not in state.dynamic
    assert "who" not in state.threads["0"].variables
    warnings = [e["warning_message"] for e in events if e["type"] == "workflow_warning"]
    assert len(warnings) == 2
    assert "'member_id' references dynamic_variable:caller_id" in warnings[0]
    assert "has no value" in warnings[0]
    values = [*state.dynamic.values(), *state.threads["0"].variables.values()]
    assert not any("dynamic_variable:" in str(v) for v in values)
