"""Persistence behind one protocol (``store.base.Store``).

Only ``open_store`` names an implementation. Must not import api, service or cli.
"""

from threadline.store.base import (
    ApiKey,
    Chunk,
    Command,
    Document,
    Documents,
    Duplicate,
    IngestJob,
    Knowledge,
    OperatorCounts,
    Query,
    Sealer,
    Store,
    Transaction,
)
from threadline.store.dialect import create_engine, normalize_url
from threadline.store.sql import SqlStore

__all__ = [
    "ApiKey",
    "Chunk",
    "Command",
    "Document",
    "Documents",
    "Duplicate",
    "IngestJob",
    "Knowledge",
    "OperatorCounts",
    "Query",
    "Sealer",
    "Store",
    "Transaction",
    "normalize_url",
    "open_store",
]


def open_store(url: str, *, sqlite_synchronous: str = "NORMAL") -> Store:
    """Open the store for a database URL (SQLite file or PostgreSQL);
    ``sqlite_synchronous`` is SQLite's ``PRAGMA synchronous``."""
    return SqlStore(create_engine(url, sqlite_synchronous=sqlite_synchronous))
