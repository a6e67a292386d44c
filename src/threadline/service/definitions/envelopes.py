"""The stored-document envelope of the Interactly API: ``_id``, audit, config."""

from typing import Any

from threadline.store import Document


def stored_doc(
    doc: Document, config_key: str, config: Any, **extra: Any
) -> dict[str, Any]:
    """Render ``doc`` as ``{team_id, created_by, ..., _id, <config_key>: config}``."""
    return {
        "team_id": doc.team_id,
        "created_by": doc.created_by,
        "updated_by": doc.updated_by,
        "created_at": doc.created_at.isoformat(),
        "updated_at": doc.updated_at.isoformat(),
        "_id": doc.id,
        **extra,
        config_key: config,
    }


def page(plural: str, items: list[dict[str, Any]], total: int) -> dict[str, Any]:
    """Render a list response: ``{<plural>: [...], "total": n}``."""
    return {plural: items, "total": total}
