"""Test helpers for timing-dependent LLM code (groups, backchannel).

- ``DelayedLLM(inner, delay_ms)``: an ``LLM`` that waits ``delay_ms`` (the
  ``asyncio`` clock) before asking ``inner`` (e.g. a ``ScriptedLLM``), and records
  what happened to each call in ``log`` (``started``/``answered``/``failed``/
  ``cancelled``) and every response served in ``responses``. ``delay_ms`` may be
  a list: one delay per call, in order (the last one repeats).
- ``run_virtual(coro)``: run ``coro`` on an event loop whose clock is virtual: when
  nothing is ready to run, time jumps straight to the next timer. Races therefore
  finish instantly and always in the same order, and ``loop.time()`` deltas are
  exact (a 1500 ms patience window reads as exactly 1.5 s).
"""

import asyncio
import selectors
from collections.abc import Coroutine, Iterable, Mapping
from typing import Any, TypeVar

from threadline.providers.base import LLM, ChatRequest, ChatResponse

__all__ = ["DelayedLLM", "VirtualTimeLoop", "run_virtual"]

T = TypeVar("T")


class DelayedLLM:
    """An ``LLM`` answering through ``inner`` after a delay."""

    def __init__(self, inner: LLM, delay_ms: float | Iterable[float] = 0.0) -> None:
        self.inner = inner
        self._delays = (
            [float(delay_ms)]
            if isinstance(delay_ms, int | float)
            else [float(d) for d in delay_ms]
        )
        self.log: list[str] = []
        self.calls = 0
        self.responses: list[ChatResponse] = []
        """Every response served (what accounting must add up to)."""

    async def chat(self, request: ChatRequest) -> ChatResponse:
        delay = self._delays[min(self.calls, len(self._delays) - 1)]
        self.calls += 1
        self.log.append("started")
        try:
            await asyncio.sleep(delay / 1000.0)
            response = await self.inner.chat(request)
        except asyncio.CancelledError:
            self.log.append("cancelled")
            raise
        except Exception:
            self.log.append("failed")
            raise
        self.log.append("answered")
        self.responses.append(response)
        return response


class _VirtualSelector(selectors.BaseSelector):
    """Polls the real selector, then advances virtual time instead of blocking."""

    def __init__(self) -> None:
        self._real = selectors.DefaultSelector()
        self.now = 0.0

    def register(
        self, fileobj: Any, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def select(
        self, timeout: float | None = None
    ) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready:
            return ready
        if timeout is None:
            raise RuntimeError("virtual time: every task waits and no timer is set")
        self.now += max(0.0, timeout)
        return []

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` only moves when everything is waiting."""

    def __init__(self) -> None:
        self._virtual = _VirtualSelector()
        super().__init__(self._virtual)

    def time(self) -> float:
        return self._virtual.now


def run_virtual(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh ``VirtualTimeLoop``."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
