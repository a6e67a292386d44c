"""A run's growing lists, kept out of its row: appended turn by turn.

A run's engine state (``body["state"]`` of a ``workflow_runs`` document) grows with
its conversation in two lists per thread: ``history`` (the chat messages) and
``visited`` (the nodes it ran). Since schema version 14 the run row keeps the state
with both lists empty, plus a mark ``body["history_log"] = {"rows": n, "lengths":
{thread id: [history length, visited length]}}``; the lists themselves are in
history rows, one per save that changed them (in ``run_history``, or since schema
16 carried by the turn's segment in ``run_turns``), holding only the change:
``{"threads": {thread id: {"history": [start, items], "visited": [start, items]}}}``
(the list becomes ``list[:start] + items``; ``start`` is the stored length when the
turn only appended, 0 when it rewrote the list). Reading applies the rows in order
and cuts each list to the mark's length, so a row's bytes and the run row's bytes
stay the same however long the conversation gets.

A run stored in the older shape (whole lists in the row, no mark) reads as it is;
its next save writes its lists from the start. Migration 14 converts such rows.

These functions are pure (no I/O): the service reads the rows and writes them, and
the migration uses the same code.
"""

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

JsonDict = dict[str, Any]

MARK = "history_log"
"""The key of the mark in a run document's body."""
BASE = "_history_base"
"""In memory only: what ``run_history`` holds for a run read in full (``join``):
``{"rows": n, "lists": {thread id: {name: list}}}``; ``split`` writes the change."""
LISTS = ("history", "visited")


Lists = dict[str, dict[str, list[Any]]]


def _accumulate(rows: Iterable[JsonDict], lists: Lists) -> Lists:
    for row in rows:
        for thread_id, change in (row.get("threads") or {}).items():
            held = lists.setdefault(thread_id, {})
            for name, (start, items) in change.items():
                current = held.setdefault(name, [])
                del current[start:]
                current.extend(items)
    return lists


def join(body: JsonDict, rows: Iterable[JsonDict]) -> JsonDict:
    """The body with its whole state, from the run row's ``body`` and every one
    of its ``run_history`` rows, in order."""
    return join_lists(body, _accumulate(rows, {}), rows_count(body))


def rows_count(body: JsonDict) -> int:
    mark = body.get(MARK)
    return int(mark.get("rows") or 0) if isinstance(mark, dict) else 0


def accumulated(rows: Iterable[JsonDict], lists: Lists | None = None) -> Lists:
    """Each thread's lists as the rows leave them (before the mark's lengths),
    the rows applied onto ``lists`` (changed in place) when given."""
    return _accumulate(rows, {} if lists is None else lists)


def join_lists(
    body: JsonDict, lists: Mapping[str, Mapping[str, list[Any]]], rows: int
) -> JsonDict:
    """``join`` from lists already accumulated over the first ``rows`` rows."""
    mark = body.get(MARK)
    state = body.get("state")
    if not isinstance(mark, dict) or not isinstance(state, dict):
        # The older shape (the lists are in the state) or no state yet.
        return {**body, BASE: {"rows": rows_count(body), "lists": {}}}
    lengths = mark.get("lengths") or {}
    threads = {}
    for thread_id, thread in (state.get("threads") or {}).items():
        sizes = lengths.get(thread_id) or [0] * len(LISTS)
        held = lists.get(thread_id) or {}
        whole = dict(thread)
        for name, size in zip(LISTS, sizes, strict=True):
            whole[name] = (held.get(name) or [])[:size]  # a slice is a new list
        threads[thread_id] = whole
    base = {
        "rows": rows,
        "lists": {
            t: {n: list(v) for n, v in held.items()} for t, held in lists.items()
        },
    }
    return {**body, "state": {**state, "threads": threads}, BASE: base}


def _change(old: list[Any], new: list[Any]) -> list[Any] | None:
    """``[start, items]`` turning ``old`` into ``new``; None when they are equal."""
    if not isinstance(old, list) or not isinstance(new, list):
        old, new = list(old), list(new)
    size = len(old)
    if len(new) >= size and new[:size] == old:
        return None if len(new) == size else [size, new[size:]]
    if len(new) < size and old[: len(new)] == new:
        return [len(new), []]
    return [0, list(new)]


def split(body: JsonDict) -> tuple[JsonDict, JsonDict | None]:
    """The run row's body (lists out, mark in) and the ``run_history`` row to
    append (None: the lists did not change), from a body with its whole state.

    ``body[BASE]`` (set by ``join``) says what is stored already; without it
    nothing is, and the lists are written from the start."""
    base = body.get(BASE) or {"rows": 0, "lists": {}}
    row = {k: v for k, v in body.items() if k != BASE}
    state = row.get("state")
    if not isinstance(state, dict):
        return row, None
    held: Mapping[str, Mapping[str, list[Any]]] = base.get("lists") or {}
    changes: JsonDict = {}
    lengths: JsonDict = {}
    threads = {}
    for thread_id, thread in (state.get("threads") or {}).items():
        stored = held.get(thread_id) or {}
        kept = dict(thread)
        sizes = []
        for name in LISTS:
            # Read only (``_change`` copies what it keeps): no copies of the lists.
            new = thread.get(name) or []
            change = _change(stored.get(name) or [], new)
            if change is not None:
                changes.setdefault(thread_id, {})[name] = change
            sizes.append(len(new))
            kept[name] = []
        lengths[thread_id] = sizes
        threads[thread_id] = kept
    rows = int(base.get("rows") or 0) + (1 if changes else 0)
    row["state"] = {**state, "threads": threads}
    row[MARK] = {"rows": rows, "lengths": lengths}
    return row, ({"threads": changes} if changes else None)


def after_save(body: JsonDict, saved: JsonDict) -> JsonDict:
    """The in-memory body once ``split(body)`` is stored: whole state, and a base
    that says the lists are stored as they are now."""
    lists: dict[str, dict[str, list[Any]]] = {
        t: {n: list(v) for n, v in held.items()}
        for t, held in ((body.get(BASE) or {}).get("lists") or {}).items()
    }
    state = body.get("state")
    if isinstance(state, dict):
        for thread_id, thread in (state.get("threads") or {}).items():
            lists[thread_id] = {n: list(thread.get(n) or []) for n in LISTS}
    rows = rows_count(saved)
    return {**body, MARK: saved.get(MARK), BASE: {"rows": rows, "lists": lists}}


class HistoryCache:
    """The accumulated lists of the ``size`` runs used last, by run id."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._held: OrderedDict[str, tuple[int, Lists]] = OrderedDict()

    def get(self, run_id: str) -> tuple[int, Lists] | None:
        found = self._held.get(run_id)
        if found is not None:
            self._held.move_to_end(run_id)
        return found

    def put(self, run_id: str, rows: int, lists: Lists) -> None:
        if self.size <= 0:
            return
        self._held[run_id] = (rows, lists)
        self._held.move_to_end(run_id)
        while len(self._held) > self.size:
            self._held.popitem(last=False)

    def forget(self, run_id: str) -> None:
        self._held.pop(run_id, None)
