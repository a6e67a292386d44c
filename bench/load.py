"""Many conversations at once: the driver and memory probes both engines share.

Stdlib only: the Threadline workers (project venv) and the LangGraph workers (the
LangGraph venv) import it, so concurrency, timing and memory are measured by the
same code on both sides.

``drive`` starts ``conversations`` conversations (not timed, at most
``START_BATCH`` at a time), then runs them all at once, each sending ``turns``
user turns one after the other; every turn is timed, and turns per second is the
number of user turns divided by the wall time of that phase.
"""

import asyncio
import gc
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.common import Stats

JsonDict = dict[str, Any]
START_BATCH = 50
"""Conversations started concurrently during the (untimed) start phase."""


def _status_kb(key: str) -> int:
    """A ``/proc/self/status`` field in KiB (Linux), 0 elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_bytes() -> int:
    """Resident set size now."""
    return _status_kb("VmRSS") * 1024


def peak_rss_bytes() -> int:
    """Peak resident set size since start or the last ``reset_peak``."""
    return _status_kb("VmHWM") * 1024


def reset_peak() -> bool:
    """Reset the kernel's peak RSS mark (Linux ``clear_refs`` 5); False if unable."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def settled_rss() -> int:
    """RSS after a full collection (what live objects hold, plus allocator slack)."""
    gc.collect()
    gc.collect()
    return rss_bytes()


Start = Callable[[int], Awaitable[Any]]
Step = Callable[[Any, int], Awaitable[None]]
Ready = Callable[[], Awaitable[None]]


async def start_all(conversations: int, start: Start) -> list[Any]:
    """Start ``conversations`` conversations, ``START_BATCH`` at a time."""
    handles: list[Any] = []
    for first in range(0, conversations, START_BATCH):
        last = min(first + START_BATCH, conversations)
        handles += await asyncio.gather(*(start(k) for k in range(first, last)))
    return handles


async def drive(
    conversations: int,
    turns: int,
    start: Start,
    step: Step,
    ready: Ready | None = None,
    freeze: bool = False,
) -> JsonDict:
    """Start the conversations, then time ``turns`` user turns of each, all at once.

    ``freeze``: first ``gc.collect()`` and ``gc.freeze()``, what ``threadline serve``
    does once its start-up is done (the worker's warm-up is its start-up): full
    collections then walk what the conversations made, not the modules, classes
    and caches that live as long as the process.

    Returns the latencies' summary (µs), turns per second, wall time and memory:
    RSS before the timed phase (after the starts), peak RSS during it and RSS after.
    ``ready`` (if given) is awaited between the starts and the timed phase: several
    worker processes use it to begin their timed phases together; the wall-clock
    bounds of the timed phase (``began_epoch``, ``ended_epoch``) let the caller
    compute their combined throughput; ``process_cpu_s`` is the CPU time of this
    process (all its threads) during it.
    """
    if freeze:
        gc.collect()
        gc.freeze()
    handles = await start_all(conversations, start)
    latencies: list[float] = []
    clock = time.perf_counter_ns

    async def one(handle: Any) -> None:
        for i in range(turns):
            began = clock()
            await step(handle, i)
            latencies.append((clock() - began) / 1000)

    before = settled_rss()
    if ready is not None:
        await ready()
    peak_reset = reset_peak()
    began_epoch = time.time()
    began_cpu = time.process_time()
    began = time.perf_counter()
    await asyncio.gather(*(one(h) for h in handles))
    wall = time.perf_counter() - began
    cpu = time.process_time() - began_cpu
    ended_epoch = time.time()
    peak = peak_rss_bytes()
    done = conversations * turns
    return {
        "conversations": conversations,
        "turns_per_conversation": turns,
        "user_turns": done,
        "wall_s": round(wall, 3),
        "began_epoch": began_epoch,
        "ended_epoch": ended_epoch,
        "turns_per_s": round(done / wall, 1),
        "process_cpu_s": round(cpu, 3),
        "latency_us": Stats.of(latencies).to_json(),
        "rss_before_bytes": before,
        "peak_rss_bytes": peak if peak_reset else None,
        "peak_rss_growth_bytes": peak - before if peak_reset else None,
        "rss_after_bytes": rss_bytes(),
    }


async def waiting_memory(conversations: int, start: Start, step: Step) -> JsonDict:
    """RSS growth per conversation left waiting for input after one user turn.

    The caller has warmed up (a few conversations) before calling. Conversations
    are started and given one user turn ``START_BATCH`` at a time; then two full
    collections and a reading of RSS.
    """
    before = settled_rss()

    async def one(k: int) -> None:
        handle = await start(k)
        await step(handle, 0)

    began = time.perf_counter()
    for first in range(0, conversations, START_BATCH):
        last = min(first + START_BATCH, conversations)
        await asyncio.gather(*(one(k) for k in range(first, last)))
    wall = time.perf_counter() - began
    after = settled_rss()
    return {
        "conversations": conversations,
        "rss_before_bytes": before,
        "rss_after_bytes": after,
        "bytes_per_waiting_conversation": round((after - before) / conversations),
        "wall_s": round(wall, 2),
    }


def emit(document: JsonDict, out: Path | None) -> None:
    """Write a worker's result as JSON to ``out`` or stdout."""
    text = json.dumps(document, indent=1) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
