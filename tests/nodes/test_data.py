import json

import pytest

from tests.nodes.helpers import make_ports, make_task
from threadline.nodes.data import (
    execute_deduplicate,
    execute_field_extractor,
    execute_no_op,
    extract_fields,
    parse_path,
)

ORDER = {
    "customer": {"name": "Ann", "email": "a@x", "phone": "1"},
    "orders": [
        {"id": 1, "total": 10, "items": [{"sku": "A"}]},
        {"id": 2, "total": 20, "items": [{"sku": "B"}]},
    ],
}


# ------------------------------------------------------------------ field_extractor


def test_parse_path_understands_keys_all_and_indexes() -> None:
    assert parse_path("orders[].items[0].sku") == ["orders", None, "items", 0, "sku"]


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["customer.name"], {"customer": {"name": "Ann"}}),
        (["orders[].id"], {"orders": [{"id": 1}, {"id": 2}]}),
        (["orders[1].total"], {"orders": [{"total": 20}]}),
        (
            ["customer.name", "customer.email", "orders[].id", "orders[].total"],
            {
                "customer": {"name": "Ann", "email": "a@x"},
                "orders": [{"id": 1, "total": 10}, {"id": 2, "total": 20}],
            },
        ),
        (["orders.id"], {"orders": [{"id": 1}, {"id": 2}]}),
        (["nope.x"], {}),
    ],
)
def test_extract_fields_projects_onto_the_paths(
    paths: list[str], expected: object
) -> None:
    assert extract_fields(ORDER, paths) == expected


def test_elements_without_the_key_stay_aligned() -> None:
    data = [{"id": 1}, {"other": 2}]
    assert extract_fields(data, ["[].id"]) == [{"id": 1}, {}]


async def test_field_extractor_writes_its_output_variable() -> None:
    node = {
        "type": "field_extractor",
        "input_runtime_variable_name": "order",
        "keys_to_retain": ["customer.name"],
        "output_runtime_variable_name": "slim",
    }
    task = make_task(node, runtime={"order": json.dumps(ORDER)})
    result = await execute_field_extractor(task, make_ports())
    assert result.variables == {
        "slim": {"customer": {"name": "Ann"}},
        "slim_success": True,
        "slim_error": None,
    }
    assert result.output == {
        "success": True,
        "extracted_result": {"customer": {"name": "Ann"}},
        "error_message": None,
    }


async def test_keys_from_a_runtime_variable_win() -> None:
    node = {
        "type": "field_extractor",
        "input_runtime_variable_name": "order",
        "keys_to_retain": ["customer.name"],
        "keys_to_retain_runtime_variable_name": "keys",
    }
    task = make_task(
        node, runtime={"order": ORDER, "keys": "customer.phone, orders[0].id"}
    )
    result = await execute_field_extractor(task, make_ports())
    assert result.variables["field_extractor_result"] == {
        "customer": {"phone": "1"},
        "orders": [{"id": 1}],
    }


async def test_field_extractor_reports_an_unset_input() -> None:
    node = {
        "type": "field_extractor",
        "input_runtime_variable_name": "order",
        "keys_to_retain": ["a"],
    }
    result = await execute_field_extractor(make_task(node), make_ports())
    assert result.variables["field_extractor_result"] is None
    assert result.variables["field_extractor_result_success"] is False
    assert "'order' is not set" in result.output["error_message"]
    assert result.error is None


# ------------------------------------------------------------------ deduplicate

PEOPLE = [
    {"user": {"email": "a@x"}, "n": 1},
    {"user": {"email": "b@x"}, "n": 2},
    {"user": {"email": "a@x"}, "n": 3},
    {"n": 4},
    {"n": 5},
]


async def test_deduplicate_keeps_first_per_key_and_keyless_items() -> None:
    node = {
        "type": "deduplicate",
        "input_runtime_variable_name": "people",
        "dedup_key": "user.email",
    }
    result = await execute_deduplicate(
        make_task(node, runtime={"people": PEOPLE}), make_ports()
    )
    kept = [p["n"] for p in result.variables["deduplicate_result"]]
    assert kept == [1, 2, 4, 5]
    assert result.output["removed_count"] == 1
    assert result.output["success"] is True


async def test_dedup_key_from_runtime_variable_wins() -> None:
    node = {
        "type": "deduplicate",
        "input_runtime_variable_name": "people",
        "dedup_key": "user.email",
        "dedup_key_runtime_variable_name": "key",
    }
    items = [{"id": 1, "v": "a"}, {"id": 1, "v": "b"}, {"id": 2, "v": "a"}]
    task = make_task(node, runtime={"people": items, "key": "v"})
    result = await execute_deduplicate(task, make_ports())
    assert result.variables["deduplicate_result"] == [
        {"id": 1, "v": "a"},
        {"id": 1, "v": "b"},
    ]


async def test_without_a_key_whole_items_are_compared() -> None:
    node = {"type": "deduplicate", "input_runtime_variable_name": "xs"}
    task = make_task(node, runtime={"xs": [{"a": 1}, {"a": 1}, [1], [1], 2]})
    result = await execute_deduplicate(task, make_ports())
    assert result.variables["deduplicate_result"] == [{"a": 1}, [1], 2]


async def test_deduplicate_rejects_a_non_list() -> None:
    node = {"type": "deduplicate", "input_runtime_variable_name": "xs"}
    result = await execute_deduplicate(
        make_task(node, runtime={"xs": {"a": 1}}), make_ports()
    )
    assert result.variables["deduplicate_result_success"] is False
    assert "needs a list" in result.variables["deduplicate_result_error"]


# ------------------------------------------------------------------ no_op


async def test_no_op_writes_none_and_success() -> None:
    result = await execute_no_op(make_task({"type": "no_op"}), make_ports())
    assert result.variables == {"no_op_result": None, "no_op_result_success": True}
    assert result.output == {"success": True, "error_message": None}
    assert result.events == []


async def test_no_op_simulated_failure_never_aborts() -> None:
    node = {
        "type": "no_op",
        "simulate_failure": True,
        "output_runtime_variable_name": "x",
    }
    result = await execute_no_op(make_task(node), make_ports())
    assert result.variables == {"x": None, "x_success": False}
    assert result.output["success"] is False
    assert result.error is None
