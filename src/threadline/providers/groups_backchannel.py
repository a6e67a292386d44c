"""Backchannel (§11.2, SDK example 22): a filler spoken while the main LLM is slow.

``Backchannel.from_config(llms_config)`` reads an ``llm_group_with_backchannel``
config (None for any other config, or one with neither filler source):

- ``backchannel_min_patience_time_ms`` (2000; null → 2000): how long the main call
  may take before a filler is produced. A main answer within the window means no
  filler at all (no backchannel call is made, nothing is spent).
- The filler comes from ``backchannel_static_responses`` when that list is set
  (the SDK: the LLM is "only used when backchannel_static_responses is NOT set"),
  picked per ``backchannel_static_responses_selection_mode`` (``random``, or
  ``sequence``: the n-th filler of the conversation is item n, the last one
  repeating, as ``SelectionMode.select``); else from one call of
  ``backchannel_llm_config`` (an LLM group), started when the window ends.
- ``non_backchannel_response_prefix``: after a spoken filler only the main text
  after the first occurrence of the prefix is spoken; without a filler the prefix
  marker is just removed (never read out) [INF].

:func:`race` runs the main call against the window. The filler coroutine is
started when the window ends; if the main answer arrives before the filler is
produced, the filler is cancelled (it is not spoken, and a filler LLM call
cancelled before its response costs nothing); if the filler is produced first, it
completes (the caller speaks it then, so it comes first) and the race then waits
for the main answer. A main failure cancels a pending filler and is raised.
"""

import asyncio
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["DEFAULT_BACKCHANNEL_PROMPT", "Backchannel", "race"]

JsonDict = dict[str, Any]
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[Any]]
DEFAULT_PATIENCE_MS = 2000
DEFAULT_BACKCHANNEL_PROMPT = (
    "You are a voice assistant. The user's request is being worked on and the full "
    "answer will follow in a moment. Reply with one very short, natural filler "
    "phrase acknowledging the user (for example: 'Let me check that for you...'). "
    "Do not answer the request itself."
)


@dataclass(frozen=True)
class Backchannel:
    """The backchannel settings of one ``llm_group_with_backchannel`` config."""

    patience_ms: float = DEFAULT_PATIENCE_MS
    llm_config: JsonDict | None = None
    static_responses: tuple[str, ...] = ()
    selection_mode: str = "random"
    prefix: str | None = None
    rng: random.Random = field(default_factory=random.Random, compare=False)

    @classmethod
    def from_config(cls, config: JsonDict | None) -> "Backchannel | None":
        if not config or config.get("type") != "llm_group_with_backchannel":
            return None
        static = tuple(str(s) for s in config.get("backchannel_static_responses") or ())
        llm = config.get("backchannel_llm_config") or None
        if not static and not llm:
            return None
        patience = config.get("backchannel_min_patience_time_ms")
        return cls(
            patience_ms=DEFAULT_PATIENCE_MS if patience is None else float(patience),
            llm_config=None if static else dict(llm or {}),
            static_responses=static,
            selection_mode=str(
                config.get("backchannel_static_responses_selection_mode") or "random"
            ),
            prefix=config.get("non_backchannel_response_prefix") or None,
        )

    def pick_static(self, previous: int) -> str:
        """The static filler to speak, ``previous`` fillers having been spoken."""
        items = self.static_responses
        if self.selection_mode == "sequence":
            return items[min(previous, len(items) - 1)]
        return self.rng.choice(items)

    def main_text(self, text: str, *, after_filler: bool) -> str:
        """The main answer's text to speak (see the prefix rule above)."""
        if not self.prefix or self.prefix not in text:
            return text
        before, _, after = text.partition(self.prefix)
        if after_filler:
            return after.strip()
        return " ".join(p for p in (before.strip(), after.strip()) if p)


async def race(
    main: Coroutine[Any, Any, T],
    filler: Callable[[], Coroutine[Any, Any, Any]],
    patience_ms: float,
    *,
    sleep: Sleep = asyncio.sleep,
) -> T:
    """Await ``main``; start ``filler()`` if ``main`` outlasts ``patience_ms``."""
    main_task = asyncio.ensure_future(main)
    timer = asyncio.ensure_future(sleep(max(0.0, patience_ms) / 1000.0))
    filler_task: asyncio.Future[Any] | None = None
    try:
        await asyncio.wait({main_task, timer}, return_when=asyncio.FIRST_COMPLETED)
        if main_task.done():
            return main_task.result()
        filler_task = asyncio.ensure_future(filler())
        await asyncio.wait(
            {main_task, filler_task}, return_when=asyncio.FIRST_COMPLETED
        )
        if filler_task.done():
            filler_task.result()  # a filler bug is not swallowed
        return await main_task
    finally:
        pending = [
            t for t in (main_task, timer, filler_task) if t is not None and not t.done()
        ]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
