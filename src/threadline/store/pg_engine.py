"""The PostgreSQL engine: its pool, its liveness check and its JSON codec.

Every statement on PostgreSQL is a round trip through asyncpg, and on a small
machine a round trip costs more CPU than the statement (docs/benchmarks.md, "The
PostgreSQL path"). What this module saves, without changing what commits:

- **No ping on every checkout.** SQLAlchemy's ``pool_pre_ping`` pings each checkout
  with ``BEGIN; ;ROLLBACK`` (three round trips; a turn checks out three times).
  Here a connection is pinged only when it has sat in the pool for
  ``PING_AFTER_S`` or more: that is when a server restart, an idle timeout or a
  middlebox can have dropped it. A connection used a moment ago is used as it is;
  if the server went away meanwhile, the statement fails as any statement in
  flight during a restart does, and SQLAlchemy then replaces every pooled
  connection older than the failure.
- **A pool that keeps its connections.** Connections beyond ``pool_size`` are
  closed on check-in; a new one costs a server process and the driver's type
  introspection. The pool keeps ``POOL_SIZE`` and overflows only beyond it.
- **orjson writes JSON columns.** Bodies are encoded by orjson (a tenth of
  ``json.dumps``'s time); what it refuses (a key that is not a string, an integer
  beyond 64 bits, a value of an unknown type) by ``json.dumps`` as before. They
  are still read by ``json.loads``: orjson would read an integer beyond 64 bits
  as a float, and checking the text for one first costs more than it saves.
"""

import json
import time
from typing import Any

import orjson
from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

POOL_SIZE = 30
"""Connections kept open (per process)."""
MAX_OVERFLOW = 0
"""Extra connections under a burst, closed when returned."""
PING_AFTER_S = 5.0
"""A connection idle this long in the pool is pinged before it is handed out."""
_RETURNED = "threadline_returned_at"
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _refuse(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def dumps(value: Any) -> str:
    """A JSON column's value as text: orjson, or ``json.dumps`` for what it refuses
    (then the stored text and any error are what they were before).

    NaN and infinities, which PostgreSQL's ``json`` type does not accept as
    ``json.dumps`` writes them, are stored as ``null``, as the API sends them.
    """
    try:
        return orjson.dumps(value, default=_refuse, option=_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value)


def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
    record.info[_RETURNED] = time.monotonic()


def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    returned = record.info.get(_RETURNED)
    if returned is None or time.monotonic() - returned < PING_AFTER_S:
        return  # new, or used a moment ago
    try:
        dbapi_conn.ping()
    except Exception as error:  # any failure means the connection is gone
        # The pool discards this connection and hands out another (a new one
        # when the pool has no other), as ``pool_pre_ping`` does.
        raise exc.DisconnectionError(f"stale connection: {error}") from error


def create(url: str) -> AsyncEngine:
    """The async engine for a ``postgresql+asyncpg`` URL."""
    engine = create_async_engine(
        url,
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        json_serializer=dumps,
    )
    event.listen(engine.sync_engine.pool, "checkin", _on_checkin)
    event.listen(engine.sync_engine.pool, "checkout", _on_checkout)
    return engine
