"""What one conversation turn costs the store: statements, transactions, bytes, CPU.

Drives the ``bench-compare`` conversation (greet -> classify -> answer -> classify,
two instant model calls a turn) through ``run_one_turn`` on a SQLite file, or on
PostgreSQL with ``--url``, and counts every SQL statement and every ``COMMIT`` with
SQLAlchemy event listeners. Prints per-turn figures for the first and the last 10 %
of the turns: statements, transactions, CPU (``time.process_time``, all threads; with
``--rounds`` the median over the conversations of each turn index), the wall-clock
p50 and the bytes the turn's ``UPDATE``s of the run row carried; then the CPU a turn
by tenth of the conversation (flat when a turn's cost does not grow with its length).

    .venv/bin/python -m bench.turn_cost --turns 200 --rounds 3
"""

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench.compare_threadline import support_chat, user_turn
from bench.service_sqlite import (
    bench_caller,
    bench_runtime,
    create_workflow,
    open_bench_store,
    remove_db,
    waiting_turn,
)
from bench.workloads import START
from threadline.store import Store, open_store


class Counter:
    """Statements and commits seen on an engine.

    On SQLite the hot statements run straight on the sqlite3 connection
    (``store.prepared``), below SQLAlchemy's events: there every statement is
    counted with SQLite's own trace callback, set on each connection checked out.
    """

    _SKIP = ("BEGIN", "PRAGMA", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT")

    def __init__(self, store: Store) -> None:
        engine = store._engine.sync_engine  # type: ignore[attr-defined]
        self.statements = 0
        self.commits = 0
        self.row_bytes = 0
        if engine.dialect.name == "sqlite":
            event.listen(engine, "checkout", self._trace_connection)
            return
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)

    def _trace_connection(self, dbapi_conn: Any, *_: Any) -> None:
        dbapi_conn.set_trace_callback(self._traced)

    def _traced(self, stmt: str) -> None:
        head = stmt.lstrip()[:10].upper()
        if head.startswith("COMMIT"):
            self.commits += 1
        if head.startswith(self._SKIP):
            return
        self.statements += 1
        if head.startswith("UPDATE") and "workflow_runs" in stmt:
            self.row_bytes += len(stmt)  # the statement with its values bound

    def _statement(
        self, conn: Any, cursor: Any, stmt: str, params: Any, *_: Any
    ) -> None:
        if stmt.lstrip().upper().startswith(("BEGIN", "PRAGMA")):
            return
        self.statements += 1
        if "workflow_runs" in stmt and stmt.lstrip().upper().startswith("UPDATE"):
            self.row_bytes += len(json.dumps(params, default=str))

    def _commit(self, conn: Any) -> None:
        self.commits += 1


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1, help="conversations")
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    path = Path("bench/results/tmp/turn-cost.db")
    if args.url:
        store = open_store(args.url)
        await store.migrate()
    else:
        store = await open_bench_store(path)
    caller, runtime = bench_caller(), bench_runtime()
    counter = Counter(store)
    wid = await create_workflow(store, caller, support_chat())

    async def turn(run_id: str | None, raw: Any) -> str:
        return await waiting_turn(
            store, caller, runtime, workflow_id=wid, run_id=run_id, raw=raw
        )

    rounds: list[list[tuple[int, int, int, float, float]]] = []
    try:
        for _ in range(args.rounds):
            rows: list[tuple[int, int, int, float, float]] = []
            run_id = await turn(None, START)
            for i in range(args.turns):
                s, c, b = counter.statements, counter.commits, counter.row_bytes
                cpu, wall = time.process_time(), time.perf_counter()
                await turn(run_id, user_turn(i))
                cpu = time.process_time() - cpu
                wall = time.perf_counter() - wall
                rows.append(
                    (
                        counter.statements - s,
                        counter.commits - c,
                        counter.row_bytes - b,
                        cpu,
                        wall,
                    )
                )
            rounds.append(rows)
    finally:
        await store.close()
        if not args.url:
            remove_db(path)
    # Per turn index, the median over the rounds (a loaded box stalls turns).
    rows = [
        (
            rounds[0][i][0],
            rounds[0][i][1],
            rounds[0][i][2],
            statistics.median(r[i][3] for r in rounds),
            statistics.median(r[i][4] for r in rounds),
        )
        for i in range(args.turns)
    ]
    tenth = max(len(rows) // 10, 1)
    for name, part in (("first 10%", rows[:tenth]), ("last 10%", rows[-tenth:])):
        print(
            f"{name}: statements {statistics.mean(r[0] for r in part):.1f}"
            f"  commits {statistics.mean(r[1] for r in part):.1f}"
            f"  run-row bytes written {statistics.mean(r[2] for r in part):.0f}"
            f"  cpu {statistics.median(r[3] for r in part) * 1000:.2f} ms (median)"
            f" {statistics.mean(r[3] for r in part) * 1000:.2f} ms (mean)"
            f"  wall p50 {statistics.median(r[4] for r in part) * 1000:.2f} ms"
        )
    tenths = [rows[k * tenth : (k + 1) * tenth] for k in range(len(rows) // tenth)]
    print(
        "cpu by tenth of the turns (ms, median):",
        " ".join(f"{statistics.median(r[3] for r in p) * 1000:.2f}" for p in tenths),
    )


if __name__ == "__main__":
    asyncio.run(main())
