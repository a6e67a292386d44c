"""Rows to and from the store's dataclasses."""

from collections.abc import Mapping
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from threadline.store.base import ApiKey, Document


def aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def row(record: Any) -> dict[str, Any]:
    """A dataclass as column values, without copying its JSON (``asdict`` would)."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


def to_document(row: Mapping[Any, Any]) -> Document:
    values = row if type(row) is dict else dict(row)
    values["created_at"] = aware(values["created_at"])
    values["updated_at"] = aware(values["updated_at"])
    return Document(**values)


def to_api_key(row: Mapping[Any, Any]) -> ApiKey:
    values = dict(row)
    values["created_at"] = aware(values["created_at"])
    values["revoked_at"] = aware(values["revoked_at"])
    return ApiKey(**values)
