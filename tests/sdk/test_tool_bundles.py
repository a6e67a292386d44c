"""tools.export / tools.import_bundle through the SDK."""

from typing import Any

import pytest

interactly = pytest.importorskip("interactly")


async def test_a_tool_round_trips_through_a_bundle(sdk: Any):
    saved = await sdk.tools.create(
        tool_config={
            "type": "external_api",
            "name": "crm",
            "api_endpoint": "https://crm.example.test/x",
            "api_headers": {"Authorization": "Bearer sk-live-123456789"},
        }
    )
    bundle = await sdk.tools.export(saved.id)
    assert bundle["redactions"] == ["api_headers.Authorization"]
    imported = await sdk.tools.import_bundle(
        bundle,
        name_override="crm_copy",
        secret_overrides={"api_headers.Authorization": "Bearer other-0001"},
    )
    assert imported.id != saved.id and imported.name == "crm_copy"


async def test_inline_python_is_refused_without_confirm_executable(sdk: Any):
    saved = await sdk.tools.create(
        tool_config={
            "type": "inline_python",
            "name": "f",
            "code": "def f():\n  return 1\n",
        }
    )
    bundle = await sdk.tools.export(saved.id)
    with pytest.raises(interactly.UnprocessableEntityError) as raised:
        await sdk.tools.import_bundle(bundle)
    assert raised.value.body["code"] == "executable_not_confirmed"
    imported = await sdk.tools.import_bundle(bundle, confirm_executable=True)
    assert imported.name == "f"
