"""The inbuilt catalogue through the SDK: listed, executable, vendor ones explain."""

from typing import Any


async def test_the_catalogue_lists_23_executable_functions(sdk: Any):
    inbuilt = await sdk.tools.inbuilt()
    ids = {t["tool_id"] for t in inbuilt}
    assert len(ids) == 23 and {"web_search", "call_forward", "math_add"} <= ids
    result = await sdk.tools.execute_inline(
        tool_config={"type": "inbuilt_function", "tool_id": "text_replace"},
        args={"text": "a-b", "old": "-", "new": "+"},
    )
    assert result.success is True and result.result == "a+b"
    schema = await sdk.tools.configurable_inbuilt_schema("web_search")
    assert schema["key"] == "web_search"


async def test_a_vendor_function_without_credentials_says_not_configured(sdk: Any):
    for tool_id, args in (
        ("web_search", {"query": "clinic hours"}),
        ("call_forward", {"phone_number": "+15550100"}),
    ):
        result = await sdk.tools.execute_inline(
            tool_config={"type": "inbuilt_function", "tool_id": tool_id}, args=args
        )
        assert result.success is False and result.error_type == "not_configured"
        assert "PUT /v1/teams/current/credentials/" in result.error
