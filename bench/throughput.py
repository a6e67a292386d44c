"""Scenario: many conversations at once, and memory per waiting conversation.

Throughput: 1, 50, 100 and 500 concurrent conversations of the support chat
(``bench.compare_threadline.support_chat``: 2 model calls a turn), each sending
a few user turns through ``service.running.runs.run_one_turn``, with a model that takes
50 ms a call (``SlowLLM``, an in-process ``asyncio.sleep``), on a SQLite file and
on PostgreSQL. Reports turns per second, p50/p99 turn latency, peak RSS and its
growth during the timed phase. Each case runs in its own process
(``bench.throughput_threadline``), so its memory is its own; on PostgreSQL each
case gets a database of its own, created and dropped here. After its warm-up the
Threadline worker runs ``gc.collect()`` and ``gc.freeze()``, as ``threadline serve``
does once started (``Options.gc_freeze``, ``bench.compare --no-gc-freeze``);
LangGraph's runs as a LangGraph user's process does, without: frozen, it was
slower (docs/benchmarks.md, "A flat begin on PostgreSQL, and the collector").

Waiting memory: RSS growth per conversation left waiting for input after one
user turn (2,000 conversations, SQLite).

``bench.compare`` runs the same sweep with ``bench.throughput_langgraph`` in the
LangGraph venv (``sweep`` takes the side as a parameter).
"""

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import Case, Options, Stats
from bench.sqlite_probe import remove_db

NAME = "throughput"
TITLE = "Many conversations at once (run_one_turn, 50 ms model, 2 calls a turn)"
CONCURRENCY = (1, 50, 100, 500)
LATENCY_MS = 50.0
WAITING = 2000
PG_ADMIN = os.environ.get(
    "THREADLINE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
"""A PostgreSQL server the benchmark may create and drop databases on."""
JsonDict = dict[str, Any]


def turns_for(conversations: int, quick: bool) -> int:
    """User turns per conversation: enough samples, a bounded run time."""
    if quick:
        return 2
    return {1: 20, 50: 8, 100: 6}.get(conversations, 2)


def concurrency(quick: bool) -> tuple[int, ...]:
    return (1, 50) if quick else CONCURRENCY


@dataclass(frozen=True)
class Side:
    """How to run one engine's worker: the command for a store and a case."""

    engine: str
    command: Callable[[str, str, list[str]], list[str]]
    """(store kind, target, extra args) -> argv."""
    target: Callable[[str, str], str]
    """(store kind, SQLite path or PG database name) -> what the worker opens."""
    freezes: bool = False
    """Whether its process freezes its start-up heap (``--gc-freeze``)."""


def _pg_url(database: str, driver: str = "") -> str:
    base = PG_ADMIN.rsplit("/", 1)[0]
    if driver:
        base = base.replace("postgresql://", f"postgresql+{driver}://", 1)
    return f"{base}/{database}"


def threadline_side() -> Side:
    def command(store: str, target: str, extra: list[str]) -> list[str]:
        module = "bench.throughput_threadline"
        return [sys.executable, "-m", module, "--url", target, *extra]

    def target(store: str, where: str) -> str:
        if store == "sqlite":
            return f"sqlite+aiosqlite:///{where}"
        return _pg_url(where, "asyncpg")

    return Side("threadline", command, target, freezes=True)


def langgraph_side(python: Path) -> Side:
    def command(store: str, target: str, extra: list[str]) -> list[str]:
        saver = "sqlite" if store == "sqlite" else "postgres"
        module = "bench.throughput_langgraph"
        return [str(python), "-m", module, "--saver", saver, "--target", target, *extra]

    def target(store: str, where: str) -> str:
        return where if store == "sqlite" else _pg_url(where)

    return Side("langgraph", command, target)


# --- PostgreSQL databases ----------------------------------------------------


async def _admin(sql: str) -> None:
    import asyncpg  # type: ignore[import-untyped]  # the project's PG driver

    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def pg_available() -> str | None:
    """None when the server answers, else why not (the PG rows are skipped)."""
    try:
        asyncio.run(_admin("SELECT 1"))
    except Exception as exc:  # unreachable, auth, driver: all mean "skip"
        return f"PostgreSQL at {PG_ADMIN} unreachable: {type(exc).__name__}: {exc}"
    return None


def create_database(name: str) -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}"'))
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))


def drop_database(name: str) -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- running workers ---------------------------------------------------------


def run_worker(argv: list[str], log: Callable[[str], None]) -> JsonDict:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        log(done.stderr[-3000:])
        raise RuntimeError(f"worker failed ({done.returncode}): {' '.join(argv)}")
    result: JsonDict = json.loads(done.stdout)
    return result


def one_case(
    side: Side,
    store: str,
    work: Path,
    extra: list[str],
    log: Callable[[str], None],
) -> JsonDict:
    """Run one worker on a fresh database (SQLite file or PG database)."""
    label = f"{side.engine}_{store}_{os.getpid()}"
    if store == "sqlite":
        path = work / f"throughput-{label}.db"
        remove_db(path)
        try:
            return run_worker(
                side.command(store, side.target(store, str(path)), extra), log
            )
        finally:
            remove_db(path)
    database = f"bench_{label}"
    create_database(database)
    try:
        return run_worker(side.command(store, side.target(store, database), extra), log)
    finally:
        drop_database(database)


def stores(
    log: Callable[[str], None], postgres: bool = True
) -> tuple[list[str], str | None]:
    if not postgres:
        return ["sqlite"], "this side has no PostgreSQL driver"
    note = pg_available()
    if note is not None:
        log(f"  skipping the PostgreSQL rows: {note}")
        return ["sqlite"], note
    return ["sqlite", "postgres"], None


def sweep(
    side: Side, opts: Options, log: Callable[[str], None], postgres: bool = True
) -> tuple[list[JsonDict], str | None]:
    """Every (store, concurrency) case of one side, then its waiting-memory case."""
    work = opts.work_dir
    work.mkdir(parents=True, exist_ok=True)
    rows: list[JsonDict] = []
    kinds, pg_note = stores(log, postgres)
    for store in kinds:
        for conversations in concurrency(opts.quick):
            turns = turns_for(conversations, opts.quick)
            extra = [
                "--conversations",
                str(conversations),
                "--turns",
                str(turns),
                "--latency-ms",
                str(LATENCY_MS),
            ]
            if opts.gc_freeze and side.freezes:
                extra.append("--gc-freeze")
            result = one_case(side, store, work, extra, log)
            rows.append({"engine": side.engine, "store": store, **result})
            log(
                f"  {side.engine} {store} x{conversations}: "
                f"{result['turns_per_s']:.0f} turns/s, p50 "
                f"{result['latency_us']['p50'] / 1000:.0f} ms, p99 "
                f"{result['latency_us']['p99'] / 1000:.0f} ms"
            )
    waiting = 200 if opts.quick else WAITING
    extra = ["--waiting", str(waiting), "--latency-ms", "0"]
    result = one_case(side, "sqlite", work, extra, log)
    rows.append({"engine": side.engine, "store": "sqlite", "mode": "waiting", **result})
    log(
        f"  {side.engine} waiting: "
        f"{result['bytes_per_waiting_conversation'] / 1024:.1f} KB a conversation"
    )
    return rows, pg_note


def to_case(row: JsonDict) -> Case:
    """A throughput row as a ``Case`` (the table and latest.json format)."""
    if row.get("mode") == "waiting":
        stats = Stats(n=row["conversations"], mean=0, p50=0, p99=0, min=0, max=0)
        name = f"waiting memory, {row['conversations']} conversations"
        return Case("waiting_memory", name, 0, stats, [], row)
    lat = row["latency_us"]
    stats = Stats(lat["n"], lat["mean"], lat["p50"], lat["p99"], lat["min"], lat["max"])
    name = f"{row['store']}, {row['conversations']} conversations"
    return Case(NAME, name, 1, stats, [], row)


def _log(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


PG_NOTE: dict[str, str] = {"note": "not run"}
"""What ``bench.run`` records about the PostgreSQL rows (set by ``run``)."""


async def run(opts: Options) -> list[Case]:
    rows, note = await asyncio.to_thread(sweep, threadline_side(), opts, _log)
    PG_NOTE["note"] = note or "measured"
    return [to_case(r) for r in rows]


def print_rows(rows: list[JsonDict], say: Callable[[str], None]) -> None:
    """The throughput and waiting-memory rows as a table."""
    head = (
        f"{'engine':<11} {'store':<9} {'conv':>5} {'turns':>6} {'turns/s':>8} "
        f"{'p50':>9} {'p99':>9} {'peak RSS':>9} {'growth':>8}"
    )
    say(head)
    say("-" * len(head))
    mib = 1024 * 1024
    for r in rows:
        if r.get("mode") == "waiting":
            continue
        lat = r["latency_us"]
        peak = r["peak_rss_bytes"] or 0
        grow = r["peak_rss_growth_bytes"] or 0
        say(
            f"{r['engine']:<11} {r['store']:<9} {r['conversations']:>5} "
            f"{r['user_turns']:>6} {r['turns_per_s']:>8.1f} "
            f"{lat['p50'] / 1000:>6.0f} ms {lat['p99'] / 1000:>6.0f} ms "
            f"{peak / mib:>5.0f} MiB {grow / mib:>4.1f} MiB"
        )
    for r in rows:
        if r.get("mode") == "waiting":
            grown = r["rss_after_bytes"] - r["rss_before_bytes"]
            say(
                f"{r['engine']}: {r['conversations']} conversations waiting for input "
                f"(SQLite): RSS +{grown / mib:.1f} MiB, "
                f"{r['bytes_per_waiting_conversation'] / 1024:.1f} KB each"
            )


def table(title: str, cases: list[Case]) -> None:
    from bench.report import say

    say(f"\n== {title}")
    print_rows([c.extra for c in cases], say)
