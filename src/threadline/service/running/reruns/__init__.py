"""Re-runs: a new run that starts from a turn of an existing run.

The state at the checkpoint turn is rebuilt by replaying the source run's record
through the engine; no node runs again. The modules, in the order they build on
each other:

- ``replay``: rebuilding a run's engine state at an earlier turn from its record;
- ``source``: the source run, its turns, which of them are re-runnable, the state
  at a checkpoint;
- ``targets``: where a re-run goes (``EXACT``, ``REMAPPED``, ``PORTABLE``) and how
  much it keeps;
- ``history``: what of the conversation a re-run carries over;
- ``placement``: the carried state put onto the target's nodes;
- ``start``: preflight, and creating (and continuing) the re-run;
- ``tokens``: re-run tokens, a re-run projected now and redeemed (once) later
  (``token_records`` the stored tokens, ``token_amendments`` editing a
  projection).

Public names (re-exported here): ``preflight``, ``execute``, ``rerunnable_turns``,
``rerun_ids``, ``lineage_type``, ``RerunTokenInvalid``, ``TOKEN_TTL_S``; the token
operations are in ``tokens``.
"""

from threadline.service.running.reruns.source import (
    lineage_type,
    rerun_ids,
    rerunnable_turns,
)
from threadline.service.running.reruns.start import execute, preflight
from threadline.service.running.reruns.tokens import TOKEN_TTL_S, RerunTokenInvalid

__all__ = [
    "TOKEN_TTL_S",
    "RerunTokenInvalid",
    "execute",
    "lineage_type",
    "preflight",
    "rerun_ids",
    "rerunnable_turns",
]
