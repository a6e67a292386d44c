"""The operator's ceilings on tool calls, and the slots that bound how many run at once.

A tenant asks for a ``timeout_seconds`` within :class:`ToolCeilings`; asking for more
is refused when the config is saved (``service.definitions.tool_limits``), and a config
saved before the operator lowered a ceiling is clamped to it when it runs, the error
naming the ceiling.

:class:`ToolSlots` counts the tool calls in flight in this process, in total and per
team. A call past either count waits, in arrival order of wake-ups, up to
``queue_seconds`` for a slot, then fails with ``error_type="capacity"``. The counts
live in this process's memory: with several processes, a team may run up to
``max_concurrent_per_team`` tools in each of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass

from threadline.tools.outcomes import ToolFailure

__all__ = [
    "CAPACITY",
    "SERVER_LIMITS",
    "TEMPLATE_LIMIT",
    "ToolCeilings",
    "ToolSlots",
    "asked_seconds",
]

CAPACITY = "capacity"
"""``error_type`` of a call that found no free slot in time."""
TEMPLATE_LIMIT = "template_limit"
"""``error_type`` of a call whose templates (code, URL, body) hit a render limit."""
SERVER_LIMITS = frozenset({CAPACITY, TEMPLATE_LIMIT})
"""Failures caused by an operator's ceiling rather than the tool itself: a run
reports them with a ``workflow_warning`` event too."""


@dataclass(frozen=True, slots=True)
class ToolCeilings:
    """What one tool call may use (``THREADLINE_TOOL_*`` settings)."""

    max_seconds: int = 60
    """The largest ``timeout_seconds`` a tool may ask; also the bound of a call that
    asks none (``THREADLINE_TOOL_MAX_SECONDS``)."""
    memory_mb: int = 256
    """Address space of one inline Python tool process, in MB
    (``THREADLINE_TOOL_MEMORY_MB``)."""
    max_concurrent: int = 4
    """Tool calls in flight in one process (0: unlimited)."""
    max_concurrent_per_team: int = 2
    """Tool calls of one team in flight in one process (0: unlimited)."""
    queue_seconds: float = 10.0
    """How long a call waits for a free slot before it fails (``capacity``)."""

    def __post_init__(self) -> None:
        if self.max_seconds < 1 or self.memory_mb < 32 or self.queue_seconds < 0:
            raise ValueError(
                "tool ceilings: max_seconds >= 1, memory_mb >= 32, queue_seconds >= 0"
            )
        if min(self.max_concurrent, self.max_concurrent_per_team) < 0:
            raise ValueError("tool ceilings: concurrency limits must be >= 0")

    def seconds_for(self, asked: object) -> float:
        """The time a call gets: what it asked (a positive number), at most the
        ceiling; the ceiling when it asked nothing usable."""
        seconds = asked_seconds(asked)
        return float(
            self.max_seconds if seconds is None else min(seconds, self.max_seconds)
        )

    def over(self, asked: object) -> bool:
        """Whether ``asked`` (a ``timeout_seconds``) is above the ceiling."""
        seconds = asked_seconds(asked)
        return seconds is not None and seconds > self.max_seconds


def asked_seconds(asked: object) -> float | None:
    """A ``timeout_seconds`` as a positive finite number, else None (unset)."""
    if isinstance(asked, bool) or not isinstance(asked, int | float):
        return None
    return float(asked) if math.isfinite(asked) and asked > 0 else None


class ToolSlots:
    """Counts of tool calls in flight, in total and per team (see the module)."""

    def __init__(self, ceilings: ToolCeilings) -> None:
        self.ceilings = ceilings
        self.total = 0
        self.per_team: dict[str, int] = {}
        self._waiters: list[asyncio.Future[None]] = []

    def _reason(self, team_id: str) -> str | None:
        """Why a call of ``team_id`` cannot start now, or None if it can."""
        c = self.ceilings
        if c.max_concurrent_per_team and (
            self.per_team.get(team_id, 0) >= c.max_concurrent_per_team
        ):
            return (
                f"the team already runs {c.max_concurrent_per_team} tools at once "
                "(THREADLINE_TOOL_MAX_CONCURRENT_PER_TEAM)"
            )
        if c.max_concurrent and self.total >= c.max_concurrent:
            return (
                f"the server already runs {c.max_concurrent} tools at once "
                "(THREADLINE_TOOL_MAX_CONCURRENT)"
            )
        return None

    @contextlib.asynccontextmanager
    async def hold(self, team_id: str) -> AsyncIterator[None]:
        """Take a slot for one call of ``team_id`` for the duration of the block;
        raise ``ToolFailure`` (``capacity``) when none frees up in time."""
        await self._acquire(team_id)
        try:
            yield
        finally:
            self._release(team_id)

    async def _acquire(self, team_id: str) -> None:
        loop = asyncio.get_running_loop()
        wait = self.ceilings.queue_seconds
        try:
            async with asyncio.timeout(wait):
                while self._reason(team_id) is not None:
                    waiter = loop.create_future()
                    self._waiters.append(waiter)
                    try:
                        await waiter
                    finally:
                        with contextlib.suppress(ValueError):
                            self._waiters.remove(waiter)
        except TimeoutError:
            reason = self._reason(team_id) or "no tool slot was free"
            raise ToolFailure(
                f"the tool did not run: after waiting {wait:g} s, {reason}", CAPACITY
            ) from None
        self.total += 1
        self.per_team[team_id] = self.per_team.get(team_id, 0) + 1

    def _release(self, team_id: str) -> None:
        self.total -= 1
        left = self.per_team[team_id] - 1
        if left:
            self.per_team[team_id] = left
        else:
            del self.per_team[team_id]
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
