"""Threadline worker for the throughput and waiting-memory scenarios (one process each).

    python -m bench.throughput_threadline --url sqlite+aiosqlite:///tmp/t.db \
        --conversations 50 --turns 10 --latency-ms 50 [--profile out.html]
    python -m bench.throughput_threadline --url ... --waiting 2000
    python -m bench.throughput_threadline --url ... --go-file /tmp/go  # see below

The support chat of ``bench.compare_threadline`` (greet -> classify, waiting for
the user -> expression edges -> answer -> classify; 2 model calls a turn) driven
through ``service.running.runs.run_one_turn`` with ``SlowLLM`` (an ``asyncio.sleep`` of
``--latency-ms`` per call, in-process). Each case runs in its own process so peak
RSS belongs to that case alone. Prints (or writes) a JSON document.

With ``--go-file PATH`` (``bench.durable``'s several workers on one database) the
worker creates ``PATH.ready.<pid>`` once its conversations are started and waits
for ``PATH`` to exist before its timed phase, so the workers' timed phases begin
together; it does not migrate (the caller has).
"""

import argparse
import asyncio
import gc
import os
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.compare_threadline import support_chat, user_turn
from bench.load import JsonDict, drive, emit, waiting_memory
from bench.service_sqlite import bench_caller, create_workflow, waiting_turn
from bench.workloads import START, SlowLLM
from threadline.api.app import GC_THRESHOLDS
from threadline.cli.main import loop_name, run_on_loop
from threadline.service.runtime import Runtime
from threadline.store import open_store


async def measure(args: argparse.Namespace) -> JsonDict:
    store = open_store(args.url)
    if args.go_file is None:
        await store.migrate()
    llm = SlowLLM(args.latency_ms / 1000)
    runtime = Runtime(llm=llm, rng=random.Random(0))
    caller = bench_caller()
    try:
        wid = await create_workflow(store, caller, support_chat())

        async def turn(run_id: str | None, raw: JsonDict) -> str:
            return await waiting_turn(
                store, caller, runtime, workflow_id=wid, run_id=run_id, raw=raw
            )

        async def start(_: int) -> str:
            return await turn(None, START)

        async def step(run_id: Any, i: int) -> None:
            await turn(run_id, user_turn(i))

        for k in range(3):  # warm-up: imports, caches, the pool's connections
            await step(await start(k), 0)
        if args.waiting:
            result = await waiting_memory(args.waiting, start, step)
        else:
            profiler = _profiler(args.profile)
            ready = _barrier(args.go_file) if args.go_file else None
            if args.gc_freeze:  # the collector's thresholds, as `threadline serve`
                gc.set_threshold(*GC_THRESHOLDS)
            result = await drive(
                args.conversations,
                args.turns,
                start,
                step,
                ready,
                freeze=args.gc_freeze,
            )
            if profiler is not None:
                profiler.stop()
                args.profile.write_text(profiler.output_html())
                Path(f"{args.profile}.txt").write_text(
                    profiler.output_text(unicode=False, show_all=False)
                )
        calls_per_turn = 2
        result["model_calls_per_turn"] = calls_per_turn
        result["model_latency_ms"] = args.latency_ms
        return result
    finally:
        await store.close()


def _barrier(go: Path) -> Callable[[], Awaitable[None]]:
    async def ready() -> None:
        Path(f"{go}.ready.{os.getpid()}").touch()
        while not go.exists():
            await asyncio.sleep(0.005)

    return ready


def _profiler(out: Path | None) -> Any:
    if out is None:
        return None
    from pyinstrument import Profiler  # optional: pip install pyinstrument

    profiler = Profiler(async_mode="disabled", interval=0.0005)
    profiler.start()
    return profiler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput_threadline")
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the store")
    parser.add_argument("--conversations", type=int, default=1)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--waiting", type=int, default=0, help="memory mode")
    parser.add_argument("--profile", type=Path, default=None, help="pyinstrument")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() after the warm-up and the collector's thresholds raised, "
        "as `threadline serve` after start-up",
    )
    parser.add_argument(
        "--go-file", type=Path, default=None, help="start the timed phase together"
    )
    parser.add_argument(
        "--loop",
        choices=("auto", "asyncio"),
        default="auto",
        help="auto: uvloop when installed, as `threadline serve` and `worker` run",
    )
    args = parser.parse_args(argv)
    if args.loop == "auto":
        result = run_on_loop(measure(args))
    else:
        result = asyncio.run(measure(args))
    result["event_loop"] = args.loop if args.loop == "asyncio" else loop_name()
    emit(result, args.out)


if __name__ == "__main__":
    main()
