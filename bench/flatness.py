"""The conversation row's schedule: is a turn's cost flat in the conversation's length?

Shared by both sides of ``bench.compare`` (stdlib only: the LangGraph venv imports
it too), so Threadline and LangGraph are measured by the same method.

Run one conversation's turns in order and the box's drift over time (other
processes, the CPU's clock, the database file growing) lands on the turn index:
the last tenth always runs later than the first. So the row runs ``lanes``
conversations side by side, lane ``k`` kept ``k * turns / lanes`` turns ahead of
lane 0 (the lanes are filled to their phases untimed). A step runs the next turn
of every lane; a lane that finishes its conversation starts a new one (untimed).
In every step each ``1/lanes`` of the conversation's length is represented once,
so whatever the box does over time, it does to the first and the last tenth alike.

A round is one rotation (``turns`` steps: every turn index measured once per
lane). Per round: the median over the lanes of each turn index, then the p50 of
the first and of the last tenth of the indexes and their ratio; the headline
figures are the same over every round's samples, shown with the rounds' spread.

The garbage collector is handled the same way on both sides: after the fill,
``gc.collect()`` and ``gc.freeze()`` (what ``threadline serve`` does after start-up:
the long-lived heap is not walked by every full collection), unless ``freeze`` is
False; every collection during the timed turns is recorded (generation, pause, the
turn index it landed in), and the row reports the collections and their pause in
the first and the last tenth.
"""

import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.common import Case, make_case
from bench.sqlite_probe import StorageProbe, growth

JsonDict = dict[str, Any]
Start = Callable[[], Awaitable[Any]]
"""Starts a conversation (untimed); returns its handle."""
Turn = Callable[[Any, int], Awaitable[None]]
"""Runs user turn ``index`` of the conversation ``handle``."""


@dataclass(slots=True)
class _Lane:
    handle: Any
    done: int


@dataclass(slots=True)
class _GcWatch:
    """Collections while a timed turn runs: ``(generation, pause µs, index)``."""

    index: int | None = None
    began: float = 0.0
    seen: list[tuple[int, float, int]] = field(default_factory=list)

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.began = time.perf_counter()
        elif self.index is not None:
            pause = (time.perf_counter() - self.began) * 1e6
            self.seen.append((int(info["generation"]), pause, self.index))


@dataclass(slots=True)
class Flatness:
    """Every timed turn's wall and CPU time (µs), by round and turn index."""

    turns: int
    lanes: int
    wall: list[list[list[float]]]
    """``wall[round][index]``: one sample per lane."""
    cpu: list[list[list[float]]]
    collections: list[tuple[int, float, int]]
    frozen: bool
    starts: list[int]
    """New conversations started during each round (untimed)."""

    @property
    def tenth(self) -> int:
        return max(self.turns // 10, 1)

    def cpu_mean(self) -> float:
        """Mean CPU a timed turn (µs; the starts are not timed)."""
        return statistics.fmean(
            v for by_index in self.cpu for samples in by_index for v in samples
        )

    def latencies(self) -> list[float]:
        return [v for by_index in self.wall for samples in by_index for v in samples]

    def round_medians(self) -> list[float]:
        return [
            statistics.median(v for samples in by_index for v in samples)
            for by_index in self.wall
        ]

    def split(self, by_index: list[list[float]]) -> tuple[float, float]:
        """p50 of the per-index medians over the first and the last tenth."""
        per_index = [statistics.median(samples) for samples in by_index]
        t = self.tenth
        return statistics.median(per_index[:t]), statistics.median(per_index[-t:])

    def merged(self, series: list[list[list[float]]]) -> list[list[float]]:
        return [[v for r in series for v in r[index]] for index in range(self.turns)]

    def _gc_in(self, low: int, high: int) -> JsonDict:
        hits = [c for c in self.collections if low <= c[2] < high]
        return {
            "collections": len(hits),
            "gen2": sum(1 for c in hits if c[0] == 2),
            "pause_ms": round(sum(c[1] for c in hits) / 1000, 2),
        }

    def summary(self) -> JsonDict:
        """What the row reports (µs unless a key says otherwise)."""
        first, last = self.split(self.merged(self.wall))
        cpu_first, cpu_last = self.split(self.merged(self.cpu))
        per_round = []
        for wall, cpu in zip(self.wall, self.cpu, strict=True):
            f, lst = self.split(wall)
            cf, cl = self.split(cpu)
            per_round.append(
                {
                    "first_us": round(f, 1),
                    "last_us": round(lst, 1),
                    "last_over_first": round(lst / f, 3),
                    "cpu_last_over_first": round(cl / cf, 3),
                }
            )
        ratios = [r["last_over_first"] for r in per_round]
        t = self.tenth
        return {
            "method": (
                f"{self.lanes} conversations interleaved at evenly spaced phases, "
                f"{len(self.wall)} rotation(s) of {self.turns} steps; per turn index "
                "the median over lanes (and rounds), then p50 of the first and last "
                "tenth of the indexes"
            ),
            "lanes": self.lanes,
            "gc_frozen_after_warmup": self.frozen,
            "p50_first_tenth_us": round(first, 1),
            "p50_last_tenth_us": round(last, 1),
            "last_over_first": round(last / first, 3),
            "cpu_first_tenth_us": round(cpu_first, 1),
            "cpu_last_tenth_us": round(cpu_last, 1),
            "cpu_last_over_first": round(cpu_last / cpu_first, 3),
            "rounds": per_round,
            "round_ratio_median": round(statistics.median(ratios), 3),
            "round_ratio_min": min(ratios),
            "round_ratio_max": max(ratios),
            "gc_first_tenth": self._gc_in(0, t),
            "gc_last_tenth": self._gc_in(self.turns - t, self.turns),
            "gc_all": self._gc_in(0, self.turns),
        }


async def staggered(
    start: Start,
    turn: Turn,
    *,
    turns: int,
    lanes: int,
    rounds: int,
    freeze: bool = True,
    between_rounds: Callable[[int], None] | None = None,
) -> Flatness:
    """Fill ``lanes`` conversations to their phases, then time ``rounds``
    rotations. ``between_rounds(r)`` runs before round ``r`` and once after the
    last (``r == rounds``), outside the timing (e.g. a storage snapshot)."""
    lanes = max(1, min(lanes, turns))
    offset = turns // lanes
    held: list[_Lane] = []
    for k in range(lanes):
        lane = _Lane(await start(), 0)
        for index in range(k * offset):
            await turn(lane.handle, index)
        lane.done = k * offset
        held.append(lane)
    if freeze:
        gc.collect()
        gc.freeze()
    watch = _GcWatch()
    gc.callbacks.append(watch)
    wall: list[list[list[float]]] = []
    cpu: list[list[list[float]]] = []
    starts: list[int] = []
    clock, cpu_clock = time.perf_counter_ns, time.process_time_ns
    try:
        for r in range(rounds):
            if between_rounds is not None:
                between_rounds(r)
            starts.append(0)
            w: list[list[float]] = [[] for _ in range(turns)]
            c: list[list[float]] = [[] for _ in range(turns)]
            for _ in range(turns):
                for lane in held:
                    if lane.done == turns:
                        lane.handle, lane.done = await start(), 0
                        starts[-1] += 1
                    index = lane.done
                    watch.index = index
                    began, began_cpu = clock(), cpu_clock()
                    await turn(lane.handle, index)
                    c[index].append((cpu_clock() - began_cpu) / 1000)
                    w[index].append((clock() - began) / 1000)
                    watch.index = None
                    lane.done += 1
            wall.append(w)
            cpu.append(c)
        if between_rounds is not None:
            between_rounds(rounds)
    finally:
        gc.callbacks.remove(watch)
        if freeze:
            gc.unfreeze()
    return Flatness(turns, lanes, wall, cpu, watch.seen, freeze, starts)


def storage_between_rounds(
    probe: StorageProbe, snapshots: list[JsonDict]
) -> Callable[[int], None]:
    """A ``between_rounds`` hook that snapshots the database's storage."""

    def snap(_: int) -> None:
        snapshots.append(probe.snapshot())

    return snap


def conversation_result(
    measured: Flatness, snapshots: list[JsonDict], **extra: Any
) -> Case:
    """The conversation row's ``Case``, the same keys on both sides."""
    turns = measured.turns
    storage = [
        # Per turn: growth over the round / (timed turns + conversations started).
        growth(before, after, measured.lanes * turns + started)
        for before, after, started in zip(
            snapshots, snapshots[1:], measured.starts, strict=False
        )
    ]
    flat = measured.summary()
    return make_case(
        "conversation",
        f"chat, {turns} user turns",
        2,
        (measured.latencies(), measured.round_medians()),
        user_turns_per_run=turns,
        runs=len(measured.wall),
        model_calls_per_turn=2,
        **flat,
        storage_per_run=storage,
        note=(
            "storage per turn: growth over a round / (its timed turns + the "
            "conversations it started)"
        ),
        cpu_us_per_call=round(measured.cpu_mean(), 1),
        cpu_note="process CPU (all threads) of each timed turn, starts not included",
        **extra,
    )
