"""The inbuilt catalogue: 23 functions, each executable; vendor ones need a vendor."""

from typing import Any

import pytest

from threadline.engine.steps import Scope
from threadline.tools.inbuilt import INBUILT_TOOLS
from threadline.tools.runner import ToolRunner

EXAMPLES: dict[str, tuple[dict[str, Any], Any]] = {
    "math_add": ({"a": 2, "b": 3.5}, 5.5),
    "math_subtract": ({"a": 2, "b": 3}, -1.0),
    "math_multiply": ({"a": 2, "b": 3}, 6.0),
    "math_divide": ({"a": 3, "b": 2}, 1.5),
    "math_power": ({"base": 2, "exponent": 10}, 1024.0),
    "math_sqrt": ({"x": 9}, 3.0),
    "math_round": ({"x": 2.345, "digits": 1}, 2.3),
    "math_percentage": ({"part": 1, "whole": 4}, 25.0),
    "text_upper": ({"text": "ann"}, "ANN"),
    "text_lower": ({"text": "ANN"}, "ann"),
    "text_length": ({"text": "four"}, 4),
    "text_contains": ({"text": "Hello", "part": "ell"}, True),
    "text_replace": ({"text": "a-b", "old": "-", "new": "+"}, "a+b"),
    "text_split": ({"text": "a,b", "separator": ","}, ["a", "b"]),
    "text_trim": ({"text": "  x "}, "x"),
    "date_add_days": ({"date": "2026-12-30", "days": 3}, "2027-01-02"),
    "date_diff_days": ({"start": "2026-12-01", "end": "2026-12-06"}, 5),
    "json_extract": ({"data": {"a": [{"b": 7}]}, "path": "a.0.b"}, 7),
}
VENDOR_TOOLS = {"call_forward", "send_sms", "send_email", "web_search"}


class RecordingVendor:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((operation, payload))
        return {"status": "ok"}


def _scope() -> Scope:
    return Scope(dynamic={}, runtime={}, threads={"0": {}})


async def _run(tool_id: str, args: dict[str, Any], **vendors: Any) -> Any:
    runner = ToolRunner(vendors=vendors)
    config = {"type": "inbuilt_function", "tool_id": tool_id}
    return await runner.run(config, args, _scope())


def test_the_catalogue_holds_23_functions_with_schemas():
    assert len(INBUILT_TOOLS) == 23
    assert set(INBUILT_TOOLS) == {*EXAMPLES, "datetime_now", *VENDOR_TOOLS}
    for tool in INBUILT_TOOLS.values():
        assert tool.args_schema["type"] == "object"
        assert set(tool.args_schema["required"]) <= set(tool.args_schema["properties"])


@pytest.mark.parametrize("tool_id", sorted(EXAMPLES))
async def test_every_pure_function_runs(tool_id: str):
    args, expected = EXAMPLES[tool_id]
    outcome = await _run(tool_id, args)
    assert outcome.success, outcome.error
    assert outcome.result == expected


async def test_now_answers_an_iso_time_and_refuses_a_bad_zone():
    now = await _run("datetime_now", {"timezone": "Europe/Paris"})
    assert now.success and now.result[4] == "-" and "T" in now.result
    bad = await _run("datetime_now", {"timezone": "Mars/Olympus"})
    assert bad.error_type == "runtime_error" and "Mars/Olympus" in (bad.error or "")


@pytest.mark.parametrize("tool_id", sorted(VENDOR_TOOLS))
async def test_a_vendor_function_without_its_vendor_is_not_configured(tool_id: str):
    tool = INBUILT_TOOLS[tool_id]
    args = dict.fromkeys(tool.args_schema["required"], "x")
    outcome = await _run(tool_id, args)
    assert outcome.success is False and outcome.error_type == "not_configured"
    assert f"credentials/{tool.vendor}" in (outcome.error or "")


async def test_a_vendor_function_calls_its_vendor():
    vendor = RecordingVendor()
    outcome = await _run("web_search", {"query": "clinic hours"}, web_search=vendor)
    assert outcome.success and outcome.result == {"status": "ok"}
    assert vendor.calls == [("search", {"query": "clinic hours"})]
    missing = await _run("send_sms", {"message": "hi"}, sms=vendor)
    assert missing.error_type == "invalid_arguments"
    assert "destination_phone_number" in (missing.error or "")
