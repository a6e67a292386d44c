"""Bounded integer parameters shared by the routers.

Every integer a client puts in a path or query string has an upper bound that fits
the narrowest column it can reach (PostgreSQL ``INTEGER``, 32 bits), so a huge
number is a 422 naming the parameter instead of an overflow in the database.
"""

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

from threadline.service.definitions.graph import GraphLimits
from threadline.settings import Settings

INT32_MAX = 2**31 - 1
"""Largest value of an ``INTEGER`` column on PostgreSQL (version, turn, seq)."""

VersionNumber = Annotated[int, Path(ge=0, le=INT32_MAX)]
VersionQuery = Annotated[int | None, Query(ge=0, le=INT32_MAX)]
TurnIndex = Annotated[
    int, Path(ge=0, le=INT32_MAX, description="0-based turn (segment) index")
]
TurnQuery = Annotated[int | None, Query(ge=0, le=INT32_MAX)]
SeqQuery = Annotated[int | None, Query(ge=0, le=INT32_MAX)]
Page = Annotated[int, Query(ge=1, le=INT32_MAX)]
Skip = Annotated[int, Query(ge=0, le=INT32_MAX)]
VersionItem = Annotated[int, Field(ge=0, le=INT32_MAX)]
"""A version number inside a list or a body model."""


def graph_limits(settings: Settings) -> GraphLimits:
    """The operator's ceilings on one version's graph."""
    return GraphLimits(
        max_nodes=settings.max_graph_nodes,
        max_edges=settings.max_graph_edges,
        max_entity_bytes=settings.max_graph_entity_bytes,
    )
