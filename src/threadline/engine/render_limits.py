"""Ceilings on what one template render may build, and the budget that enforces them.

Filters amplify: ``replace: 'a', 'aaaaaaaaaa'`` eight times turns 10 characters into
a billion. Every render (``templates.render`` / ``render_value``, one resolver of a
condition) gets a :class:`Budget` from the operator's :class:`RenderLimits`:

- every value a placeholder or a filter produces, and the text one render
  substitutes in total, is at most ``max_chars`` characters; where a filter's result
  size is known in advance (``replace``, ``append``, ``prepend``, ``join``, ``date``)
  it is checked *before* the result is built;
- the characters produced by all the steps of one render are at most ``max_work``;
- one render applies at most ``max_steps`` placeholders and filters.

Past a ceiling the render raises :class:`RenderLimitExceeded`, whose message names the
ceiling and its ``THREADLINE_*`` setting; the engine turns it into a ``workflow_error``
event. Pure: the limits are passed in by the shell.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Budget", "RenderLimitExceeded", "RenderLimits"]


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """What one render may build (``THREADLINE_TEMPLATE_*`` settings)."""

    max_chars: int = 1_000_000
    """Characters of any value a placeholder or filter produces, and of all the
    text one render substitutes (``THREADLINE_TEMPLATE_MAX_CHARS``)."""
    max_work: int = 10_000_000
    """Characters produced by all the steps of one render
    (``THREADLINE_TEMPLATE_MAX_WORK``)."""
    max_steps: int = 10_000
    """Placeholders and filters one render applies
    (``THREADLINE_TEMPLATE_MAX_STEPS``)."""

    def __post_init__(self) -> None:
        if min(self.max_chars, self.max_work, self.max_steps) < 1:
            raise ValueError("render limits must be positive")


class RenderLimitExceeded(ValueError):
    """A render went past one of its :class:`RenderLimits`."""


class Budget:
    """The running totals of one render against its limits."""

    __slots__ = ("limits", "steps", "substituted", "work")

    def __init__(self, limits: RenderLimits | None = None) -> None:
        self.limits = limits or RenderLimits()
        self.steps = 0
        self.work = 0
        self.substituted = 0

    def step(self) -> None:
        """Count one placeholder or filter."""
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise RenderLimitExceeded(
                f"template has more than {self.limits.max_steps:,} placeholders and "
                "filters to apply in one render (THREADLINE_TEMPLATE_MAX_STEPS)"
            )

    def expect(self, size: int, what: str) -> None:
        """Refuse, before building it, a value of ``size`` characters."""
        if size > self.limits.max_chars:
            raise RenderLimitExceeded(
                f"{what} would be {size:,} characters, over the limit of "
                f"{self.limits.max_chars:,} (THREADLINE_TEMPLATE_MAX_CHARS)"
            )

    def produced(self, size: int, what: str) -> None:
        """Count a value of ``size`` characters just built."""
        self.expect(size, what)
        self.work += size
        if self.work > self.limits.max_work:
            raise RenderLimitExceeded(
                f"template rendering built more than {self.limits.max_work:,} "
                "characters in one render (THREADLINE_TEMPLATE_MAX_WORK)"
            )

    def substitute(self, size: int) -> None:
        """Count ``size`` characters written into the rendered text."""
        self.substituted += size
        self.expect(self.substituted, "the substituted text of the template")
