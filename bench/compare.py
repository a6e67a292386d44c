"""``make bench-compare``: Threadline and LangGraph side by side, in one run.

    python -m bench.compare              # full run (~2-3 minutes here, once set up)
    python -m bench.compare --quick      # smoke run (writes bench/results/tmp/)

LangGraph is installed from PyPI, at the versions pinned below, into its own venv
(``bench/results/tmp/langgraph-venv``, git-ignored, made on first use) and run as
a subprocess (``bench.langgraph_side``) that writes its figures as JSON: the
project venv never imports langgraph. The plots are drawn by ``bench.plots`` with
that venv's matplotlib. Writes ``bench/results/compare.json`` and
``bench/results/compare_*.png`` and prints a table. See docs/benchmarks.md.
"""

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import compare_threadline, throughput
from bench.common import JsonDict, Options, machine
from bench.report import say

RESULTS = Path("bench/results")
VENV = RESULTS / "tmp" / "langgraph-venv"
PINS = (
    "langgraph==1.2.24",
    "langgraph-checkpoint-sqlite==3.1.2",
    "matplotlib==3.11.2",
)
PG_PINS = (
    "langgraph-checkpoint-postgres==3.2.0",
    "psycopg[binary]==3.3.9",
    "psycopg-pool==3.3.3",
)
"""LangGraph's PostgreSQL saver: optional; its rows are skipped if it won't install."""
SCHEMA_VERSION = 3


def _log(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path) -> Path:
    """Create the LangGraph venv and install the pins unless already done."""
    marker = venv / "bench-pins.txt"
    wanted = "\n".join(PINS + PG_PINS) + "\n"
    python = venv_python(venv)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    base = shutil.which("python3.11") or sys.executable
    _log(f"creating {venv} with {base} and installing {' '.join(PINS)}")
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PINS], check=True)
    pg = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PG_PINS])
    if pg.returncode != 0:
        _log("langgraph-checkpoint-postgres did not install: no LangGraph PG rows")
    marker.write_text(wanted)
    return python


def has_postgres_saver(python: Path) -> bool:
    probe = "import langgraph.checkpoint.postgres.aio, psycopg_pool"
    done = subprocess.run([str(python), "-c", probe], capture_output=True)
    return done.returncode == 0


def run_langgraph(python: Path, args: argparse.Namespace, out: Path) -> JsonDict:
    command = [
        str(python),
        "-m",
        "bench.langgraph_side",
        "--out",
        str(out),
        "--rounds",
        str(args.rounds),
        "--seconds",
        str(args.seconds),
        "--turns",
        str(args.turns),
        "--lanes",
        str(args.lanes),
    ]
    if args.no_gc_freeze:
        command.append("--no-gc-freeze")
    if args.quick:
        command.append("--quick")
    subprocess.run(command, check=True)
    document: JsonDict = json.loads(out.read_text())
    return document


def _find(results: list[JsonDict], scenario: str, case: str) -> JsonDict:
    return next(r for r in results if r["scenario"] == scenario and r["case"] == case)


def _ms(us: float) -> float:
    return round(us / 1000, 2)


def _storage(result: JsonDict) -> JsonDict:
    """Median over the runs of each per-turn storage figure."""
    runs = result["extra"]["storage_per_run"]
    keys = ("db_bytes_per_turn", "payload_bytes_per_turn", "rows_per_turn")
    return {k: sorted(r[k] for r in runs)[len(runs) // 2] for k in keys}


def _cpu(result: JsonDict) -> float | None:
    """This side's process CPU time per call (µs), when it was measured."""
    value = result.get("extra", {}).get("cpu_us_per_call")
    return None if value is None else float(value)


def _load_cpu_ms(result: JsonDict) -> float | None:
    """CPU ms per user turn of a throughput worker (all its threads)."""
    cpu, done = result.get("process_cpu_s"), result.get("user_turns")
    return round(1000 * cpu / done, 2) if cpu is not None and done else None


def comparison(tl: list[JsonDict], lg: list[JsonDict]) -> list[JsonDict]:
    rows: list[JsonDict] = []
    for measure, lg_async in (("memory", "memory_async"), ("sqlite", "sqlite_async")):
        for size in (1, 5, 20):
            case = f"linear x{size}"
            t, g = _find(tl, measure, case), _find(lg, measure, case)
            ga = _find(lg, lg_async, case)
            rows.append(
                {
                    "measure": measure,
                    "nodes": size,
                    "threadline_turn_p50_us": t["per_turn_us"]["p50"],
                    "threadline_node_p50_us": t["per_node_us"]["p50"],
                    "langgraph_turn_p50_us": g["per_turn_us"]["p50"],
                    "langgraph_node_p50_us": g["per_node_us"]["p50"],
                    "langgraph_async_turn_p50_us": ga["per_turn_us"]["p50"],
                    "langgraph_async_node_p50_us": ga["per_node_us"]["p50"],
                    "langgraph_over_threadline": round(
                        g["per_turn_us"]["p50"] / t["per_turn_us"]["p50"], 2
                    ),
                    "threadline_cpu_us_per_turn": _cpu(t),
                    "langgraph_cpu_us_per_turn": _cpu(g),
                    "langgraph_async_cpu_us_per_turn": _cpu(ga),
                }
            )
    t = next(r for r in tl if r["scenario"] == "conversation")
    g = next(r for r in lg if r["scenario"] == "conversation")
    ts, gs = _storage(t), _storage(g)
    rows.append(
        {
            "measure": "conversation",
            "turns": t["extra"]["user_turns_per_run"],
            "runs": t["extra"]["runs"],
            "threadline_p50_ms": _ms(t["per_turn_us"]["p50"]),
            "threadline_p99_ms": _ms(t["per_turn_us"]["p99"]),
            "threadline_first_p50_ms": _ms(t["extra"]["p50_first_tenth_us"]),
            "threadline_last_p50_ms": _ms(t["extra"]["p50_last_tenth_us"]),
            "langgraph_p50_ms": _ms(g["per_turn_us"]["p50"]),
            "langgraph_p99_ms": _ms(g["per_turn_us"]["p99"]),
            "langgraph_first_p50_ms": _ms(g["extra"]["p50_first_tenth_us"]),
            "langgraph_last_p50_ms": _ms(g["extra"]["p50_last_tenth_us"]),
            "threadline_db_kb_per_turn": round(ts["db_bytes_per_turn"] / 1024, 1),
            "threadline_payload_kb_per_turn": round(
                ts["payload_bytes_per_turn"] / 1024, 1
            ),
            "threadline_rows_per_turn": ts["rows_per_turn"],
            "langgraph_db_kb_per_turn": round(gs["db_bytes_per_turn"] / 1024, 1),
            "langgraph_payload_kb_per_turn": round(
                gs["payload_bytes_per_turn"] / 1024, 1
            ),
            "langgraph_rows_per_turn": gs["rows_per_turn"],
            "threadline_cpu_ms_per_turn": _ms(_cpu(t) or 0.0),
            "langgraph_cpu_ms_per_turn": _ms(_cpu(g) or 0.0),
        }
        | _flatness("threadline", t)
        | _flatness("langgraph", g)
    )
    return rows


def _flatness(side: str, result: JsonDict) -> JsonDict:
    """The conversation's first/last tenth: ratio, rounds' spread, CPU, GC."""
    x = result["extra"]
    return {
        f"{side}_lanes": x.get("lanes"),
        f"{side}_last_over_first": x.get("last_over_first"),
        f"{side}_round_ratios": [r["last_over_first"] for r in x.get("rounds", [])],
        f"{side}_cpu_first_ms": _ms(x.get("cpu_first_tenth_us") or 0.0),
        f"{side}_cpu_last_ms": _ms(x.get("cpu_last_tenth_us") or 0.0),
        f"{side}_cpu_last_over_first": x.get("cpu_last_over_first"),
        f"{side}_gc_first_tenth": x.get("gc_first_tenth"),
        f"{side}_gc_last_tenth": x.get("gc_last_tenth"),
        f"{side}_gc_frozen": x.get("gc_frozen_after_warmup"),
    }


def throughput_comparison(tl: list[JsonDict], lg: list[JsonDict]) -> list[JsonDict]:
    """Side by side throughput rows (Threadline / LangGraph) and waiting memory."""
    rows: list[JsonDict] = []
    for t in tl:
        if t.get("mode") == "waiting":
            continue
        g = next(
            (
                r
                for r in lg
                if r.get("mode") != "waiting"
                and r["store"] == t["store"]
                and r["conversations"] == t["conversations"]
            ),
            None,
        )
        row: JsonDict = {
            "measure": "throughput",
            "store": t["store"],
            "conversations": t["conversations"],
            "turns_per_conversation": t["turns_per_conversation"],
            "threadline_turns_per_s": t["turns_per_s"],
            "threadline_p50_ms": _ms(t["latency_us"]["p50"]),
            "threadline_p99_ms": _ms(t["latency_us"]["p99"]),
            "threadline_peak_rss_mib": _mib(t["peak_rss_bytes"]),
            "threadline_rss_growth_mib": _mib(t["peak_rss_growth_bytes"]),
            "threadline_cpu_ms_per_turn": _load_cpu_ms(t),
        }
        if g is not None:
            row |= {
                "langgraph_turns_per_s": g["turns_per_s"],
                "langgraph_p50_ms": _ms(g["latency_us"]["p50"]),
                "langgraph_p99_ms": _ms(g["latency_us"]["p99"]),
                "langgraph_cpu_ms_per_turn": _load_cpu_ms(g),
                "langgraph_peak_rss_mib": _mib(g["peak_rss_bytes"]),
                "langgraph_rss_growth_mib": _mib(g["peak_rss_growth_bytes"]),
                "threadline_over_langgraph": round(
                    t["turns_per_s"] / g["turns_per_s"], 2
                ),
            }
        rows.append(row)
    tw = next((r for r in tl if r.get("mode") == "waiting"), None)
    gw = next((r for r in lg if r.get("mode") == "waiting"), None)
    if tw is not None:
        row = {
            "measure": "waiting_memory",
            "store": "sqlite",
            "conversations": tw["conversations"],
            "threadline_kb_per_conversation": round(
                tw["bytes_per_waiting_conversation"] / 1024, 1
            ),
        }
        if gw is not None:
            row["langgraph_kb_per_conversation"] = round(
                gw["bytes_per_waiting_conversation"] / 1024, 1
            )
        rows.append(row)
    return rows


def _mib(value: int | None) -> float | None:
    return None if value is None else round(value / (1024 * 1024), 1)


def print_throughput(rows: list[JsonDict]) -> None:
    say(
        "\n== Many conversations at once: 50 ms model, 2 calls a turn "
        "(TL/LG = turns/s ratio)"
    )
    head = (
        f"{'store':<9} {'conv':>5} {'TL turns/s':>11} {'LG turns/s':>11} "
        f"{'TL/LG':>6} {'TL p50':>8} {'TL p99':>8} {'LG p50':>8} {'LG p99':>8} "
        f"{'TL peak':>8} {'LG peak':>8} {'TL cpu':>9} {'LG cpu':>9}"
    )
    say(head)
    say("-" * len(head))

    def num(row: JsonDict, key: str, fmt: str) -> str:
        value = row.get(key)
        return "-" if value is None else format(value, fmt)

    for r in rows:
        if r["measure"] != "throughput":
            continue
        say(
            f"{r['store']:<9} {r['conversations']:>5} "
            f"{num(r, 'threadline_turns_per_s', '.1f'):>11} "
            f"{num(r, 'langgraph_turns_per_s', '.1f'):>11} "
            f"{num(r, 'threadline_over_langgraph', '.2f'):>6} "
            f"{num(r, 'threadline_p50_ms', '.0f'):>5} ms "
            f"{num(r, 'threadline_p99_ms', '.0f'):>5} ms "
            f"{num(r, 'langgraph_p50_ms', '.0f'):>5} ms "
            f"{num(r, 'langgraph_p99_ms', '.0f'):>5} ms "
            f"{num(r, 'threadline_peak_rss_mib', '.0f'):>4} MiB "
            f"{num(r, 'langgraph_peak_rss_mib', '.0f'):>4} MiB "
            f"{num(r, 'threadline_cpu_ms_per_turn', '.2f'):>6} ms "
            f"{num(r, 'langgraph_cpu_ms_per_turn', '.2f'):>6} ms"
        )
    for r in rows:
        if r["measure"] == "waiting_memory":
            say(
                f"memory per waiting conversation ({r['conversations']}, SQLite): "
                f"Threadline {r['threadline_kb_per_conversation']} KB, "
                f"LangGraph {r.get('langgraph_kb_per_conversation', '-')} KB"
            )


def _us(value: float) -> str:
    return f"{value / 1000:,.2f} ms" if value >= 1000 else f"{value:,.1f} µs"


def _cpu_text(value: float | None) -> str:
    return "-" if value is None else _us(value)


def print_table(rows: list[JsonDict], versions: JsonDict) -> None:
    say(
        f"\n== Threadline vs LangGraph {versions.get('langgraph')} "
        f"(checkpoint-sqlite {versions.get('langgraph-checkpoint-sqlite')}), p50"
    )
    head = (
        f"{'measure':<10} {'nodes':>5} {'TL turn':>10} {'TL node':>10} "
        f"{'LG turn':>10} {'LG node':>10} {'LG async node':>14} {'LG/TL':>6} "
        f"{'TL cpu':>10} {'LG cpu':>10}"
    )
    say(head)
    say("-" * len(head))
    for r in rows:
        if r["measure"] == "conversation":
            continue
        say(
            f"{r['measure']:<10} {r['nodes']:>5} "
            f"{_us(r['threadline_turn_p50_us']):>10} "
            f"{_us(r['threadline_node_p50_us']):>10} "
            f"{_us(r['langgraph_turn_p50_us']):>10} "
            f"{_us(r['langgraph_node_p50_us']):>10} "
            f"{_us(r['langgraph_async_node_p50_us']):>14} "
            f"{r['langgraph_over_threadline']:>5.2f}x "
            f"{_cpu_text(r['threadline_cpu_us_per_turn']):>10} "
            f"{_cpu_text(r['langgraph_cpu_us_per_turn']):>10}"
        )
    c = next(r for r in rows if r["measure"] == "conversation")
    say(
        f"\n== Conversation on SQLite, {c['turns']} user turns, "
        f"{c.get('threadline_lanes')} conversations interleaved x {c['runs']} "
        "rotations (2 instant model calls a turn)"
    )
    head = (
        f"{'engine':<11} {'p50':>8} {'p99':>8} {'first10%':>9} {'last10%':>8} "
        f"{'KB/turn db':>11} {'KB/turn data':>13} {'rows/turn':>10} {'cpu':>8}"
    )
    say(head)
    say("-" * len(head))
    for name, key in (("Threadline", "threadline"), ("LangGraph", "langgraph")):
        say(
            f"{name:<11} {c[key + '_p50_ms']:>5.2f} ms {c[key + '_p99_ms']:>5.2f} ms "
            f"{c[key + '_first_p50_ms']:>6.2f} ms {c[key + '_last_p50_ms']:>5.2f} ms "
            f"{c[key + '_db_kb_per_turn']:>11.1f} "
            f"{c[key + '_payload_kb_per_turn']:>13.1f} "
            f"{c[key + '_rows_per_turn']:>10} "
            f"{c.get(key + '_cpu_ms_per_turn', 0):>5.2f} ms"
        )
    say("first/last 10% (last / first): wall over all rounds, each round, CPU; GC")
    for name, key in (("Threadline", "threadline"), ("LangGraph", "langgraph")):
        ratios = ", ".join(f"{v:.2f}" for v in c.get(key + "_round_ratios") or [])
        first, last = c.get(key + "_gc_first_tenth"), c.get(key + "_gc_last_tenth")
        say(
            f"{name:<11} wall {c.get(key + '_last_over_first')}x (rounds: {ratios}); "
            f"cpu {c.get(key + '_cpu_first_ms')} -> {c.get(key + '_cpu_last_ms')} ms "
            f"({c.get(key + '_cpu_last_over_first')}x); gc first/last tenth "
            f"{_gc_text(first)} / {_gc_text(last)}"
            f"{' (heap frozen after warm-up)' if c.get(key + '_gc_frozen') else ''}"
        )


def _gc_text(found: JsonDict | None) -> str:
    if not found:
        return "-"
    return f"{found['collections']} ({found['gen2']} full, {found['pause_ms']} ms)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.compare")
    parser.add_argument("--quick", action="store_true", help="tiny budgets (smoke)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0, help="per round")
    parser.add_argument("--turns", type=int, default=200, help="conversation turns")
    parser.add_argument(
        "--lanes",
        type=int,
        default=5,
        help="conversations interleaved in the conversation row (bench.flatness)",
    )
    parser.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="no gc.freeze() after warm-up (conversation row, Threadline's worker)",
    )
    parser.add_argument("--venv", type=Path, default=VENV, help="LangGraph venv")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help="where compare.json and the PNGs go (default bench/results, "
        "bench/results/tmp with --quick)",
    )
    args = parser.parse_args(argv)
    out_dir = args.out_dir or (RESULTS / "tmp" if args.quick else RESULTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    info = machine()
    say(
        f"bench-compare: {info['cpu_model']}, {info['cores']} cores, "
        f"Python {info['python']}, {info['date']}"
    )
    python = ensure_venv(args.venv)
    opts = Options(
        quick=args.quick,
        seconds_per_round=args.seconds,
        rounds=args.rounds,
        conversation_turns=args.turns,
        conversation_lanes=args.lanes,
        gc_freeze=not args.no_gc_freeze,
        work_dir=RESULTS / "tmp",
    )
    tl_cases = asyncio.run(compare_threadline.run(opts, _log))
    threadline = [c.to_json() for c in tl_cases]
    langgraph = run_langgraph(python, args, RESULTS / "tmp" / "langgraph-side.json")
    rows = comparison(threadline, langgraph["results"])
    _log("Threadline: many conversations at once")
    tl_load, pg_note = throughput.sweep(throughput.threadline_side(), opts, _log)
    _log("LangGraph: many conversations at once")
    lg_pg = has_postgres_saver(python)
    lg_load, _ = throughput.sweep(
        throughput.langgraph_side(python), opts, _log, postgres=lg_pg
    )
    load_rows = throughput_comparison(tl_load, lg_load)
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "units": "microseconds unless a key says otherwise",
        "machine": info,
        "options": {
            "quick": args.quick,
            "rounds": args.rounds,
            "seconds_per_round": args.seconds,
            "turns": args.turns,
            "lanes": args.lanes,
            "gc_freeze": not args.no_gc_freeze,
        },
        "langgraph_versions": langgraph["versions"],
        "comparison": rows,
        "throughput": load_rows,
        "threadline": threadline,
        "langgraph": langgraph["results"],
        "threadline_throughput": tl_load,
        "langgraph_throughput": lg_load,
        "notes": {
            "postgresql": pg_note or "measured",
            "langgraph_postgres_saver": "installed" if lg_pg else "not installed",
            "durable": (
                "Threadline only (two worker processes against one, recovery after "
                "a SIGKILL): make bench, bench/results/latest.json, scenario durable"
            ),
        },
    }
    out = out_dir / "compare.json"
    out.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    print_table(rows, langgraph["versions"])
    print_throughput(load_rows)
    if not args.no_plots:
        subprocess.run(
            [str(python), "-m", "bench.plots", str(out), str(out_dir)], check=True
        )
    say(f"\nwrote {out} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
