"""``make bench``: run the scenarios, print a table, write bench/results/latest.json.

    python -m bench.run                 # everything (~2 minutes on 2 cores)
    python -m bench.run --quick         # smoke run (writes bench/results/tmp/)
    python -m bench.run --only engine --only executors
    python -m bench.run --profile service   # cProfile one scenario, top costs

Scenarios are modules with ``NAME``, ``TITLE`` and ``async def run(Options)``;
add one by appending it to ``SCENARIOS``.
"""

import argparse
import asyncio
import cProfile
import io
import pstats
import time
from dataclasses import asdict, replace
from pathlib import Path
from types import ModuleType

from bench import (
    console_pages,
    conversation,
    durable,
    engine_only,
    executors,
    http_load,
    llm_overhead,
    service_sqlite,
    telemetry,
    throughput,
)
from bench.common import Case, Options, machine
from bench.report import say, table, write

SCENARIOS: tuple[ModuleType, ...] = (
    engine_only,
    executors,
    service_sqlite,
    conversation,
    llm_overhead,
    telemetry,
    throughput,
    http_load,
    durable,
    console_pages,
)
RESULTS = Path("bench/results")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    names = [s.NAME for s in SCENARIOS]
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--quick", action="store_true", help="tiny budgets (smoke)")
    parser.add_argument("--only", action="append", choices=names, default=None)
    parser.add_argument("--profile", choices=names, help="cProfile one scenario")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0, help="per round")
    parser.add_argument("--turns", type=int, default=200, help="conversation turns")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON path (default: bench/results/latest.json for a full run, "
        "bench/results/tmp/partial.json with --quick or --only)",
    )
    return parser.parse_args(argv)


async def _run(selected: list[ModuleType], opts: Options) -> list[Case]:
    cases: list[Case] = []
    for scenario in selected:
        started = time.perf_counter()
        found: list[Case] = await scenario.run(opts)
        show = getattr(scenario, "table", table)
        show(f"{scenario.TITLE}  [{time.perf_counter() - started:.0f} s]", found)
        cases += found
    return cases


def _profile(scenario: ModuleType, opts: Options) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(scenario.run(replace(opts, rounds=1, collect=False)))
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)
    say(out.getvalue())


def _default_out(args: argparse.Namespace) -> Path:
    """Only a full run replaces latest.json; smoke and partial runs go to tmp/."""
    if args.quick or args.only:
        return RESULTS / "tmp" / "partial.json"
    return RESULTS / "latest.json"


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    opts = Options(
        quick=args.quick,
        seconds_per_round=args.seconds,
        rounds=args.rounds,
        conversation_turns=args.turns,
        work_dir=RESULTS / "tmp",
    )
    if args.profile:
        _profile(next(s for s in SCENARIOS if args.profile == s.NAME), opts)
        return
    selected = [s for s in SCENARIOS if not args.only or s.NAME in args.only]
    info = machine()
    say(
        f"Threadline bench: {info['cpu_model']}, {info['cores']} cores, "
        f"Python {info['python']}, {info['date']}"
    )
    say("times per turn and per node; spread = range of the rounds' medians")
    started = time.perf_counter()
    cases = asyncio.run(_run(selected, opts))
    options = {**asdict(opts), "work_dir": str(opts.work_dir)}
    out = args.out or _default_out(args)
    notes = {
        "postgresql": throughput.PG_NOTE["note"],
        "durable": durable.NOTE["note"],
    }
    write(out, info, options, cases, notes)
    say(f"\nwrote {out} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
