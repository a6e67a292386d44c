"""The issue-15 HTTP row alone, optionally alternating two source trees.

    python -m bench.http_chat --rounds 3 [--base /tmp/base/src] [--seconds 20]

Each round starts ``threadline fake-llm`` and ``threadline serve`` as
``bench.http_load`` does, creates the one-call chat, warms it up and runs the
100-connection load (``bench.http_load.load_row``), then stops both. With
``--base``, every round runs twice, first with ``PYTHONPATH`` set to ``--base``
(the ``serve`` process imports that tree's ``threadline``), then without: base and
new side by side on the same box, minute by minute. Prints one line a run.
``--profile out.txt`` runs once, with py-spy recording ``serve`` during the load
(collapsed stacks, 200 Hz).
"""

import argparse
import os
import subprocess
from pathlib import Path

from bench.http_load import (
    CHAT_CONNECTIONS,
    THREADLINE,
    create,
    load_row,
    start_pair,
    stop,
    wait_until_up,
    warm_up,
)
from bench.report import say
from bench.sqlite_probe import remove_db
from bench.workloads import conversation


def one_run(
    label: str,
    pythonpath: str | None,
    seconds: float,
    work: Path,
    profile: str | None = None,
) -> str:
    db = work / f"http-chat-{os.getpid()}.db"
    remove_db(db)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    quiet = subprocess.DEVNULL
    fake, server, fake_port, base, key = start_pair(db, env, quiet)
    try:
        wait_until_up(f"http://127.0.0.1:{fake_port}/v1/models", fake, 60)
        wait_until_up(f"{base}/health", server, 60)
        chat = create(base, key, conversation())
        warm_up(base, key, chat)
        spy = None
        if profile:  # py-spy's collapsed stacks of serve, over the load
            argv = [str(THREADLINE.parent / "py-spy"), "record", "-p", str(server.pid)]
            argv += ["-d", str(int(seconds) - 2), "-f", "raw", "-o", profile]
            spy = subprocess.Popen([*argv, "-r", "200"], stdout=quiet, stderr=quiet)
        row = load_row(base, key, chat, CHAT_CONNECTIONS, seconds, server.pid)
        if spy is not None:
            spy.wait()
    finally:
        stop(server)
        stop(fake)
        remove_db(db)
    load = os.getloadavg()[0]
    return (
        f"{label:<5} {row['requests_per_s']:7.1f} turns/s  "
        f"serve cpu/turn {row['server_cpu_ms_per_request']:.2f} ms  "
        f"p50 {row['latency_us']['p50'] / 1000:.0f} ms  errors {row['errors']}  "
        f"load {load:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.http_chat")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--base", help="a src/ tree to run first in each round")
    parser.add_argument("--profile", help="py-spy collapsed stacks of one new run")
    args = parser.parse_args()
    work = Path("bench/results/tmp").resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.profile:
        say(one_run("new", None, args.seconds, work, args.profile))
        return
    for _ in range(args.rounds):
        if args.base:
            say(one_run("base", args.base, args.seconds, work))
        say(one_run("new", None, args.seconds, work))


if __name__ == "__main__":
    main()
