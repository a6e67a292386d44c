"""The frames of a streamed turn, as ``broadcast`` numbers, buffers and fans them out.

A turn's frames carry, in order, its live text deltas (``Delta``), then each event of
the finished turn (``Event``) and its end (``Finished``), or the error that ended it
(``Failed``); ``Stored`` is the end of a run's last turn read back from the store.
"""

from dataclasses import dataclass
from typing import Any

from threadline.engine.turn import TurnOutcome
from threadline.store import Document

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Delta:
    """A live ``assistant_response_delta`` event."""

    event: JsonDict


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a finished turn, in the turn's order."""

    event: JsonDict


@dataclass(frozen=True, slots=True)
class Finished:
    """The turn ran and was saved (follows the turn's ``Event`` frames)."""

    doc: Document
    outcome: TurnOutcome


@dataclass(frozen=True, slots=True)
class Failed:
    """The service refused or failed the turn."""

    error: Exception


Item = Delta | Event | Finished | Failed


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of a run: its sequence number (None: the turn's own client only)."""

    seq: int | None
    run_id: str | None
    item: Item

    @property
    def ends_turn(self) -> bool:
        return isinstance(self.item, Finished | Failed)


@dataclass(frozen=True, slots=True)
class Stored:
    """The end of the run's last recorded turn, read back from the store."""

    doc: Document
    outcome: TurnOutcome
