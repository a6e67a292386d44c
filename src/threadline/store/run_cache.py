"""A waiting run's row, kept in this process between its turns.

Accepting a command for an existing run read its row with its config snapshot
joined (``service.running.run_commands.accept``): for a run whose last turn this process
recorded, that is the row it wrote. So the turn's record keeps it here once its
transaction has committed (``keep``), by ``(team, run id)``, as the JSON text of
the row (the state without its lists, which ``HistoryCache`` holds),
with the row's ``status`` and ``updated_at``.

The next command takes the entry out (``take``) and uses it only if the row is
still the one kept: the accepting transaction's status ``UPDATE`` is guarded by
both the kept ``status`` and the kept ``updated_at`` (``set_status(...,
expected_status=..., expected_updated_at=...)``), under the run's lock. Every
write of a run row, in any process, sets a new ``updated_at`` (each writer stamps
the time of its write), so a row changed elsewhere (another process's turn, a
PATCH, an upgrade, a pause or stop, the reaper, a deletion) matches no row: the
``UPDATE`` changes nothing and the command falls back to the full read in the
same transaction. The entry is never served without that check. Code that writes
a run row must stamp a new ``updated_at`` (``docs/decisions.md``, "A waiting
run's row is kept per process").

What is kept is never handed out: each turn parses its own copy of the row from
the kept text, as it would parse the row read from the database. The row's config
snapshot (about three quarters of a small graph's row) is kept apart, as its own
JSON text, one copy shared by every kept run on the same snapshot (a version's
runs), held while a kept run uses it. The cache is bounded
(``THREADLINE_RUN_CACHE_SIZE`` runs, least recently used first out; 0: none kept).
"""

import weakref
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson

from threadline.store import history_log as log
from threadline.store import run_snapshots as snapshots
from threadline.store.base import Document

JsonDict = dict[str, Any]
Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Kept:
    """One run's row as its last turn in this process stored it."""

    workflow_id: str | None
    status: str | None
    updated_at: datetime
    doc: Document
    """The row's columns; its ``body`` is empty (the text below is the body)."""
    text: bytes
    """The row's body as JSON (the state without its lists, ``history_log``),
    its config snapshot ``null`` when ``snapshot`` holds it."""
    snapshot: "Shared | None" = None
    """The config snapshot's JSON, shared with the kept runs on the same one."""


class Shared:
    """One snapshot's JSON text, shared by the entries that hold it."""

    __slots__ = ("__weakref__", "text")

    def __init__(self, text: bytes) -> None:
        self.text = text


def _refuse(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def _kept_json(value: Any) -> bytes:
    """``value`` as JSON, in bytes of its own size: what ``orjson.dumps`` returns
    keeps the capacity its buffer grew to (about 8 KB of memory for a 3 KB row),
    which a long-kept text should not. Raises TypeError as ``orjson.dumps``."""
    return memoryview(orjson.dumps(value, default=_refuse)).tobytes()


def row_of(body: JsonDict) -> JsonDict:
    """The run row's body of a whole body saved by ``run_history.save``: its
    threads' lists left out (they are in ``run_history``), the in-memory base
    dropped, as ``history_log.split`` stored it."""
    row = {k: v for k, v in body.items() if k != log.BASE}
    state = row.get("state")
    if isinstance(state, dict) and isinstance(row.get(log.MARK), dict):
        threads = {
            t: {**thread, **{name: [] for name in log.LISTS}}
            for t, thread in (state.get("threads") or {}).items()
        }
        row["state"] = {**state, "threads": threads}
    return row


def _without_snapshot(row: JsonDict) -> tuple[JsonDict, JsonDict | None]:
    """``row`` with its config snapshot ``null`` (its key kept in its place), and
    the snapshot (None: the row holds none, or only a reference)."""
    snapshot = snapshots.snapshot_of(row)
    if snapshot is None:
        return row, None
    return snapshots.with_field(row, None), snapshot


class RunCache:
    """The rows of the ``size`` runs whose turns this process recorded last."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._held: OrderedDict[Key, Kept] = OrderedDict()
        self._shared: weakref.WeakValueDictionary[bytes, Shared] = (
            weakref.WeakValueDictionary()
        )

    def __len__(self) -> int:
        return len(self._held)

    def keep(self, doc: Document) -> None:
        """After the commit that stored ``doc`` (a whole body, as saved): keep it."""
        key = (doc.team_id, doc.id)
        self._held.pop(key, None)
        if self.size <= 0:
            return
        row, snapshot = _without_snapshot(row_of(doc.body))
        try:  # what orjson cannot write exactly is read from the database
            text = _kept_json(row)
            shared = None if snapshot is None else self._share(snapshot)
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            return
        columns = replace(doc, body={})
        kept = Kept(doc.workflow_id, doc.status, doc.updated_at, columns, text, shared)
        self._held[key] = kept
        while len(self._held) > self.size:
            self._held.popitem(last=False)

    def _share(self, snapshot: JsonDict) -> Shared:
        """The one kept copy of ``snapshot``'s text (raises TypeError as
        ``orjson.dumps`` does)."""
        written = orjson.dumps(snapshot, default=_refuse)
        shared = self._shared.get(written)
        if shared is None:
            text = memoryview(written).tobytes()  # see ``_kept_json``
            shared = self._shared[text] = Shared(text)
        return shared

    def take(self, team_id: str, run_id: str) -> Kept | None:
        """The entry of ``run_id`` of ``team_id``, out of the cache (the accepting
        command keeps its run busy; its turn's record keeps the row again)."""
        return self._held.pop((team_id, run_id), None)

    def forget(self, team_id: str, run_id: str) -> None:
        self._held.pop((team_id, run_id), None)


def as_read(kept: Kept) -> Document:
    """The kept row as a read of it gives it (a copy of its own)."""
    body = orjson.loads(kept.text)
    if kept.snapshot is not None:
        body[snapshots.RECORD][snapshots.FIELD] = orjson.loads(kept.snapshot.text)
    return replace(kept.doc, body=body)
