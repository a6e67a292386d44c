"""One call of an LLM group: the member tasks, the patience timers and the
decision (the timing rules are in ``groups``' docstring)."""

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from threadline.providers.base import LLM, ChatRequest, ChatResponse, LLMError
from threadline.providers.groups_config import (
    PARALLEL_SELECT_ONE,
    JsonDict,
    Sleep,
    call_records,
)


class RacingGroup(Protocol):
    """What a race reads of its group (``groups.GroupLLM``)."""

    group: JsonDict
    members: list[JsonDict]
    mode: str
    min_patience_s: float
    max_patience_s: float | None
    sleep: Sleep
    clock: Callable[[], float]

    def client(self, config: JsonDict) -> LLM: ...


def label(index: int, config: JsonDict) -> str:
    model = config.get("model") or config.get("type") or "?"
    return f"llms[{index}] ({model})"


class Race:
    """One group call: the member tasks, the patience timers and the decision."""

    def __init__(self, group: RacingGroup, request: ChatRequest) -> None:
        self.group = group
        self.request = request
        self.tasks: dict[int, asyncio.Task[ChatResponse]] = {}
        self.started_at = group.clock()

    async def _call(self, index: int) -> ChatResponse:
        config = self.group.members[index]
        client = self.group.client(config)
        return await client.chat(replace(self.request, llm_config=config, on_text=None))

    def _start(self, indexes: range) -> None:
        for i in indexes:
            self.tasks[i] = asyncio.create_task(self._call(i), name=f"llm_group[{i}]")

    def _answered(self) -> list[int]:
        return sorted(
            i
            for i, t in self.tasks.items()
            if t.done() and not t.cancelled() and t.exception() is None
        )

    def _finished(self) -> bool:
        all_started = len(self.tasks) == len(self.group.members)
        return all_started and all(t.done() for t in self.tasks.values())

    def _raise_fatal(self) -> None:
        for task in self.tasks.values():
            if task.done() and not task.cancelled():
                exc = task.exception()
                if isinstance(exc, AssertionError):
                    raise exc

    async def run(self) -> ChatResponse:
        g = self.group
        grace = asyncio.create_task(_wait(g.sleep, g.min_patience_s))
        cap: asyncio.Task[None] | None = None
        if g.max_patience_s is not None:
            cap = asyncio.create_task(_wait(g.sleep, g.max_patience_s))
        parallel = g.mode == PARALLEL_SELECT_ONE
        try:
            self._start(range(len(g.members)) if parallel else range(1))
            while True:
                waiting = {t for t in self.tasks.values() if not t.done()}
                timers = {t for t in (grace, cap) if t is not None and not t.done()}
                if waiting:
                    await asyncio.wait(
                        waiting | timers, return_when=asyncio.FIRST_COMPLETED
                    )
                self._raise_fatal()
                winner = self._decide(parallel, grace)
                if winner is not None:
                    return await self._finish(winner)
                if cap is not None and cap.done():
                    raise self._error(timeout=True)
                if self._finished():
                    raise self._error(timeout=False)
        finally:
            await self._cancel_all(grace, cap)

    def _decide(self, parallel: bool, grace: asyncio.Task[Any]) -> int | None:
        answered = self._answered()
        if parallel:
            if answered and (grace.done() or self._finished()):
                return answered[0]
            return None
        if len(self.tasks) == 1:  # only llms[0] runs so far
            first = self.tasks[0]
            if answered:
                return 0
            if grace.done() or first.done():
                self._start(range(1, len(self.group.members)))
            return None
        return answered[0] if answered else None

    async def _finish(self, winner: int) -> ChatResponse:
        losers = [t for i, t in self.tasks.items() if i != winner and not t.done()]
        for loser in losers:
            loser.cancel()
        await asyncio.gather(*losers, return_exceptions=True)
        records: list[JsonDict] = []
        members: list[JsonDict] = []
        for i, config in enumerate(self.group.members):
            entry: JsonDict = {
                "index": i,
                "model": config.get("model"),
                "logical_id": config.get("logical_id"),
                "status": "not_started",
                "error": None,
            }
            task = self.tasks.get(i)
            if task is not None:
                if task.cancelled():
                    entry["status"] = "cancelled"
                elif task.exception() is not None:
                    entry["status"] = "failed"
                    entry["error"] = _reason(task.exception())
                else:  # answered (possibly despite a late cancel): it was paid for
                    records.extend(call_records(task.result()))
                    entry["status"] = "won" if i == winner else "lost"
            members.append(entry)
        response = self.tasks[winner].result()
        name = self.group.members[winner].get("logical_id") or f"llms[{winner}]"
        info = {
            "type": self.group.group.get("type") or "llm_group",
            "operation_mode": self.group.mode,
            "winner": name,
            "winner_index": winner,
            "elapsed_ms": round((self.group.clock() - self.started_at) * 1000, 3),
            "members": members,
        }
        extra = {**response.extra, "group": info, "group_calls": records}
        return replace(response, winner=str(name), extra=extra)

    def _error(self, *, timeout: bool) -> LLMError:
        parts: list[str] = []
        for i, config in enumerate(self.group.members):
            task = self.tasks.get(i)
            if task is None:
                why = "not started"
            elif not task.done():
                why = "no answer yet"
            elif task.cancelled():
                why = "cancelled"
            else:
                why = _reason(task.exception())
            parts.append(f"{label(i, config)}: {why}")
        details = "; ".join(parts)
        if timeout:
            limit = round((self.group.max_patience_s or 0) * 1000)
            return LLMError(
                f"no member of the llm_group answered within max_patience_time_ms="
                f"{limit} ({details})",
                code="llm_group_timeout",
            )
        count = len(self.group.members)
        return LLMError(
            f"all {count} members of the llm_group failed ({details})",
            code="llm_group_failed",
        )

    async def _cancel_all(self, *timers: asyncio.Task[Any] | None) -> None:
        pending = [t for t in (*self.tasks.values(), *timers) if t and not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


def loop_time() -> float:
    return asyncio.get_running_loop().time()


async def _wait(sleep: Sleep, seconds: float) -> None:
    await sleep(seconds)


def _reason(exc: BaseException | None) -> str:
    if exc is None:
        return "ok"
    message = getattr(exc, "message", None) or str(exc)
    return f"{type(exc).__name__}: {message}"
