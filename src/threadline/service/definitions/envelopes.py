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


def page(
    plural: str,
    items: list[dict[str, Any]],
    total: int,
    *,
    page: int,
    size: int | None,
) -> dict[str, Any]:
    """Render a list response: ``{<plural>: [...], total, page, size, pages}``.

    ``page`` is 1-based and ``pages`` is ``ceil(total / size)`` (0 for an empty
    list), so a client pages on with ``page + 1`` while ``page < pages``. An
    unpaged query (``size`` None) is one page of everything.
    """
    size = size if size else max(total, 1)
    pages = -(-total // size)
    return {plural: items, "total": total, "page": page, "size": size, "pages": pages}
