"""The removed checkpoint-run, called with the SDK's client: a 410 naming re-runs."""

from typing import Any

import pytest

interactly = pytest.importorskip("interactly")


async def test_checkpoint_run_raises_an_api_error_naming_reruns(sdk: Any):
    path = (
        "/v1/workflows/5eb7cf5a86d9755df3a6c593/runs/"
        "5eb7cf5a86d9755df3a6c594/checkpoint-run"
    )
    with pytest.raises(interactly.APIError) as raised:
        await sdk.post(path, body={}, cast_to=dict)
    assert raised.value.status_code == 410
    assert "reruns.execute" in str(raised.value)
    assert raised.value.body["code"] == "endpoint_removed"
