"""A clock the test moves by hand (no sleeping)."""


class HandClock:
    """Callable like ``time.time``; the test sets or advances ``now``."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
