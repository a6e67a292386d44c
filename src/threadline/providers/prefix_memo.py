"""Work done over a growing sequence, kept and resumed on its longer versions.

A conversation's model request is the same messages from one call to the next, a
few longer each time. Work that walks every message (converting a chat history,
expanding managed prompts) would then grow with the conversation's length. A
``PrefixMemo`` keeps, per sequence, the state that work left after the items it
saw, and hands it back, extended by the items added since, when a longer version
of the same sequence comes: only the new items are walked in Python.

A sequence is found by its first item's identity (the entry holds the item, so
its id cannot be reused while the entry is here). The kept items must still be the
sequence's first items: that is checked with one tuple comparison, at C speed
(identical items compare without a call; an equal but rebuilt item compares by
value, and work that is a pure function of the items gives the same answer for
it). A sequence that diverged, or a ``tag`` that changed, starts over.

Not thread-safe, like the rest of a turn's executors: used from the event loop's
thread (the state returned is read before the next call).
"""

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar


class Extending(Protocol):
    """A state that takes the items added after the ones it saw."""

    def extend(self, added: tuple[Any, ...]) -> None: ...


S = TypeVar("S", bound=Extending)


@dataclass(slots=True)
class _Entry(Generic[S]):
    tag: object
    items: tuple[Any, ...]
    state: S


class PrefixMemo(Generic[S]):
    """The states of the ``max_entries`` sequences used last, holding at most
    ``max_items`` items in all."""

    def __init__(self, max_entries: int = 1_000, max_items: int = 200_000) -> None:
        self.max_entries = max_entries
        self.max_items = max_items
        self._held: OrderedDict[int, _Entry[S]] = OrderedDict()
        self._items = 0

    def extended(
        self, items: Sequence[Any], fresh: Callable[[], S], tag: object = None
    ) -> S:
        """The state after ``items`` (not empty): the kept one extended by what
        was added since, else ``fresh()`` extended by them all. ``tag``: what
        else the state depends on (compared with ``==``)."""
        key = id(items[0])
        held = self._held.get(key)
        if held is not None:
            size = len(held.items)
            if (
                size <= len(items)
                and held.tag == tag
                and tuple(items[:size]) == held.items
            ):
                self._held.move_to_end(key)
                if size < len(items):
                    self._extend(key, held, tuple(items[size:]))
                return held.state
            self._drop(key)
        entry = _Entry(tag, (), fresh())
        self._held[key] = entry
        self._extend(key, entry, tuple(items))
        return entry.state

    def _extend(self, key: int, entry: _Entry[S], added: tuple[Any, ...]) -> None:
        try:
            entry.state.extend(added)
        except BaseException:
            self._drop(key)  # a state left half extended is never served
            raise
        entry.items += added
        self._items += len(added)
        while self._held and (
            len(self._held) > self.max_entries or self._items > self.max_items
        ):
            self._drop(next(iter(self._held)))

    def _drop(self, key: int) -> None:
        entry = self._held.pop(key, None)
        if entry is not None:
            self._items -= len(entry.items)

    def __len__(self) -> int:
        return len(self._held)
