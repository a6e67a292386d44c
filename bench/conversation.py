"""Scenario 4: one conversation over the full service path on SQLite, turn by turn.

Greeting (``say_static``) -> chat (``say_llm``, self loop, instant model) ->
goodbye when ``[[done]] == true``. Each round starts a run, sends N user messages
(one per turn) and a last turn that sets ``done``. Every turn is timed, and after
it the run's stored row is measured (outside the timing).

The run document keeps every turn (``input_output_pairs``) and the engine state
(chat history included) in one JSON row, which every turn reads, rewrites at the
claim and rewrites again at the end. The row grows linearly with the turns, so the
bytes moved per turn grow too: watch the late-turn latency and the growth rate.
"""

import json
import os
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any

from bench.common import Case, Options, Stats, make_case
from bench.service_sqlite import (
    bench_caller,
    bench_runtime,
    create_workflow,
    open_bench_store,
    remove_db,
)
from bench.workloads import START, JsonDict, conversation, user_says
from threadline.service.caller import Caller
from threadline.service.running.runs import run_one_turn
from threadline.service.runtime import Runtime
from threadline.service.turns import TurnRequest
from threadline.store import Store

NAME = "conversation"
TITLE = "Conversation on SQLite (run_one_turn per user turn, one run)"


class RowProbe:
    """Reads the stored size of a run row through a separate read-only connection."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)

    def row_bytes(self, run_id: str) -> int:
        row = self._db.execute(
            "SELECT length(CAST(body AS BLOB)) FROM workflow_runs WHERE id = ?",
            (run_id,),
        ).fetchone()
        return int(row[0]) if row else 0

    def file_bytes(self) -> int:
        """Database plus write-ahead log on disk."""
        return sum(
            os.path.getsize(p)
            for p in (self._path, Path(f"{self._path}-wal"))
            if os.path.exists(p)
        )

    def close(self) -> None:
        self._db.close()


async def _turn(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    wid: str,
    run_id: str | None,
    raw: JsonDict,
) -> tuple[str, str, JsonDict]:
    doc, outcome = await run_one_turn(
        store,
        caller,
        runtime,
        TurnRequest(workflow_id=wid, run_id=run_id, raw_input=raw, field="run_input"),
    )
    return doc.id, outcome.status, doc.body


async def _conversation(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    wid: str,
    turns: int,
    probe: RowProbe | None,
) -> tuple[list[float], list[int], JsonDict]:
    """One run: start, ``turns`` user turns (timed), the closing turn."""
    run_id, status, _ = await _turn(store, caller, runtime, wid, None, START)
    if status != "waiting_for_user_input":
        raise AssertionError(f"start ended {status}")
    latencies: list[float] = []
    sizes: list[int] = []
    for i in range(turns):
        raw = user_says(f"Message {i}: I would like to book a visit next week.")
        started = time.perf_counter_ns()
        _, status, _ = await _turn(store, caller, runtime, wid, run_id, raw)
        latencies.append((time.perf_counter_ns() - started) / 1000)
        if status != "waiting_for_user_input":
            raise AssertionError(f"turn {i + 2} ended {status}")
        if probe is not None:
            sizes.append(probe.row_bytes(run_id))
    bye = user_says("That is all, thanks.", runtime_variables={"done": True})
    _, status, body = await _turn(store, caller, runtime, wid, run_id, bye)
    if status != "completed":
        raise AssertionError(f"closing turn ended {status}")
    return latencies, sizes, body


def _json_bytes(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


def _breakdown(body: JsonDict, turns: int) -> JsonDict:
    """Where the row's bytes are, and how much each part grows per turn."""
    run = body["workflow_run"]
    pairs = _json_bytes(run["input_output_pairs"])
    state = _json_bytes(body["state"])
    snapshot = _json_bytes(run["workflow_config_fully_hydrated"])
    history = _json_bytes(body["state"]["threads"]["0"]["history"])
    return {
        "input_output_pairs_bytes": pairs,
        "state_bytes": state,
        "state_history_bytes": history,
        "config_snapshot_bytes": snapshot,
        "pairs_bytes_per_turn": round(pairs / (turns + 2)),
        "state_bytes_per_turn": round(state / (turns + 2)),
    }


def _window(samples: list[float], start: int, stop: int) -> JsonDict:
    part = sorted(samples[start:stop])
    stats = Stats.of(part)
    return {"turns": f"{start + 2}-{stop + 1}", "p50_us": round(stats.p50, 1)}


async def run(opts: Options) -> list[Case]:
    path = opts.work_dir / "conversation.db"
    store = await open_bench_store(path)
    caller, runtime = bench_caller(), bench_runtime()
    turns = 30 if opts.quick else opts.conversation_turns
    probe = RowProbe(path)
    try:
        wid = await create_workflow(store, caller, conversation())
        await _conversation(store, caller, runtime, wid, 10, None)  # warm-up
        all_latencies: list[float] = []
        medians: list[float] = []
        by_turn: list[list[float]] = [[] for _ in range(turns)]
        sizes: list[int] = []
        body: JsonDict = {}
        before = probe.file_bytes()
        for _ in range(opts.rounds):
            latencies, sizes, body = await _conversation(
                store, caller, runtime, wid, turns, probe
            )
            all_latencies += latencies
            medians.append(statistics.median(latencies))
            for index, value in enumerate(latencies):
                by_turn[index].append(value)
        file_growth = probe.file_bytes() - before
    finally:
        probe.close()
        await store.close()
        remove_db(path)
    per_index = [statistics.median(v) for v in by_turn]
    tenth = max(turns // 10, 1)
    middle = turns // 2 - tenth // 2
    growth = (sizes[-1] - sizes[0]) / max(len(sizes) - 1, 1)
    extra: JsonDict = {
        "user_turns_per_run": turns,
        "runs": opts.rounds,
        "latency_by_turn_window": [
            _window(per_index, 0, tenth),
            _window(per_index, middle, middle + tenth),
            _window(per_index, turns - tenth, turns),
        ],
        "row_bytes_after_turn_2": sizes[0],
        "row_bytes_after_last_user_turn": sizes[-1],
        "row_growth_bytes_per_turn": round(growth),
        "row_bytes_rewritten_per_run": sum(sizes) * 2,
        "db_file_growth_bytes_per_turn": round(
            file_growth / (opts.rounds * (turns + 2))
        ),
        "row_breakdown_at_end": _breakdown(body, turns),
        "note": (
            "each turn appends its history rows (run_history) and one run_turns "
            "row; the run row holds the state without its lists and the totals, "
            "does not grow, and is rewritten once per turn; row_breakdown_at_end "
            "is the whole run as a read returns it (history included), not the row"
        ),
    }
    measured = (all_latencies, medians)
    return [make_case(NAME, f"chat, {turns} user turns", 1, measured, **extra)]
