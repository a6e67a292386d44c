"""Fields shared by nodes and edges."""

from typing import Any

from pydantic import Field

from threadline.config.base import WireModel
from threadline.ids import new_logical_id


class BaseEntityConfig(WireModel):
    """Identity and bookkeeping fields common to nodes and edges."""

    logical_id: str | None = Field(default_factory=lambda: new_logical_id("entity"))
    name: str | None = None
    description: str | None = None
    workflow_id: str | None = None
    version_number: int | None = 0
    disabled: bool = False
    miscellaneous: dict[str, Any] = {}
