"""Micro-benchmark of the SQLite store path: write units, alone or concurrent.

One unit is one ``store.begin()`` that inserts a document and reads it back.
Prints units/s, the process's CPU a unit and, on SQLite, how many commits the
units took (group commit). Run base and change alternating (``PYTHONPATH`` of an
exported ``src``) as docs/benchmarks.md describes::

    python -m bench.store_units --writers 100 --units 20
    python -m bench.store_units --writers 100 --units 10 --synchronous FULL
    python -m bench.store_units --writers 100 --units 20 --group 1   # no grouping
"""

import argparse
import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from threadline.ids import new_object_id
from threadline.store import Document, Store, open_store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def unit(store: Store, team: str) -> None:
    async with store.begin() as tx:
        doc = Document(
            id=new_object_id(), team_id=team, body={"n": 1}, name="x",
            created_at=T0, updated_at=T0,
        )  # fmt: skip
        await tx.documents("workflows").insert(doc)
        await tx.documents("workflows").get(team, doc.id)


async def measure(args: argparse.Namespace) -> str:
    path = Path(args.dir) / f"units-{os.getpid()}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    kwargs: dict[str, Any] = {}
    if args.synchronous:  # the base may not know the setting
        kwargs["sqlite_synchronous"] = args.synchronous
    store = open_store(f"sqlite:///{path}", **kwargs)
    await store.migrate()
    group = getattr(store, "_serial", None)
    if args.group and hasattr(group, "_max"):
        group._max = args.group  # type: ignore[union-attr]
    team = new_object_id()
    try:
        for _ in range(50):  # warm-up
            await unit(store, team)
        commits = getattr(group, "commits", None)

        async def writer() -> None:
            for _ in range(args.units):
                await unit(store, team)

        began, began_cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(writer() for _ in range(args.writers)))
        wall = time.perf_counter() - began
        cpu = time.process_time() - began_cpu
        total = args.writers * args.units
        made = "n/a" if commits is None else str(group.commits - commits)  # type: ignore[union-attr]
    finally:
        await store.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return (
        f"synchronous={args.synchronous or 'NORMAL'} writers={args.writers} "
        f"group={args.group or 'default'}: {total / wall:.0f} units/s, "
        f"CPU {1e6 * cpu / total:.0f} us a unit, commits {made} for {total} units"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.store_units")
    parser.add_argument("--writers", type=int, default=1)
    parser.add_argument("--units", type=int, default=1000, help="per writer")
    parser.add_argument("--synchronous", default=None, help="NORMAL (default), FULL")
    parser.add_argument("--group", type=int, default=0, help="most units a commit")
    parser.add_argument("--dir", default="bench/results/tmp")
    args = parser.parse_args(argv)
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    print(asyncio.run(measure(args)))


if __name__ == "__main__":
    main()
