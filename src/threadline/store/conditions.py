"""Conditions on document columns that never make the database raise."""

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import ColumnElement, Integer, Table, false

INT32 = range(-(2**31), 2**31)
"""What every ``Integer`` column holds on both dialects (PostgreSQL: 32 bits)."""


def equal(column: Any, value: Any) -> ColumnElement[bool]:
    """``column == value``, or false when no stored row could hold ``value``.

    A number over the column's range or a string with a NUL (which PostgreSQL
    text cannot hold) would make the database raise instead of match nothing.
    """
    if isinstance(column.type, Integer) and value is not None:
        if isinstance(value, bool) or not isinstance(value, int):
            return false()
        if value not in INT32:
            return false()
    if isinstance(value, str) and "\x00" in value:
        return false()
    return cast(ColumnElement[bool], column == value)


def equals(table: Table, team_id: str, values: Mapping[str, Any]) -> list[Any]:
    """The team's rows whose columns hold ``values`` (``equal`` each)."""
    return [table.c.team_id == team_id] + [
        equal(table.c[name], value) for name, value in values.items()
    ]


def escape_like(text: str) -> str:
    """``text`` matched literally by ``LIKE … ESCAPE '\\'``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
