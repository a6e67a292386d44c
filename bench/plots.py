"""PNG plots from ``bench/results/compare.json`` (needs matplotlib).

Run by ``bench.compare`` with the LangGraph venv's python, which has matplotlib,
so the project venv needs nothing new:

    bench/results/tmp/langgraph-venv/bin/python -m bench.plots \
        bench/results/compare.json bench/results
"""

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

COLOURS = {
    "Threadline": "#2b6cb0",
    "LangGraph": "#dd6b20",
    "Threadline SQLite": "#2b6cb0",
    "Threadline PostgreSQL": "#90cdf4",
    "LangGraph SQLite": "#dd6b20",
    "LangGraph PostgreSQL": "#fbd38d",
}


def _bars(
    ax: Any, groups: list[str], series: dict[str, list[float]], unit: str
) -> None:
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        bars = ax.bar(
            xs,
            values,
            width,
            label=label,
            color=COLOURS.get(label, COLOURS.get(label.split()[0])),
        )
        ax.bar_label(bars, labels=[f"{v:,.1f}" for v in values], fontsize=7, padding=2)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel(unit)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def plot(doc: dict[str, Any], out_dir: Path) -> list[Path]:
    rows = doc["comparison"]
    written = []
    stamp = f"{doc['machine']['cpu_model']}, {doc['machine']['cores']} cores"

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, mode, title in (
        (axes[0], "memory", "In memory (no persistence)"),
        (axes[1], "sqlite", "Durable, SQLite file, new run per call"),
    ):
        picked = [r for r in rows if r["measure"] == mode]
        groups = [f"{r['nodes']} nodes" for r in picked]
        _bars(
            ax,
            groups,
            {
                "Threadline": [r["threadline_node_p50_us"] for r in picked],
                "LangGraph": [r["langgraph_node_p50_us"] for r in picked],
            },
            "µs per node (p50 of turn / nodes)",
        )
        ax.set_title(title, fontsize=10)
    fig.suptitle(f"Engine overhead per node, instant nodes ({stamp})", fontsize=10)
    fig.tight_layout()
    written.append(out_dir / "compare_per_node.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)

    chat = next(r for r in rows if r["measure"] == "conversation")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    _bars(
        axes[0],
        ["p50", "p99", "first 10% p50", "last 10% p50"],
        {
            "Threadline": [
                chat["threadline_p50_ms"],
                chat["threadline_p99_ms"],
                chat["threadline_first_p50_ms"],
                chat["threadline_last_p50_ms"],
            ],
            "LangGraph": [
                chat["langgraph_p50_ms"],
                chat["langgraph_p99_ms"],
                chat["langgraph_first_p50_ms"],
                chat["langgraph_last_p50_ms"],
            ],
        },
        "ms per user turn",
    )
    axes[0].set_title(
        f"Conversation turn latency ({chat['turns']} turns x "
        f"{chat['runs']} runs, SQLite)",
        fontsize=10,
    )
    _bars(
        axes[1],
        ["database KB / turn", "payload KB / turn"],
        {
            "Threadline": [
                chat["threadline_db_kb_per_turn"],
                chat["threadline_payload_kb_per_turn"],
            ],
            "LangGraph": [
                chat["langgraph_db_kb_per_turn"],
                chat["langgraph_payload_kb_per_turn"],
            ],
        },
        "KB added per user turn",
    )
    axes[1].set_title(
        f"Storage growth (rows/turn: Threadline {chat['threadline_rows_per_turn']}, "
        f"LangGraph {chat['langgraph_rows_per_turn']})",
        fontsize=10,
    )
    fig.suptitle(f"Conversational workflow, instant model ({stamp})", fontsize=10)
    fig.tight_layout()
    written.append(out_dir / "compare_conversation.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)
    if doc.get("throughput"):
        written.append(plot_throughput(doc, out_dir, stamp))
    return written


def plot_throughput(doc: dict[str, Any], out_dir: Path, stamp: str) -> Path:
    """Turns per second and p99 by concurrency, both engines, SQLite and PG."""
    rows = [r for r in doc["throughput"] if r["measure"] == "throughput"]
    levels = sorted({r["conversations"] for r in rows})
    groups = [f"{c} conv." for c in levels]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    for ax, key, unit, title in (
        (axes[0], "turns_per_s", "user turns per second", "Throughput"),
        (axes[1], "p99_ms", "ms (p99 per user turn)", "p99 turn latency"),
    ):
        series: dict[str, list[float]] = {}
        for store, store_name in (("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
            for engine, engine_name in (
                ("threadline", "Threadline"),
                ("langgraph", "LangGraph"),
            ):
                values = []
                for level in levels:
                    row = next(
                        (
                            r
                            for r in rows
                            if r["store"] == store and r["conversations"] == level
                        ),
                        {},
                    )
                    values.append(float(row.get(f"{engine}_{key}") or 0.0))
                if any(values):
                    series[f"{engine_name} {store_name}"] = values
        _bars(ax, groups, series, unit)
        ax.set_title(title, fontsize=10)
    fig.suptitle(
        f"Many conversations at once, model 50 ms a call, 2 calls a turn ({stamp})",
        fontsize=10,
    )
    fig.tight_layout()
    path = out_dir / "compare_throughput.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    source, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in plot(json.loads(source.read_text()), out_dir):
        sys.stdout.write(f"wrote {path}\n")


if __name__ == "__main__":
    main()
