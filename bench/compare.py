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

from bench import compare_threadline
from bench.common import JsonDict, Options, machine
from bench.report import say

RESULTS = Path("bench/results")
VENV = RESULTS / "tmp" / "langgraph-venv"
PINS = (
    "langgraph==1.2.24",
    "langgraph-checkpoint-sqlite==3.1.2",
    "matplotlib==3.11.2",
)
SCHEMA_VERSION = 1


def _log(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path) -> Path:
    """Create the LangGraph venv and install the pins unless already done."""
    marker = venv / "bench-pins.txt"
    wanted = "\n".join(PINS) + "\n"
    python = venv_python(venv)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    base = shutil.which("python3.11") or sys.executable
    _log(f"creating {venv} with {base} and installing {' '.join(PINS)}")
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PINS], check=True)
    marker.write_text(wanted)
    return python


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
    ]
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
        }
    )
    return rows


def _us(value: float) -> str:
    return f"{value / 1000:,.2f} ms" if value >= 1000 else f"{value:,.1f} µs"


def print_table(rows: list[JsonDict], versions: JsonDict) -> None:
    say(
        f"\n== Threadline vs LangGraph {versions.get('langgraph')} "
        f"(checkpoint-sqlite {versions.get('langgraph-checkpoint-sqlite')}), p50"
    )
    head = (
        f"{'measure':<10} {'nodes':>5} {'TL turn':>10} {'TL node':>10} "
        f"{'LG turn':>10} {'LG node':>10} {'LG async node':>14} {'LG/TL':>6}"
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
            f"{r['langgraph_over_threadline']:>5.2f}x"
        )
    c = rows[-1]
    say(
        f"\n== Conversation on SQLite, {c['turns']} user turns x {c['runs']} runs "
        "(2 instant model calls a turn)"
    )
    head = (
        f"{'engine':<11} {'p50':>8} {'p99':>8} {'first10%':>9} {'last10%':>8} "
        f"{'KB/turn db':>11} {'KB/turn data':>13} {'rows/turn':>10}"
    )
    say(head)
    say("-" * len(head))
    for name, key in (("Threadline", "threadline"), ("LangGraph", "langgraph")):
        say(
            f"{name:<11} {c[key + '_p50_ms']:>5.2f} ms {c[key + '_p99_ms']:>5.2f} ms "
            f"{c[key + '_first_p50_ms']:>6.2f} ms {c[key + '_last_p50_ms']:>5.2f} ms "
            f"{c[key + '_db_kb_per_turn']:>11.1f} "
            f"{c[key + '_payload_kb_per_turn']:>13.1f} "
            f"{c[key + '_rows_per_turn']:>10}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.compare")
    parser.add_argument("--quick", action="store_true", help="tiny budgets (smoke)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0, help="per round")
    parser.add_argument("--turns", type=int, default=200, help="conversation turns")
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
        work_dir=RESULTS / "tmp",
    )
    tl_cases = asyncio.run(compare_threadline.run(opts, _log))
    threadline = [c.to_json() for c in tl_cases]
    langgraph = run_langgraph(python, args, RESULTS / "tmp" / "langgraph-side.json")
    rows = comparison(threadline, langgraph["results"])
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "units": "microseconds unless a key says otherwise",
        "machine": info,
        "options": {
            "quick": args.quick,
            "rounds": args.rounds,
            "seconds_per_round": args.seconds,
            "turns": args.turns,
        },
        "langgraph_versions": langgraph["versions"],
        "comparison": rows,
        "threadline": threadline,
        "langgraph": langgraph["results"],
    }
    out = out_dir / "compare.json"
    out.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    print_table(rows, langgraph["versions"])
    if not args.no_plots:
        subprocess.run(
            [str(python), "-m", "bench.plots", str(out), str(out_dir)], check=True
        )
    say(f"\nwrote {out} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
