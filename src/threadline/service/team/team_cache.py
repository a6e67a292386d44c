"""Per-process caches of what every request or turn reads and seldom changes.

Three things are cached, each per store (a process serving two databases keeps two
caches): an API key's record by its hash (``auth``), a team's global variables for
runs (``global_variables.for_run``) and a team's vendor credentials
(``vendor_credentials.for_team``). Saved LLM configs are not: they are read once,
when a run starts, into its snapshot, not at every turn.

Semantics (``docs/security.md``, "Caches"):

- **this process**: every write path of the service (create, update, delete of a
  variable or credential; revoking a key) invalidates the entry after
  its transaction commits, so the next request or turn of this process reads the
  new value;
- **other processes** sharing the database: an entry is used for at most its
  time-to-live after it was read, ``THREADLINE_AUTH_CACHE_SECONDS`` for API keys and
  ``THREADLINE_TEAM_CACHE_SECONDS`` for team data (0 turns a cache off);
- only successes are cached: an unknown or revoked key is looked up in the
  database every time, so a guess costs what it did;
- a read that raced an invalidation is not stored (a generation number per entry
  is taken before the read and checked before the store), so a value older than
  the last write of this process is never put back;
- at most ``MAX_ENTRIES`` entries of each kind (least recently used first out).

Secret values (decrypted variables and credentials) stay in this process's memory
as they do during a turn; they are never logged, and stored sealed as before.
"""

import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

AUTH = "auth"
VARIABLES = "variables"
CREDENTIALS = "credentials"
KINDS = (AUTH, VARIABLES, CREDENTIALS)
DEFAULT_AUTH_SECONDS = 5.0
DEFAULT_TEAM_SECONDS = 5.0
MAX_ENTRIES = 10_000


@dataclass
class _Kind:
    seconds: float
    entries: "OrderedDict[Hashable, tuple[float, Any]]" = field(
        default_factory=OrderedDict
    )
    generations: dict[Hashable, int] = field(default_factory=dict)
    epoch: int = 0
    """Bumped by a clear of the whole kind (a revoke, whose hash is not known)."""


class TeamCache:
    """The caches of one store (see the module docstring)."""

    def __init__(
        self,
        auth_seconds: float = DEFAULT_AUTH_SECONDS,
        team_seconds: float = DEFAULT_TEAM_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self._kinds = {
            kind: _Kind(auth_seconds if kind == AUTH else team_seconds)
            for kind in KINDS
        }

    def ticket(self, kind: str, key: Hashable) -> tuple[int, int]:
        """Taken before reading the database: :meth:`put` stores only if no
        invalidation of ``key`` happened since."""
        slot = self._kinds[kind]
        return slot.epoch, slot.generations.get(key, 0)

    def get(self, kind: str, key: Hashable) -> Any:
        """The cached value, or None when absent or older than its time-to-live."""
        slot = self._kinds[kind]
        found = slot.entries.get(key)
        if found is None:
            return None
        expires, value = found
        if self.clock() >= expires:
            del slot.entries[key]
            return None
        slot.entries.move_to_end(key)
        return value

    def put(
        self, kind: str, key: Hashable, value: Any, ticket: tuple[int, int]
    ) -> None:
        """Remember ``value`` (not None) unless ``key`` was invalidated since
        ``ticket`` was taken."""
        slot = self._kinds[kind]
        if slot.seconds <= 0 or value is None or ticket != self.ticket(kind, key):
            return
        slot.entries[key] = (self.clock() + slot.seconds, value)
        slot.entries.move_to_end(key)
        while len(slot.entries) > MAX_ENTRIES:
            slot.entries.popitem(last=False)

    def invalidate(self, kind: str, key: Hashable | None = None) -> None:
        """Forget ``key`` (every entry of ``kind`` when None)."""
        slot = self._kinds[kind]
        if key is None:
            slot.entries.clear()
            slot.generations.clear()
            slot.epoch += 1
            return
        slot.entries.pop(key, None)
        slot.generations[key] = slot.generations.get(key, 0) + 1
        if len(slot.generations) > MAX_ENTRIES:  # bounded: start a new epoch
            slot.generations.clear()
            slot.epoch += 1


_caches: "weakref.WeakKeyDictionary[object, TeamCache]" = weakref.WeakKeyDictionary()


def configure(store: object, auth_seconds: float, team_seconds: float) -> TeamCache:
    """Give ``store`` new caches with these times-to-live (start-up)."""
    cache = TeamCache(auth_seconds, team_seconds)
    _caches[store] = cache
    return cache


def of(store: object) -> TeamCache:
    """The caches of ``store`` (default times-to-live until :func:`configure`)."""
    cache = _caches.get(store)
    if cache is None:
        cache = _caches[store] = TeamCache()
    return cache
