"""Work over a growing sequence is kept and resumed: each call walks only the
items added since, and a sequence that diverged or whose tag changed starts over."""

import pytest

from threadline.providers.prefix_memo import PrefixMemo


class Seen:
    """A state that records the items it was given."""

    def __init__(self) -> None:
        self.items: list[object] = []
        self.calls: list[int] = []

    def extend(self, added: tuple[object, ...]) -> None:
        self.calls.append(len(added))
        self.items.extend(added)


def test_a_longer_version_walks_only_the_items_added_since():
    memo: PrefixMemo[Seen] = PrefixMemo()
    items = [object() for _ in range(100)]
    state = memo.extended(items[:1], Seen)
    for size in range(2, 101):
        assert memo.extended(items[:size], Seen) is state
    assert state.items == items
    assert state.calls == [1] * 100  # one new item a call, never the whole list
    assert memo.extended(tuple(items), Seen) is state  # a tuple of the same items
    assert state.calls == [1] * 100


def test_equal_rebuilt_items_keep_the_state_and_changed_ones_start_over():
    memo: PrefixMemo[Seen] = PrefixMemo()
    history = [{"n": 0}, {"n": 1}, {"n": 2}]
    first = memo.extended(history, Seen)
    # Rebuilt but equal (a fresh copy of the same dicts): the work still holds.
    same = memo.extended([history[0], dict(history[1]), history[2], {"n": 3}], Seen)
    assert same is first and same.calls == [3, 1]
    # A middle item changed (a redaction): converted again from the start.
    changed = [history[0], {"n": "[REDACTED]"}, history[2], {"n": 3}]
    fresh = memo.extended(changed, Seen)
    assert fresh is not first and fresh.items == changed
    # Shorter than what is kept: started over too.
    assert memo.extended(changed[:2], Seen).items == changed[:2]


def test_a_changed_tag_starts_over():
    memo: PrefixMemo[Seen] = PrefixMemo()
    items = [object(), object()]
    one = memo.extended(items, Seen, tag={"a": "1"})
    assert memo.extended(items, Seen, tag={"a": "1"}) is one
    assert memo.extended(items, Seen, tag={"a": "2"}) is not one


def test_the_memo_holds_at_most_its_entries_and_items():
    memo: PrefixMemo[Seen] = PrefixMemo(max_entries=3, max_items=10)
    for _ in range(5):
        memo.extended([object()], Seen)
    assert len(memo) == 3
    memo.extended([object() for _ in range(9)], Seen)
    assert len(memo) == 2  # 9 + 1 items: the oldest singles went
    memo.extended([object() for _ in range(11)], Seen)  # too big to keep
    assert len(memo) == 0


def test_a_state_that_failed_half_way_is_never_served():
    memo: PrefixMemo[Seen] = PrefixMemo()
    items = [object(), object()]
    state = memo.extended(items[:1], Seen)

    class Boom(Exception):
        pass

    def fail(added: tuple[object, ...]) -> None:
        state.items.append("half")
        raise Boom

    state.extend = fail  # type: ignore[method-assign]
    with pytest.raises(Boom):
        memo.extended(items, Seen)
    again = memo.extended(items, Seen)
    assert again is not state and again.items == items
