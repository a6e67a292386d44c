"""The printed table and the JSON file."""

import json
import sys
from pathlib import Path

from bench.common import Case, JsonDict

SCHEMA_VERSION = 1


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _us(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:,.1f} ms"
    if value >= 1000:
        return f"{value / 1000:,.2f} ms"
    return f"{value:,.1f} µs"


HEADER = (
    f"{'case':<24} {'nodes':>5} {'n':>7} {'turn p50':>10} {'turn p99':>10} "
    f"{'turn mean':>10} {'node p50':>10} {'node mean':>10} {'spread':>7}"
)


def table(title: str, cases: list[Case]) -> None:
    say(f"\n== {title}")
    say(HEADER)
    say("-" * len(HEADER))
    for c in cases:
        t, n = c.per_turn, c.per_node
        say(
            f"{c.name:<24} {c.nodes_per_turn:>5} {t.n:>7} {_us(t.p50):>10} "
            f"{_us(t.p99):>10} {_us(t.mean):>10} {_us(n.p50):>10} "
            f"{_us(n.mean):>10} {c.spread:>6.1%}"
        )
        for key, value in c.extra.items():
            if isinstance(value, dict):
                inner = ", ".join(f"{k}={v}" for k, v in value.items())
                say(f"    {key}: {inner}")
            elif isinstance(value, list):
                say(f"    {key}: " + "; ".join(_item(v) for v in value))
            else:
                say(f"    {key}: {value}")


def _item(value: object) -> str:
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def write(
    path: Path,
    machine: JsonDict,
    options: JsonDict,
    cases: list[Case],
    notes: JsonDict | None = None,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "schema_version": SCHEMA_VERSION,
        "units": "microseconds",
        "machine": machine,
        "options": options,
        "results": [c.to_json() for c in cases],
        **({"notes": notes} if notes else {}),
    }
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
