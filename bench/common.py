"""Timing, statistics and machine facts shared by every scenario."""

import gc
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

JsonDict = dict[str, Any]
SyncBody = Callable[[], None]
AsyncBody = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Options:
    """How hard to push: ``quick`` shrinks every budget (smoke runs, CI)."""

    quick: bool = False
    seconds_per_round: float = 1.0
    """Time budget of one measured round of one case."""
    rounds: int = 3
    """Measured rounds per case; their medians show how stable the numbers are."""
    min_samples: int = 30
    conversation_turns: int = 200
    """User turns of the conversation scenario (one run)."""
    conversation_lanes: int = 5
    """Conversations interleaved at evenly spaced phases (``bench.flatness``)."""
    gc_freeze: bool = True
    """``gc.freeze()`` after the conversation row's warm-up, on both sides, and
    after the Threadline throughput worker's (what ``threadline serve`` does after
    start-up; LangGraph's worker runs unfrozen, its faster way)."""
    work_dir: Path = Path("bench/results/tmp")
    collect: bool = True
    """``gc.collect()`` before each round (off when profiling)."""

    def budget(self) -> float:
        return 0.15 if self.quick else self.seconds_per_round


@dataclass(frozen=True, slots=True)
class Stats:
    """Summary of samples in microseconds."""

    n: int
    mean: float
    p50: float
    p99: float
    min: float
    max: float

    @classmethod
    def of(cls, samples_us: list[float]) -> "Stats":
        ordered = sorted(samples_us)
        return cls(
            n=len(ordered),
            mean=statistics.fmean(ordered),
            p50=percentile(ordered, 50),
            p99=percentile(ordered, 99),
            min=ordered[0],
            max=ordered[-1],
        )

    def scaled(self, divisor: float) -> "Stats":
        """The same summary divided by ``divisor`` (per node from per turn)."""
        return Stats(
            n=self.n,
            mean=self.mean / divisor,
            p50=self.p50 / divisor,
            p99=self.p99 / divisor,
            min=self.min / divisor,
            max=self.max / divisor,
        )

    def to_json(self) -> JsonDict:
        return {
            "n": self.n,
            "mean": round(self.mean, 2),
            "p50": round(self.p50, 2),
            "p99": round(self.p99, 2),
            "min": round(self.min, 2),
            "max": round(self.max, 2),
        }


def percentile(ordered: list[float], pct: float) -> float:
    """Linear-interpolated percentile of already sorted samples."""
    if not ordered:
        raise ValueError("no samples")
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(slots=True)
class Case:
    """One measured configuration of a scenario."""

    scenario: str
    name: str
    nodes_per_turn: int
    per_turn: Stats
    round_p50s: list[float] = field(default_factory=list)
    extra: JsonDict = field(default_factory=dict)

    @property
    def per_node(self) -> Stats:
        return self.per_turn.scaled(max(self.nodes_per_turn, 1))

    @property
    def spread(self) -> float:
        """(max - min) / median of the rounds' p50s: 0.05 means 5% apart."""
        if len(self.round_p50s) < 2:
            return 0.0
        mid = statistics.median(self.round_p50s)
        return (max(self.round_p50s) - min(self.round_p50s)) / mid if mid else 0.0

    def to_json(self) -> JsonDict:
        return {
            "scenario": self.scenario,
            "case": self.name,
            "nodes_per_turn": self.nodes_per_turn,
            "per_turn_us": self.per_turn.to_json(),
            "per_node_us": self.per_node.to_json(),
            "round_p50s_us": [round(v, 2) for v in self.round_p50s],
            "round_spread": round(self.spread, 3),
            **({"extra": self.extra} if self.extra else {}),
        }


class Measured(tuple[list[float], list[float]]):
    """``(samples, round medians)`` plus the process's CPU time per call.

    ``cpu_us_per_call`` is ``time.process_time()`` (every thread of this process:
    the event loop and aiosqlite's threads) over the measured rounds, divided by
    the number of measured calls. It unpacks like the plain pair.
    """

    cpu_us_per_call: float | None = None


def _measured(samples: list[float], medians: list[float], cpu_s: float) -> Measured:
    out = Measured((samples, medians))
    out.cpu_us_per_call = 1e6 * cpu_s / len(samples) if samples else None
    return out


def _warmup_count(opts: Options) -> int:
    return 5 if opts.quick else 50


def measure(body: SyncBody, opts: Options) -> Measured:
    """Warm up, then time ``body`` for ``opts.rounds`` time-boxed rounds.

    Returns all samples (µs) and each round's median.
    """
    for _ in range(_warmup_count(opts)):
        body()
    samples: list[float] = []
    medians: list[float] = []
    clock = time.perf_counter_ns
    cpu = 0.0
    for _ in range(opts.rounds):
        if opts.collect:
            gc.collect()
        batch: list[float] = []
        began_cpu = time.process_time()
        deadline = time.perf_counter() + opts.budget()
        while len(batch) < opts.min_samples or time.perf_counter() < deadline:
            start = clock()
            body()
            batch.append((clock() - start) / 1000)
        cpu += time.process_time() - began_cpu
        samples += batch
        medians.append(statistics.median(batch))
    return _measured(samples, medians, cpu)


async def measure_async(body: AsyncBody, opts: Options) -> Measured:
    """``measure`` for a coroutine function (awaited on the running loop)."""
    for _ in range(_warmup_count(opts)):
        await body()
    samples: list[float] = []
    medians: list[float] = []
    clock = time.perf_counter_ns
    cpu = 0.0
    for _ in range(opts.rounds):
        if opts.collect:
            gc.collect()
        batch: list[float] = []
        began_cpu = time.process_time()
        deadline = time.perf_counter() + opts.budget()
        while len(batch) < opts.min_samples or time.perf_counter() < deadline:
            start = clock()
            await body()
            batch.append((clock() - start) / 1000)
        cpu += time.process_time() - began_cpu
        samples += batch
        medians.append(statistics.median(batch))
    return _measured(samples, medians, cpu)


def make_case(
    scenario: str,
    name: str,
    nodes: int,
    measured: tuple[list[float], list[float]],
    **extra: Any,
) -> Case:
    samples, medians = measured
    cpu = getattr(measured, "cpu_us_per_call", None)
    if cpu is not None:
        extra = {"cpu_us_per_call": round(cpu, 1), **extra}
    return Case(scenario, name, nodes, Stats.of(samples), medians, dict(extra))


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def source_revision() -> JsonDict:
    """The commit measured and whether the work tree had local changes (read-only)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "src_modified": None}
    return {"commit": commit, "src_modified": bool(dirty)}


def machine() -> JsonDict:
    """What the numbers were measured on."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 0
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": source_revision(),
        "threadline_origin": threadline_origin(),
    }


def threadline_origin() -> str | None:
    """Where ``threadline`` is imported from (the work tree's ``src`` unless
    ``PYTHONPATH`` points at an export of a commit); None without it."""
    try:
        spec = importlib.util.find_spec("threadline")
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None else None
