"""The run state machine: which command fits which status.

    status \\ command          start/data   resume   pause    stop
    (no run yet)              new run      409      409      409
    not_started               run turn 1   409      409      cancel
    waiting_for_user_input    continue     409      pause    cancel
    paused                    409          continue 409      cancel
    started, running          409 (a turn is in progress)
    completed, failed,        409 (the run is over)
    cancelled, aborted_looping_risk

The SDK sends ``start`` with the run id on every later turn: that continues the run,
exactly like ``data``.
"""

from threadline.errors import Conflict

TERMINAL = frozenset({"completed", "failed", "cancelled", "aborted_looping_risk"})
_BUSY = frozenset({"started", "running"})


def check(status: str | None, command: str) -> None:
    """Raise ``Conflict`` (409) unless ``command`` fits a run in ``status``."""
    if status is None:
        if command not in ("start", "data"):
            raise Conflict(
                f"command {command!r} needs an existing run; send 'start' first"
            )
        return
    if status in TERMINAL:
        raise Conflict(f"the run is {status}; it accepts no more commands")
    if status in _BUSY:
        raise Conflict("a turn of this run is in progress; retry when it has finished")
    allowed = {
        "not_started": {"start", "data", "stop"},
        "waiting_for_user_input": {"start", "data", "pause", "stop", "pump"},
        "paused": {"resume", "stop"},
    }.get(status, set())
    if command not in allowed:
        names = ", ".join(sorted(allowed)) or "none"
        raise Conflict(
            f"command {command!r} does not fit a {status} run (allowed: {names})"
        )
