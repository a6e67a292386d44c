"""Bad input through the SDK: a 422 naming the field, nothing stored."""

from typing import Any

import pytest

interactly = pytest.importorskip("interactly")


async def test_node_configs_of_the_wrong_type_is_refused(sdk: Any):
    with pytest.raises(interactly.UnprocessableEntityError) as raised:
        await sdk.workflows.create(name="Broken", config={"node_configs": 3})
    assert "config.node_configs" in str(raised.value)
    assert (await sdk.workflows.list()).total == 0
