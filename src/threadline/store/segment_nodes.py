"""A segment's visited nodes stored as a reference to its run's history rows.

A run's segment (``WorkflowRunInputOutputPair``) carries each thread's whole list
of visited nodes at the end of its turn
(``iteration_end_state_miscellaneous.thread_id_to_nodes_history``), so writing
turn ``n`` encoded and compressed a list of ``~2n`` node ids (~6 KB of JSON at
turn 200), and reading a run's ``n`` segments decompressed ``O(n²)`` ids. Those
lists are already stored, appended turn by turn, in the run's history rows
(``store.history_log``: the ``visited`` change of each save).

So a turn that saves its run writes, in place of the lists, a reference:
``"thread_id_to_nodes_history": null`` and ``"_nodes_from_history": {"rows": n,
"threads": [thread ids, in order]}``, meaning "each thread's ``visited`` list as
the run's first ``n`` history rows leave it" (rows are never rewritten, so that
stays true). ``SqlTurns.list`` puts the lists back (``expand``): readers and the
API see the segment as it was built. The reference is written only when the
lists it stands for are exactly the segment's (``by_reference`` checks).

A segment stored whole (before this, or copied by a re-run, or rewritten by
feedback) reads as it is. These functions are pure (no I/O).
"""

from collections.abc import Iterable, Mapping
from typing import Any

JsonDict = dict[str, Any]

MISC = "iteration_end_state_miscellaneous"
NODES = "thread_id_to_nodes_history"
REF = "_nodes_from_history"


def by_reference(
    segment: JsonDict, lists: Mapping[str, Mapping[str, list[Any]]], rows: int
) -> JsonDict:
    """``segment`` with its visited lists as a reference to the run's first
    ``rows`` history rows, which leave each thread's lists as ``lists``; the
    segment unchanged when its lists are not exactly those."""
    misc = segment.get(MISC)
    if not isinstance(misc, dict) or REF in misc:
        return segment
    nodes = misc.get(NODES)
    if not isinstance(nodes, dict) or not nodes:
        return segment
    for thread_id, visited in nodes.items():
        if not isinstance(thread_id, str):
            return segment
        if (lists.get(thread_id) or {}).get("visited", []) != visited:
            return segment
    ref = {"rows": rows, "threads": list(nodes)}
    return {**segment, MISC: {**misc, NODES: None, REF: ref}}


def references(segments: Iterable[JsonDict]) -> bool:
    """Whether any of ``segments`` holds a reference to expand."""
    return any(isinstance(s.get(MISC), dict) and REF in s[MISC] for s in segments)


def expand(segments: list[JsonDict], rows: Iterable[tuple[int, JsonDict]]) -> None:
    """Put the visited lists back into ``segments`` (changed in place) from the
    run's history rows ``(seq, body)`` in ``seq`` order."""
    wanted = sorted(
        (int(s[MISC][REF]["rows"]), i)
        for i, s in enumerate(segments)
        if isinstance(s.get(MISC), dict) and REF in s[MISC]
    )
    visited: dict[str, list[Any]] = {}
    stream = iter(rows)
    row = next(stream, None)
    for count, index in wanted:
        while row is not None and row[0] < count:
            _apply(row[1], visited)
            row = next(stream, None)
        _fill(segments[index], visited)


def _apply(body: JsonDict, visited: dict[str, list[Any]]) -> None:
    for thread_id, change in (body.get("threads") or {}).items():
        found = change.get("visited")
        if found is not None:
            start, items = found
            current = visited.setdefault(thread_id, [])
            del current[start:]
            current.extend(items)


def _fill(segment: JsonDict, visited: Mapping[str, list[Any]]) -> None:
    misc = dict(segment[MISC])
    ref = misc.pop(REF)
    misc[NODES] = {t: list(visited.get(t) or []) for t in ref["threads"]}
    segment[MISC] = misc
