"""The ``schedules`` collection as a queue of starts: its constants, the lock of
one queued document, and the team's due starts in order.

A pending document's ``updated_at`` column is its due time (see ``schedules``);
its place in the queue is its ``scheduled_time``, then its id.
"""

from datetime import datetime
from typing import Literal

from threadline.service.automation.schedule_times import parse_time
from threadline.store import Document, Query, Transaction

COLLECTION = "schedules"
Status = Literal["pending", "in_progress", "completed", "failed", "cancelled"]
STATUSES: tuple[str, ...] = (
    "pending",
    "in_progress",
    "completed",
    "failed",
    "cancelled",
)
ONE_OFF = "one_off"
CRON = "cron"
EVALUATION_START = "evaluation_start"
"""Type of a waiting evaluation start (internal; hidden from the schedules API)."""
TAG = "threadline_schedule"
"""The ``miscellaneous`` key tying a run to the queued start that created it."""


def lock_key(doc_id: str) -> str:
    """The lock serialising read-modify-write of one queued document."""
    return f"threadline:schedule:{doc_id}"


def queue_key(doc: Document) -> tuple[datetime, str]:
    """A queued start's place: its due (or arrival) time, then its id."""
    return (due_time(doc), doc.id)


async def team_queue(tx: Transaction, team_id: str, now: datetime) -> list[Document]:
    """The team's due pending starts (schedules and evaluation starts), in order."""
    docs, _ = await tx.documents(COLLECTION).find(
        team_id, Query(equals={"status": "pending"})
    )
    due = [d for d in docs if due_time(d) <= now]
    return sorted(due, key=queue_key)


def position(queue: list[Document], doc_id: str, level: str) -> int:
    """1-based place of ``doc_id`` among the starts of its scope in ``queue``
    (the whole team for the ``team`` level, its workflow for ``workflow``)."""
    mine = next(d for d in queue if d.id == doc_id)
    ahead = 0
    for doc in queue:
        if doc.id == doc_id:
            break
        if level == "team" or doc.workflow_id == mine.workflow_id:
            ahead += 1
    return ahead + 1


def due_time(doc: Document) -> datetime:
    """When a pending schedule is due (its ``scheduled_time``)."""
    return parse_time(doc.body["scheduled_time"])
