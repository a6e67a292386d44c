"""Scenario: durable turns across processes (issue 7, items 3b and 4). PostgreSQL only.

**Two worker processes against one.** The same total conversations (100, then
20; each sending 8 user turns of the support chat, 2 model calls a turn,
``SlowLLM`` at 50 ms a call) driven through ``service.running.runs.run_one_turn`` by (a)
one process and (b) two processes sharing one PostgreSQL database, each driving
half. The workers are ``bench.throughput_threadline`` with ``--go-file``: each
starts its conversations (not timed), then all begin their timed phases together;
combined turns per second = all user turns / (last worker's end - first worker's
start), wall clock. A fresh database per case; cases alternate (1, 2, 1, 2, 1, 2)
and the figure is the median of the 3 rounds. Each case also records how busy the
machine's cores were during the timed phase (``/proc/stat``) and the CPU time a
turn cost in the workers, in the rest of the machine (PostgreSQL's backends,
plus whatever else runs on the box), and in the processes named ``postgres``
(``/proc/<pid>/stat``, sampled every 0.2 s).

**Recovery after a SIGKILL.** Two ``threadline serve`` processes (``victim``,
``survivor``) on a fresh PostgreSQL database, with ``threadline fake-llm`` at
2 s a call logging every request (``--log``). ``N`` conversations are started on
the victim, then each sends a user turn to it (2 model calls, so ~4 s a turn) with
its own ``Idempotency-Key``. Once the fake model has received the first call of
every turn (all ``N`` turns in flight), the victim is SIGKILLed. Each client then
re-sends its request, same key, to the survivor, which answers once the turn is
done: the survivor resumes the orphaned turns when the victim's heartbeat is older
than ``THREADLINE_WORKER_DEAD_SECONDS``. Measured from the kill: the last answer a
client gets, and the last model request of the resumed turns (from the fake
model's log) plus its latency. Run with the defaults (dead after 30 s, heartbeat
every 5 s) and with a tight setting (2 s, 0.5 s).

The recovery run asserts that every orphaned turn completed exactly once: every
run has exactly its start and one user turn recorded, is waiting for input again,
and its answer carries the assistant's reply; in the fake model's log each model
call of the turns (identified by its body, which names the conversation) was
answered exactly once after the kill, and a copy before the kill exists only for
a call that was in flight at the kill (received less than its latency before).

``THREADLINE_BENCH_RECOVERY_DEFAULTS=0`` skips the run with the default settings
(it takes ~50 s).
"""

import asyncio
import contextlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from bench.common import Case, Options, Stats
from bench.compare_threadline import support_chat
from bench.http_load import THREADLINE, free_port, stop, wait_until_up
from bench.throughput import (
    PG_ADMIN,
    _pg_url,
    create_database,
    drop_database,
    pg_available,
)
from bench.workloads import START, user_says

NAME = "durable"
TITLE = "Durable turns across processes (PostgreSQL)"
JsonDict = dict[str, Any]

CONVERSATIONS = (100, 20)
"""The goal row (100 conversations), then a lighter load (20)."""
TURNS = 8
LATENCY_MS = 50.0
ROUNDS = 3

RECOVERY_CONVERSATIONS = 50
RECOVERY_LATENCY_MS = 2000
TIGHT = {"dead_s": 2.0, "heartbeat_s": 0.5}
DEFAULTS = {"dead_s": 30.0, "heartbeat_s": 5.0}
WAITING = "waiting_for_user_input"


def _log(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _migrate(database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    env["THREADLINE_DATABASE_URL"] = database_url
    done = subprocess.run(
        [str(THREADLINE), "migrate"], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"threadline migrate failed: {done.stdout}{done.stderr}")


# --- one worker process against two -----------------------------------------------


class CpuSampler:
    """Samples the machine's CPU counters (``/proc/stat``) every 50 ms in a thread,
    so the busy share of any interval (here: the workers' timed phase) can be read
    afterwards. Busy = user + nice + system + irq + softirq; steal (time the
    hypervisor gave the VM's CPUs to others) is reported apart."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, list[int]]] = []
        self.postgres: list[tuple[float, dict[int, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @staticmethod
    def _read() -> list[int]:
        with open("/proc/stat", encoding="ascii") as stat:
            return [int(x) for x in stat.readline().split()[1:9]]

    @staticmethod
    def _postgres() -> dict[int, int]:
        """CPU ticks (user + system) of every process named ``postgres``."""
        ticks = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError, IndexError):
                with open(f"/proc/{entry.name}/stat", encoding="ascii") as stat:
                    line = stat.read()
                name = line[line.index("(") + 1 : line.rindex(")")]
                if name == "postgres":
                    fields = line[line.rindex(")") + 2 :].split()
                    ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
        return ticks

    def _loop(self) -> None:
        beat = 0
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                self.samples.append((time.time(), self._read()))
                if beat % 4 == 0:
                    self.postgres.append((time.time(), self._postgres()))
            beat += 1
            self._stop.wait(0.05)

    def __enter__(self) -> "CpuSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)

    def between(self, began: float, ended: float) -> JsonDict:
        """Busy and steal shares of all cores, and busy CPU seconds, in the interval."""
        inside = [s for s in self.samples if began <= s[0] <= ended]
        if len(inside) < 2:
            return {}
        (t0, a), (t1, b) = inside[0], inside[-1]
        d = [y - x for x, y in zip(a, b, strict=True)]
        user, nice, system, _idle, _iowait, irq, softirq, steal = d
        total = sum(d) or 1
        busy = user + nice + system + irq + softirq
        tick = os.sysconf("SC_CLK_TCK")
        found: JsonDict = {
            "busy_pct": round(100 * busy / total, 1),
            "steal_pct": round(100 * steal / total, 1),
            "busy_cpu_s": round(busy / tick, 2),
            "seconds": round(t1 - t0, 2),
        }
        pg = [p for p in self.postgres if began <= p[0] <= ended]
        if len(pg) >= 2:
            first, last = pg[0][1], pg[-1][1]
            spent = sum(v - first.get(pid, 0) for pid, v in last.items())
            found["postgres_cpu_s"] = round(spent / tick, 2)
            found["postgres_seconds"] = round(pg[-1][0] - pg[0][0], 2)
        return found


def workers_case(
    processes: int, conversations: int, turns: int, work: Path
) -> JsonDict:
    """``processes`` workers on one fresh database, ``conversations`` in all."""
    database = f"bench_workers_{processes}_{os.getpid()}"
    create_database(database)
    url = _pg_url(database, "asyncpg")
    go = work / f"go-{database}"
    for old in work.glob(f"go-{database}*"):
        old.unlink()
    procs: list[tuple[subprocess.Popen[str], Path]] = []
    try:
        _migrate(url)
        share = conversations // processes
        for k in range(processes):
            out = work / f"{database}-{k}.json"
            out.unlink(missing_ok=True)
            argv = [sys.executable, "-m", "bench.throughput_threadline"]
            argv += ["--url", url, "--conversations", str(share)]
            argv += ["--turns", str(turns), "--latency-ms", str(LATENCY_MS)]
            argv += ["--go-file", str(go), "--out", str(out)]
            popen = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
            procs.append((popen, out))
        deadline = time.monotonic() + 180
        while len(list(work.glob(f"go-{database}.ready.*"))) < processes:
            if any(p.poll() is not None for p, _ in procs):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("workers not ready within 180 s")
            time.sleep(0.02)
        results = []
        with CpuSampler() as cpu:
            go.touch()
            for popen, out in procs:
                _, err = popen.communicate(timeout=600)
                if popen.returncode != 0:
                    _log(err[-3000:])
                    raise RuntimeError(f"worker failed ({popen.returncode})")
                results.append(json.loads(out.read_text()))
    finally:
        for popen, _ in procs:
            if popen.poll() is None:
                popen.kill()
                popen.wait()
        for old in work.glob(f"go-{database}*"):
            old.unlink()
        for _, out in procs:
            out.unlink(missing_ok=True)
        drop_database(database)
    return _combined(processes, conversations, turns, results, cpu)


def _cpu_per_turn(machine: JsonDict, workers_cpu: float, done: int) -> JsonDict:
    if machine:
        machine["workers_cpu_ms_per_turn"] = round(1000 * workers_cpu / done, 2)
        rest = machine["busy_cpu_s"] - workers_cpu
        machine["rest_cpu_ms_per_turn"] = round(1000 * rest / done, 2)
        if "postgres_cpu_s" in machine:
            # its window is shorter (sampled every 0.2 s): scale to the phase
            scale = machine["seconds"] / max(machine["postgres_seconds"], 0.01)
            pg = machine["postgres_cpu_s"] * scale
            machine["postgres_cpu_ms_per_turn"] = round(1000 * pg / done, 2)
    return machine


def _combined(
    processes: int,
    conversations: int,
    turns: int,
    results: list[JsonDict],
    cpu: CpuSampler,
) -> JsonDict:
    began = min(r["began_epoch"] for r in results)
    ended = max(r["ended_epoch"] for r in results)
    done = sum(r["user_turns"] for r in results)
    workers_cpu = sum(r["process_cpu_s"] for r in results)
    machine = _cpu_per_turn(cpu.between(began, ended), workers_cpu, done)
    return {
        "processes": processes,
        "conversations": conversations,
        "turns_per_conversation": turns,
        "user_turns": done,
        "wall_s": round(ended - began, 3),
        "turns_per_s": round(done / (ended - began), 1),
        "start_skew_s": round(max(r["began_epoch"] for r in results) - began, 3),
        "machine_cpu": machine,
        "workers": [
            {
                "conversations": r["conversations"],
                "turns_per_s": r["turns_per_s"],
                "wall_s": r["wall_s"],
                "latency_us": r["latency_us"],
                "peak_rss_bytes": r["peak_rss_bytes"],
                "process_cpu_s": r["process_cpu_s"],
            }
            for r in results
        ],
    }


def two_workers(opts: Options, conversations: int) -> JsonDict:
    """Rounds of (one process, two processes), alternating; medians compared."""
    work = opts.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    turns = 2 if opts.quick else TURNS
    rounds = 1 if opts.quick else ROUNDS
    runs: dict[int, list[JsonDict]] = {1: [], 2: []}
    for _ in range(rounds):
        for processes in (1, 2):
            row = workers_case(processes, conversations, turns, work)
            runs[processes].append(row)
            busy = row["machine_cpu"].get("busy_pct", "?")
            _log(
                f"  {processes} process(es), {conversations} conversations: "
                f"{row['turns_per_s']:.1f} turns/s, machine {busy}% busy"
            )
    one = statistics.median(r["turns_per_s"] for r in runs[1])
    two = statistics.median(r["turns_per_s"] for r in runs[2])
    return {
        "row": "two_workers_vs_one_postgres",
        "conversations": conversations,
        "turns_per_conversation": turns,
        "model_latency_ms": LATENCY_MS,
        "model_calls_per_turn": 2,
        "one_process_turns_per_s": round(one, 1),
        "two_processes_turns_per_s": round(two, 1),
        "ratio": round(two / one, 2),
        "statistic": f"median of {rounds} rounds",
        "goal_ratio": 1.6,
        "cores": os.cpu_count(),
        "rounds": runs,
    }


# --- recovery after a SIGKILL -----------------------------------------------------


def conversation_turn(label: str) -> JsonDict:
    """A user turn whose model requests name the conversation (distinct bodies)."""
    return user_says(
        f"[{label}] I would like to book a visit next week.",
        runtime_variables={"intent": "booking"},
    )


def read_log(path: Path) -> list[JsonDict]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _label_of(body: Any, labels: list[str]) -> str | None:
    text = json.dumps(body)
    found = [label for label in labels if f"[{label}]" in text]
    return found[0] if len(found) == 1 else None


async def _post_until_200(
    http: httpx.AsyncClient, url: str, body: JsonDict, key: str, deadline: float
) -> JsonDict:
    while True:
        try:
            response = await http.post(url, json=body, headers={"Idempotency-Key": key})
        except httpx.HTTPError:
            response = None
        if response is not None and response.status_code == 200:
            answer: JsonDict = response.json()
            return answer
        code = 0 if response is None else response.status_code
        if response is not None and code < 500 and code not in (409, 429, 503):
            raise AssertionError(f"{code}: {response.text[:300]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no 200 for {key}")
        await asyncio.sleep(0.1)


async def _recovery(
    work: Path, conversations: int, dead_s: float, heartbeat_s: float
) -> JsonDict:
    database = f"bench_recovery_{os.getpid()}"
    await asyncio.to_thread(create_database, database)
    url = _pg_url(database, "asyncpg")
    llm_log = work / f"recovery-llm-{os.getpid()}.jsonl"
    llm_log.unlink(missing_ok=True)
    key = "tl_bench_" + secrets.token_hex(16)
    fake_port = free_port()
    quiet = subprocess.DEVNULL
    procs: list[subprocess.Popen[bytes]] = []
    try:
        await asyncio.to_thread(_migrate, url)
        fake = subprocess.Popen(
            [
                *(str(THREADLINE), "fake-llm", "--port", str(fake_port)),
                *("--latency-ms", str(RECOVERY_LATENCY_MS), "--log", str(llm_log)),
            ],
            stdout=quiet,
            stderr=quiet,
        )
        procs.append(fake)
        env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
        env.update(
            THREADLINE_DATABASE_URL=url,
            THREADLINE_BOOTSTRAP_API_KEY=key,
            THREADLINE_LLM_OVERRIDE_URL=f"http://127.0.0.1:{fake_port}/v1",
            THREADLINE_LLM_OVERRIDE_MODEL="fake-model",
            THREADLINE_LOG_LEVEL="warning",
            THREADLINE_WORKER_DEAD_SECONDS=str(dead_s),
            THREADLINE_HEARTBEAT_SECONDS=str(heartbeat_s),
        )
        servers = {}
        for name in ("victim", "survivor"):
            port = free_port()
            popen = subprocess.Popen(
                [str(THREADLINE), "serve", "--port", str(port)],
                env={**env, "THREADLINE_WORKER_ID": f"bench-{name}"},
                stdout=quiet,
                stderr=quiet,
                start_new_session=True,
            )
            procs.append(popen)
            servers[name] = (popen, f"http://127.0.0.1:{port}")
        await asyncio.to_thread(
            wait_until_up, f"http://127.0.0.1:{fake_port}/v1/models", fake, 20
        )
        for popen, base in servers.values():
            await asyncio.to_thread(wait_until_up, f"{base}/health", popen, 60)
        victim, victim_url = servers["victim"]
        _, survivor_url = servers["survivor"]
        headers = {"Authorization": f"Bearer {key}"}
        limits = httpx.Limits(max_connections=conversations + 10)
        async with httpx.AsyncClient(
            headers=headers, timeout=180, limits=limits
        ) as http:
            created = await http.post(f"{victim_url}/v1/workflows", json=support_chat())
            created.raise_for_status()
            wid = created.json()["workflow"]["_id"]
            labels = [f"c{k:03d}" for k in range(conversations)]
            path = f"/v1/workflows/{wid}/execute"

            async def start(label: str) -> str:
                body = {"run_input": START}
                answer = await _post_until_200(
                    http,
                    victim_url + path,
                    body,
                    f"{label}-start",
                    time.monotonic() + 60,
                )
                return str(answer["run_id"])

            run_ids = dict(
                zip(
                    labels,
                    await asyncio.gather(*(start(x) for x in labels)),
                    strict=True,
                )
            )
            sent_at = time.time()
            first_tries = {
                label: asyncio.create_task(
                    http.post(
                        victim_url + path,
                        json={
                            "run_id": run_ids[label],
                            "run_input": conversation_turn(label),
                        },
                        headers={"Idempotency-Key": f"{label}-turn1"},
                    )
                )
                for label in labels
            }
            deadline = time.monotonic() + 60
            while True:
                seen = {
                    _label_of(e["body"], labels)
                    for e in read_log(llm_log)
                    if e["t"] >= sent_at
                }
                if len(seen - {None}) == conversations:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"only {len(seen)} of {conversations} turns reached the model"
                    )
                await asyncio.sleep(0.02)
            killed_at = time.time()
            os.kill(victim.pid, signal.SIGKILL)
            await asyncio.to_thread(victim.wait)
            for task in first_tries.values():
                with contextlib.suppress(httpx.HTTPError):
                    await task
            answered_at: dict[str, float] = {}

            async def retry(label: str) -> JsonDict:
                body = {"run_id": run_ids[label], "run_input": conversation_turn(label)}
                answer = await _post_until_200(
                    http,
                    survivor_url + path,
                    body,
                    f"{label}-turn1",
                    time.monotonic() + 300,
                )
                answered_at[label] = time.time()
                return answer

            answers = dict(
                zip(
                    labels,
                    await asyncio.gather(*(retry(x) for x in labels)),
                    strict=True,
                )
            )
            records = {}
            for label in labels:
                got = await http.get(
                    f"{survivor_url}/v1/workflow-runs/{run_ids[label]}"
                )
                got.raise_for_status()
                records[label] = got.json()["workflow_run"]["workflow_run"]
    finally:
        for popen in procs:
            with contextlib.suppress(ProcessLookupError):
                stop(popen)
        await asyncio.to_thread(drop_database, database)
    entries = [e for e in read_log(llm_log) if e["t"] >= sent_at]
    problems = check_exactly_once(
        labels, answers, records, entries, killed_at, RECOVERY_LATENCY_MS / 1000
    )
    llm_log.unlink(missing_ok=True)
    if problems:
        raise AssertionError(
            f"recovery (dead {dead_s} s): {len(problems)} problems: {problems[:5]}"
        )
    after = [e["t"] for e in entries if e["t"] > killed_at]
    resumed = min(after) - killed_at
    last_model = max(after) + RECOVERY_LATENCY_MS / 1000 - killed_at
    last_answer = max(answered_at.values()) - killed_at
    in_flight = [e for e in entries if e["t"] <= killed_at]
    return {
        "row": "recovery_after_sigkill",
        "worker_dead_seconds": dead_s,
        "heartbeat_seconds": heartbeat_s,
        "conversations": conversations,
        "model_latency_ms": RECOVERY_LATENCY_MS,
        "model_calls_in_flight_at_kill": len(in_flight),
        "model_calls_after_kill": len(after),
        "first_resumed_call_s": round(resumed, 2),
        "last_model_answer_s": round(last_model, 2),
        "last_client_answer_s": round(last_answer, 2),
        "client_answer_s": Stats.of(
            sorted((t - killed_at) * 1e6 for t in answered_at.values())
        ).to_json(),
        "exactly_once": "checked: every orphaned turn completed exactly once",
    }


def check_exactly_once(
    labels: list[str],
    answers: dict[str, JsonDict],
    records: dict[str, JsonDict],
    entries: list[JsonDict],
    killed_at: float,
    latency_s: float,
) -> list[str]:
    """What contradicts "every orphaned turn completed exactly once" (empty: none)."""
    return _check_runs(labels, answers, records) + _check_model_log(
        labels, entries, killed_at, latency_s
    )


def _check_runs(
    labels: list[str], answers: dict[str, JsonDict], records: dict[str, JsonDict]
) -> list[str]:
    """Each run recorded its start and one user turn, and the client got the reply."""
    problems = []
    for label in labels:
        record = records[label]
        pairs = record.get("input_output_pairs") or []
        if len(pairs) != 2 or record.get("status") != WAITING:
            status = record.get("status")
            problems.append(f"{label}: {len(pairs)} turns recorded, {status}")
        answer = answers[label]
        spoken = [
            e
            for e in answer.get("events") or []
            if isinstance(e, dict) and e.get("type") == "assistant_response"
        ]
        if answer.get("status") != WAITING or not spoken:
            problems.append(f"{label}: answered {answer.get('status')}, no reply")
    return problems


def _check_model_log(
    labels: list[str], entries: list[JsonDict], killed_at: float, latency_s: float
) -> list[str]:
    """Two distinct model calls per turn, each answered once after the kill; a copy
    before the kill only for a call in flight at the kill."""
    problems = []
    by_body: dict[str, list[float]] = defaultdict(list)
    per_label: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        label = _label_of(entry["body"], labels)
        if label is None:
            problems.append(f"a model request names no single conversation: {entry}")
            continue
        by_body[entry["sha256"]].append(entry["t"])
        per_label[label].add(entry["sha256"])
    problems += [
        f"{label}: {len(per_label[label])} distinct model calls"
        for label in labels
        if len(per_label[label]) != 2
    ]
    for sha, times in by_body.items():
        after = [t for t in times if t > killed_at]
        before = [t for t in times if t <= killed_at]
        if len(after) != 1:
            problems.append(
                f"call {sha[:12]} answered {len(after)} times after the kill"
            )
        if len(before) > 1 or any(t + latency_s < killed_at for t in before):
            problems.append(f"call {sha[:12]} sent before the kill and not in flight")
    return problems


def recovery(opts: Options, setting: dict[str, float]) -> JsonDict:
    work = opts.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    conversations = 10 if opts.quick else RECOVERY_CONVERSATIONS
    row = asyncio.run(
        _recovery(work, conversations, setting["dead_s"], setting["heartbeat_s"])
    )
    _log(
        f"  recovery (dead {setting['dead_s']} s, heartbeat {setting['heartbeat_s']} s,"
        f" {conversations} turns in flight): last turn done "
        f"{row['last_client_answer_s']} s after the SIGKILL"
    )
    return row


# --- the scenario -----------------------------------------------------------------

NOTE: dict[str, str] = {"note": "not run"}


def measure(opts: Options) -> list[Case]:
    why = pg_available()
    if why is not None:
        _log(f"  skipping the durable rows: {why}")
        NOTE["note"] = why
        return []
    NOTE["note"] = f"measured on {PG_ADMIN.rsplit('@', 1)[-1]}"
    cases = []
    for conversations in (20,) if opts.quick else CONVERSATIONS:
        workers = two_workers(opts, conversations)
        name = f"two workers vs one, {conversations} conversations"
        cases.append(_case(name, workers, workers["ratio"]))
    settings = [TIGHT]
    if os.environ.get("THREADLINE_BENCH_RECOVERY_DEFAULTS", "1") != "0":
        settings.append(DEFAULTS)
    for setting in settings:
        row = recovery(opts, setting)
        name = f"recovery, dead {setting['dead_s']:g} s"
        cases.append(_case(name, row, row["last_client_answer_s"]))
    return cases


def _case(name: str, row: JsonDict, value: float) -> Case:
    stats = Stats(n=1, mean=value, p50=value, p99=value, min=value, max=value)
    return Case(NAME, name, 1, stats, [], row)


async def run(opts: Options) -> list[Case]:
    return await asyncio.to_thread(measure, opts)


def table(title: str, cases: list[Case]) -> None:
    from bench.report import say

    say(f"\n== {title}")
    for c in cases:
        r = c.extra
        if r["row"] == "two_workers_vs_one_postgres":
            say(
                f"{r['conversations']} conversations x {r['turns_per_conversation']} "
                f"turns, {r['model_latency_ms']:g} ms model: one process "
                f"{r['one_process_turns_per_s']} turns/s, two processes "
                f"{r['two_processes_turns_per_s']} turns/s, ratio {r['ratio']}x "
                f"(goal 1.6x; {r['cores']} cores)"
            )
            for n in ("1", "2"):
                rounds = r["rounds"].get(n) or r["rounds"].get(int(n)) or []
                cpu = [x["machine_cpu"] for x in rounds if x["machine_cpu"]]
                say(
                    f"    {n} process(es): rounds "
                    + ", ".join(f"{x['turns_per_s']}" for x in rounds)
                    + " turns/s; machine busy "
                    + ", ".join(f"{c['busy_pct']}%" for c in cpu)
                    + "; CPU ms a turn: workers + rest (of which PostgreSQL) "
                    + ", ".join(
                        f"{c['workers_cpu_ms_per_turn']}+{c['rest_cpu_ms_per_turn']}"
                        f" ({c.get('postgres_cpu_ms_per_turn', '?')})"
                        for c in cpu
                    )
                )
        else:
            say(
                f"recovery, dead after {r['worker_dead_seconds']:g} s, heartbeat "
                f"{r['heartbeat_seconds']:g} s, {r['conversations']} turns in flight: "
                f"first resumed call +{r['first_resumed_call_s']} s, last model answer "
                f"+{r['last_model_answer_s']} s, last client answer "
                f"+{r['last_client_answer_s']} s after the SIGKILL; exactly once: ok"
            )
