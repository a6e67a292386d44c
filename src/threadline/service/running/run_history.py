"""A run read with its whole state, and saved by appending what its turn added.

The run row holds the engine state without its growing lists (each thread's chat
``history`` and ``visited`` nodes); those are appended to ``run_history``
(``store.history_log`` has the format). ``whole`` reads a run's lists back into its
state; ``save`` and ``insert`` write a run whose state is whole: the row, and the
change of the lists as one appended row when there is one.

This process keeps the lists of its most recent runs (``HistoryCache``): a row of
``run_history`` is never rewritten, so lists accumulated over a run's first ``n``
rows stay true as long as the run row says it has ``n`` rows, and the next turn
reads only the rows added since (none, when this process ran the last turn).
"""

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from threadline.store import Document, Transaction, segment_nodes
from threadline.store import history_log as log
from threadline.store.history_log import HistoryCache, Lists

JsonDict = dict[str, Any]


def _copy(lists: Lists) -> Lists:
    return {t: {n: list(v) for n, v in held.items()} for t, held in lists.items()}


async def whole(
    tx: Transaction, doc: Document, cache: HistoryCache | None = None
) -> Document:
    """``doc`` with its whole state (read inside ``tx``)."""
    body = doc.body
    rows = log.rows_count(body)
    if log.MARK not in body or not isinstance(body.get("state"), dict):
        return replace(doc, body=log.join_lists(body, {}, rows))
    found = cache.get(doc.id) if cache is not None else None
    if found is not None and found[0] == rows:
        # Up to date: ``join_lists`` copies what it takes, nothing changes these.
        return replace(doc, body=log.join_lists(body, found[1], rows))
    if found is not None and found[0] < rows:
        held, lists = found[0], _copy(found[1])
    else:
        held, lists = 0, {}
    if held < rows:
        added = await tx.turns().history(doc.team_id, doc.id, held)
        lists = log.accumulated(added, lists)
        if cache is not None:
            cache.put(doc.id, rows, _copy(lists))
    return replace(doc, body=log.join_lists(body, lists, rows))


async def save(
    tx: Transaction,
    doc: Document,
    *,
    expected_status: str | None = None,
    segment: tuple[int, JsonDict] | None = None,
) -> Document | None:
    """Write ``doc`` (whole state) over its run row, appending the change of its
    lists; None when the row's status was not ``expected_status``. ``segment``:
    the turn's segment ``(index, body)``, appended carrying the change (one
    statement for both). The document returned is ``doc`` as now stored (pass it
    to ``remember`` once committed)."""
    row, change = log.split(doc.body)
    at = datetime.now(UTC)
    rows = log.rows_count(row)
    carried = None if change is None else (rows - 1, change)
    after = log.after_save(doc.body, row)
    if segment is not None:
        # The segment's visited lists are those the history rows now hold: it
        # stores a reference to them (``store.segment_nodes``), not the lists.
        lists = after[log.BASE]["lists"]
        body = segment_nodes.by_reference(segment[1], lists, rows)
        await tx.turns().append(  # one statement with the row's write below
            doc.team_id, doc.id, segment[0], body, at, history=carried, later=True
        )
    elif carried is not None:
        await tx.turns().append_history(doc.team_id, doc.id, *carried, at)
    stored = replace(doc, body=row)
    runs = tx.documents("workflow_runs")
    if not await runs.replace(stored, expected_status=expected_status):
        return None
    return replace(doc, body=after)


async def insert(tx: Transaction, doc: Document) -> Document:
    """Insert a new run whose state is whole (e.g. a re-run's checkpoint)."""
    row, change = log.split(doc.body)
    if change is not None:
        await tx.turns().append_history(
            doc.team_id, doc.id, 0, change, datetime.now(UTC)
        )
    await tx.documents("workflow_runs").insert(replace(doc, body=row))
    return replace(doc, body=log.after_save(doc.body, row))


def remember(cache: HistoryCache, doc: Document) -> None:
    """After the transaction that saved ``doc`` committed: keep its lists."""
    base = doc.body.get(log.BASE)
    if isinstance(base, dict):
        cache.put(doc.id, int(base.get("rows") or 0), _copy(base.get("lists") or {}))
