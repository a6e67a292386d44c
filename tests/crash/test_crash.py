"""Crash test: conversations survive SIGKILLs of the processes serving them.

Two ``threadline serve`` processes share a fresh PostgreSQL database. ``N`` clients
hold conversations (greeting, then ``TURNS`` user messages: an LLM answer and an
HTTP POST to a receiver per message, the last one ends the run), sending each turn
with its own ``Idempotency-Key`` to either process at random and retrying on
connection errors, 5xx, 409 and 503 until they get a 200. Meanwhile a chaos task
SIGKILLs a random process every 1-3 s and restarts it.

The same conversations run once before without kills (the reference, on a twin
workflow). Then:

- every conversation finished, and its transcript (assistant messages per turn, from
  the execute responses and from ``GET /v1/workflow-runs/{id}``) equals the
  reference's, with the same status after each turn;
- the crash workflow has exactly ``N`` runs, all ``completed``;
- an LLM request body or a receiver POST body seen twice is a repeated step; a copy
  is allowed only when a kill landed while the copy before it was in flight (from
  ``SENT_S`` before its receipt to receipt + fake latency + ``SLACK_S``);
- the crash phase made as many distinct LLM calls and POSTs as the reference, so
  the totals equal the reference's plus the allowed repeats;
- a POST whose body never arrived whole (its sender killed between the headers and
  the body) made no request: it is not counted, and needs a kill at that moment.

Knobs (environment): ``THREADLINE_CRASH_SEED``, ``THREADLINE_CRASH_CONVERSATIONS``,
``THREADLINE_CRASH_KILLS``, ``THREADLINE_CRASH_KEEP`` (copy the process logs to
this folder), ``THREADLINE_CRASH_LOG_LEVEL`` (the servers'; default ``warning``),
``THREADLINE_CRASH_WORKER_DEAD_SECONDS`` (default 2), ``THREADLINE_CRASH_PG_URL``.
"""

import asyncio
import contextlib
import itertools
import os
import random
import secrets
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.crash import harness
from tests.crash.harness import Proc, Received
from tests.factories import edge, say_node, static_node
from threadline.ids import new_object_id

JsonDict = dict[str, Any]

SEED = int(os.environ.get("THREADLINE_CRASH_SEED") or secrets.randbelow(1_000_000))
CONVERSATIONS = int(os.environ.get("THREADLINE_CRASH_CONVERSATIONS") or 30)
KILLS = int(os.environ.get("THREADLINE_CRASH_KILLS") or 6)
PG_URL = os.environ.get(
    "THREADLINE_CRASH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
WORKER_DEAD_SECONDS = os.environ.get("THREADLINE_CRASH_WORKER_DEAD_SECONDS") or "2"
"""The servers' ``THREADLINE_WORKER_DEAD_SECONDS`` (heartbeats every 0.5 s)."""
TURNS = 4
"""User messages per conversation; the receiver says ``done`` on the last."""
LATENCY_MS = 150
"""Fixed latency of the fake model and of the receiver."""
SLACK_S = 1.0
"""How long after an answer a step still counts as in flight: its result is
checkpointed by the first transaction after it completes (the journal write before
the next side effect, or the turn's record), and a kill before that commit runs the
step again, as with any step-checkpointing engine. With two servers, PostgreSQL,
the fakes and 30 conversations on a loaded 2-core machine that commit was once
seen 0.6 s after the answer; kills land every 1-3 s, so a step repeated from
earlier than this window (a journal that does not work) still fails the test."""
SENT_S = 0.05
"""How long before its receipt a step counts as in flight: a request is sent before
the fake logs it, and the kill's time is read before the signal, so a process
killed just after writing its request to the socket has its request logged up to
a few ms after the kill (seen: 1 ms, then the copy from the process that took the
turn over 2.6 s later, after ``WORKER_DEAD_SECONDS``)."""
TURN_DEADLINE_S = 60.0
"""A turn not answered 200 by then (retries included) fails the test."""
REQUEST_TIMEOUT_S = 20.0


def run_input(command: str, label: str, turn: int, text: str | None) -> JsonDict:
    inputs: list[JsonDict] = []
    if text is not None:
        inputs = [{"type": "llm", "messages": [{"type": "human", "content": text}]}]
    return {
        "command": command,
        "thread_to_node_inputs": {"0": {"node_run_inputs": inputs}},
        "dynamic_variables": {
            "conv": label,
            "turn": str(turn),
            "user_message": text or "",
        },
    }


def message(label: str, turn: int) -> str:
    return f"[{label}] message {turn}: tell me about item {turn * 7 % 11}"


def crash_workflow(name: str, receiver_url: str) -> JsonDict:
    """Greeting -> LLM turn -> POST to the receiver -> (done? bye : LLM turn)."""
    post = {
        "type": "http_request",
        "logical_id": "node_post",
        "name": "Post",
        "wait_for_user_message": False,
        "url": receiver_url,
        "method": "POST",
        "body_parameters": (
            '{"conversation": "{{conv}}", "turn": "{{turn}}", '
            '"message": "{{user_message}}"}'
        ),
        "timeout": 30,
        "result_runtime_variable_name": "posted",
    }
    return {
        "name": name,
        "workflow_config": {
            "miscellaneous": {"default_dynamic_variables": {"conv": "none"}}
        },
        "node_configs": [
            static_node("node_greet", "Welcome, {{conv}}!", is_start=True),
            say_node("node_chat", prompt="You answer conversation {{conv}}."),
            post,
            static_node("node_bye", "Goodbye, {{conv}}!"),
        ],
        "edge_configs": [
            edge("edge_greet", "node_greet", "node_chat"),
            edge("edge_post", "node_chat", "node_post"),
            edge(
                "edge_done",
                "node_post",
                "node_bye",
                type="conditional",
                condition={"condition_expression": "[[posted.done]] == true"},
            ),
            edge(
                "edge_more",
                "node_post",
                "node_chat",
                type="conditional",
                condition={"condition_expression": "[[posted.done]] != true"},
            ),
        ],
    }


# --- clients ------------------------------------------------------------------------


@dataclass
class Turn:
    spoken: list[str]
    status: str
    attempts: int
    problems: list[str]


@dataclass
class Conversation:
    label: str
    run_id: str | None = None
    turns: list[Turn] = field(default_factory=list)
    failure: str | None = None


def spoken(events: list[JsonDict]) -> list[str]:
    return [
        str(e.get("content"))
        for e in events
        if isinstance(e, dict) and e.get("type") == "assistant_response"
    ]


class Client:
    """Sends each request to a random process, retrying until a 200."""

    def __init__(self, procs: list[Proc], key: str, rng: random.Random) -> None:
        self.procs = procs
        self.rng = rng
        self.http = httpx.AsyncClient(
            timeout=REQUEST_TIMEOUT_S,
            headers={"Authorization": f"Bearer {key}"},
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def send(
        self,
        method: str,
        path: str,
        *,
        json: JsonDict | None = None,
        idempotency_key: str | None = None,
        deadline_s: float = TURN_DEADLINE_S,
    ) -> tuple[JsonDict, int, list[str]]:
        """The 200 body, the number of attempts and what went wrong before."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        deadline = time.monotonic() + deadline_s
        problems: list[str] = []
        delay = 0.1
        attempts = 0
        while True:
            attempts += 1
            proc = self.rng.choice(self.procs)
            wait = delay
            try:
                response = await self.http.request(
                    method, proc.url + path, json=json, headers=headers
                )
            except httpx.HTTPError as exc:
                problems.append(f"{proc.name}: {type(exc).__name__}")
            else:
                if response.status_code == 200:
                    body: JsonDict = response.json()
                    return body, attempts, problems
                text = response.text[:300]
                problems.append(f"{proc.name}: {response.status_code} {text}")
                if response.status_code not in (409, 429, 503) and (
                    response.status_code < 500
                ):
                    raise AssertionError(
                        f"{method} {path} answered {response.status_code}: {text}"
                    )
                after = response.headers.get("retry-after")
                if after:
                    with contextlib.suppress(ValueError):
                        wait = min(2.0, max(0.05, float(after)))
            if time.monotonic() + wait > deadline:
                raise TimeoutError(
                    f"{method} {path}: no 200 after {attempts} attempts; last "
                    f"problems: {problems[-5:]}"
                )
            await asyncio.sleep(wait * (0.5 + self.rng.random()))
            delay = min(1.0, delay * 1.6)


async def converse(
    client: Client,
    workflow_id: str,
    label: str,
    rng: random.Random,
    *,
    think: tuple[float, float],
    stagger: float,
) -> Conversation:
    conv = Conversation(label)
    await asyncio.sleep(rng.uniform(0, stagger))
    path = f"/v1/workflows/{workflow_id}/execute"
    try:
        for turn in range(TURNS + 1):
            text = message(label, turn) if turn else None
            body: JsonDict = {
                "run_input": run_input(
                    "start" if turn == 0 else "data", label, turn, text
                )
            }
            if conv.run_id is not None:
                body["run_id"] = conv.run_id
            key = f"{label}-turn{turn}-{uuid.uuid4()}"
            answer, attempts, problems = await client.send(
                "POST", path, json=body, idempotency_key=key
            )
            if conv.run_id is None:
                conv.run_id = str(answer["run_id"])
            elif answer.get("run_id") != conv.run_id:
                problems.append(f"answer names run {answer.get('run_id')}")
            conv.turns.append(
                Turn(
                    spoken(answer.get("events") or []),
                    str(answer.get("status")),
                    attempts,
                    problems,
                )
            )
            if turn < TURNS:
                await asyncio.sleep(rng.uniform(*think))
    except (TimeoutError, AssertionError) as exc:
        conv.failure = f"turn {len(conv.turns)}: {exc}"
    return conv


async def stored_transcript(client: Client, run_id: str) -> tuple[str, list[list[str]]]:
    body, _, _ = await client.send("GET", f"/v1/workflow-runs/{run_id}")
    record = body["workflow_run"]["workflow_run"]
    turns = []
    for pair in record.get("input_output_pairs") or []:
        output = pair.get("run_output") or {}
        turns.append(spoken(output.get("events") or []))
    return str(record.get("status")), turns


async def list_runs(client: Client, workflow_id: str) -> list[JsonDict]:
    runs: list[JsonDict] = []
    page = 1
    while True:
        body, _, _ = await client.send(
            "GET",
            f"/v1/workflow-runs?workflow_id={workflow_id}&page={page}&size=100",
        )
        items = body.get("workflow_runs") or []
        runs.extend(items)
        if len(items) < 100:
            return runs
        page += 1


# --- chaos --------------------------------------------------------------------------


async def chaos(
    procs: list[Proc], rng: random.Random, stop: asyncio.Event, kills: int
) -> list[tuple[float, str]]:
    """Every 1-3 s SIGKILL a random process that is up; restart it 0.2-1 s later.

    A restarting process is not killed again before it answers ``/health`` (start-up
    takes seconds), but the other one may be: sometimes both are down, and their
    turns are recovered by a process restarted after its own death.
    """
    done: list[tuple[float, str]] = []
    restarts: list[asyncio.Task[None]] = []

    async def restart(victim: Proc) -> None:
        await asyncio.sleep(rng.uniform(0.2, 1.0))
        victim.start()
        await victim.wait_healthy()

    async def pause(seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)

    try:
        while len(done) < kills and not stop.is_set():
            await pause(rng.uniform(1.0, 3.0))
            up = [p for p in procs if p.healthy]
            while not up and not stop.is_set():
                await pause(0.1)
                up = [p for p in procs if p.healthy]
            if stop.is_set():
                break
            victim = rng.choice(up)
            done.append((victim.sigkill(), victim.name))
            restarts.append(asyncio.create_task(restart(victim)))
    finally:
        await asyncio.gather(*restarts)
    return done


# --- checks -------------------------------------------------------------------------


def repeated_steps(
    entries: list[Received], kill_times: list[float], what: str
) -> tuple[int, list[str]]:
    """Allowed repeats, and a description of each repeat no kill explains."""
    window = LATENCY_MS / 1000 + SLACK_S
    by_body: dict[str, list[Received]] = defaultdict(list)
    for entry in entries:
        by_body[entry.sha256].append(entry)
    allowed = 0
    errors = []
    for copies in by_body.values():
        copies.sort(key=lambda e: e.t)
        for before, again in itertools.pairwise(copies):
            if any(before.t - SENT_S <= k <= before.t + window for k in kill_times):
                allowed += 1
                continue
            errors.append(
                f"{what} repeated at {again.t:.3f} (+{again.t - before.t:.3f}s), "
                f"no kill while the copy at {before.t:.3f} was in flight; "
                f"body: {str(before.body)[:300]}"
            )
    return allowed, errors


def cut_off_requests(
    entries: list[Received], kill_times: list[float], what: str
) -> tuple[list[Received], list[str]]:
    """The requests that arrived whole, and a description of each one cut off with
    no kill to explain it. A sender killed between writing a request's headers and
    its body leaves the receiver headers and then a closed connection: no request
    was made, and the process that takes the turn over sends it whole."""
    window = LATENCY_MS / 1000 + SLACK_S
    whole = [e for e in entries if e.complete]
    errors = [
        f"{what} cut off at {e.t:.3f} with no kill then; body: {str(e.body)[:300]}"
        for e in entries
        if not e.complete
        and not any(e.t - SENT_S <= k <= e.t + window for k in kill_times)
    ]
    return whole, errors


def transcript(conv: Conversation) -> list[tuple[str, list[str]]]:
    return [(t.status, t.spoken) for t in conv.turns]


async def drive(
    client: Client,
    workflow_id: str,
    rng: random.Random,
    *,
    think: tuple[float, float],
    stagger: float,
) -> dict[str, Conversation]:
    labels = [f"c{i:02d}" for i in range(CONVERSATIONS)]
    convs = await asyncio.gather(
        *(
            converse(
                client,
                workflow_id,
                label,
                random.Random(rng.random()),
                think=think,
                stagger=stagger,
            )
            for label in labels
        )
    )
    return {c.label: c for c in convs}


async def test_conversations_survive_sigkills_of_their_processes(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    harness.report(f"crash test seed {SEED} (THREADLINE_CRASH_SEED repeats it)")
    key = "tl_crash_" + secrets.token_hex(16)
    team_id = new_object_id()
    receiver = harness.Receiver(LATENCY_MS / 1000, done_at_turn=TURNS)
    llm, llm_log = harness.fake_llm(tmp_path, LATENCY_MS)
    async with harness.fresh_database(PG_URL) as database_url:
        env = harness.server_env(
            database_url,
            THREADLINE_BOOTSTRAP_API_KEY=key,
            THREADLINE_BOOTSTRAP_TEAM_ID=team_id,
            THREADLINE_LLM_OVERRIDE_URL=f"http://127.0.0.1:{llm.port}/v1",
            THREADLINE_HTTP_ALLOW_PRIVATE="1",
            THREADLINE_WORKER_DEAD_SECONDS=WORKER_DEAD_SECONDS,
            THREADLINE_HEARTBEAT_SECONDS="0.5",
            THREADLINE_REAPER_INTERVAL_SECONDS=harness.reaper_interval(0.5),
            # A retry waiting on its first attempt answers 503 before the client's
            # read timeout, so the client moves on to the other process.
            THREADLINE_COMMAND_WAIT_SECONDS=str(REQUEST_TIMEOUT_S / 2),
            THREADLINE_LOG_LEVEL=os.environ.get(
                "THREADLINE_CRASH_LOG_LEVEL", "warning"
            ),
        )
        await asyncio.to_thread(harness.migrate, env)
        procs = [harness.serve(name, tmp_path, env) for name in ("serve-a", "serve-b")]
        client = Client(procs, key, rng)
        try:
            with receiver, harness.stopped_at_exit(llm, *procs):
                llm.start()
                await harness.wait_port(llm.port, 20)
                for proc in procs:  # one at a time: both bootstrap the same key
                    proc.start()
                    await proc.wait_healthy()
                await run_scenario(client, procs, receiver, llm_log, rng)
        finally:
            await client.close()
            harness.keep_dir(tmp_path, os.environ.get("THREADLINE_CRASH_KEEP"))


async def create_workflow(client: Client, name: str, receiver: harness.Receiver) -> str:
    body, _, _ = await client.send(
        "POST", "/v1/workflows", json=crash_workflow(name, receiver.url)
    )
    return str(body["workflow"]["_id"])


@dataclass
class Phase:
    """What one pass of the conversations produced."""

    conversations: dict[str, Conversation]
    llm: list[Received]
    posts: list[Received]
    kills: list[tuple[float, str]] = field(default_factory=list)


async def run_scenario(
    client: Client,
    procs: list[Proc],
    receiver: harness.Receiver,
    llm_log: Path,
    rng: random.Random,
) -> None:
    reference_wid = await create_workflow(client, "Crash reference", receiver)
    crash_wid = await create_workflow(client, "Crash", receiver)
    reference = await reference_phase(client, reference_wid, receiver, llm_log, rng)
    crashed = await crash_phase(client, crash_wid, procs, receiver, llm_log, rng)
    problems = await transcript_problems(client, reference, crashed)
    problems += await run_problems(client, crash_wid)
    problems += side_effect_problems(reference, crashed)
    summary = (
        f"seed {SEED}: {len(crashed.kills)} kills at "
        f"{[f'{t:.3f} {n}' for t, n in crashed.kills]}; "
        f"{sum(t.attempts > 1 for c in crashed.conversations.values() for t in c.turns)}"
        f" turns needed retries; LLM calls {len(crashed.llm)} (reference "
        f"{len(reference.llm)}); POSTs {len(crashed.posts)} (reference "
        f"{len(reference.posts)}; cut off by a kill: "
        f"{sum(not e.complete for e in crashed.posts)})"
    )
    harness.report(summary)
    if problems:
        logs = "\n".join(f"--- {p.name} ---\n{p.tail(15)}" for p in procs)
        shown = "\n".join(problems[:40])
        more = f"\n... and {len(problems) - 40} more" if len(problems) > 40 else ""
        raise AssertionError(f"{summary}\n{shown}{more}\n{logs}")
    assert len(crashed.kills) >= min(3, KILLS), f"too few kills landed: {summary}"


async def reference_phase(
    client: Client,
    workflow_id: str,
    receiver: harness.Receiver,
    llm_log: Path,
    rng: random.Random,
) -> Phase:
    """The conversations without kills: the transcripts and calls to expect."""
    reference = await drive(client, workflow_id, rng, think=(0.0, 0.1), stagger=0.5)
    failed = {c.label: c.failure for c in reference.values() if c.failure}
    assert not failed, f"the reference run failed (no kills yet): {failed}"
    for conv in reference.values():
        statuses = [t.status for t in conv.turns]
        assert statuses == ["waiting_for_user_input"] * TURNS + ["completed"], (
            conv.label,
            transcript(conv),
        )
        assert any(conv.label in " ".join(t.spoken) for t in conv.turns[1:])
    await asyncio.sleep(0.5)  # nothing is in flight any more
    llm = harness.read_llm_log(llm_log)
    posts, repeats = cut_off_requests(receiver.entries(), [], "HTTP POST")
    _, llm_repeats = repeated_steps(llm, [], "LLM call")
    repeats += llm_repeats
    _, post_repeats = repeated_steps(posts, [], "HTTP POST")
    repeats += post_repeats
    assert not repeats, "steps repeated without any kill:\n" + "\n".join(repeats)
    assert len(llm) == len(posts) == CONVERSATIONS * TURNS, (len(llm), len(posts))
    return Phase(reference, llm, posts)


async def crash_phase(
    client: Client,
    workflow_id: str,
    procs: list[Proc],
    receiver: harness.Receiver,
    llm_log: Path,
    rng: random.Random,
) -> Phase:
    """The same conversations while a process is SIGKILLed every 1-3 s."""
    boundary = time.time()
    stop = asyncio.Event()
    chaos_task = asyncio.create_task(chaos(procs, rng, stop, KILLS))
    started = time.monotonic()
    crashed = await drive(client, workflow_id, rng, think=(0.5, 2.5), stagger=8.0)
    stop.set()
    kills = await chaos_task
    harness.report(f"crash phase: {time.monotonic() - started:.1f}s")
    for proc in procs:
        assert proc.healthy, proc.tail()
    await asyncio.sleep(LATENCY_MS / 1000 + 0.5)
    return Phase(
        crashed,
        [e for e in harness.read_llm_log(llm_log) if e.t >= boundary],
        [e for e in receiver.entries() if e.t >= boundary],
        kills,
    )


async def transcript_problems(
    client: Client, reference: Phase, crashed: Phase
) -> list[str]:
    """Each conversation finished with the reference's answers, also as stored."""
    problems = []
    for label, conv in sorted(crashed.conversations.items()):
        expected = transcript(reference.conversations[label])
        status = "never started"
        stored: list[list[str]] = []
        if conv.run_id is not None:
            status, stored = await stored_transcript(client, conv.run_id)
        if conv.failure:
            problems.append(
                f"{label} (run {conv.run_id}, now {status}) did not finish: "
                f"{conv.failure}; turns answered: {transcript(conv)}"
            )
            continue
        if transcript(conv) != expected:
            problems.append(
                f"{label} (run {conv.run_id}) answered {transcript(conv)}, "
                f"reference {expected}"
            )
        if status != "completed":
            problems.append(f"{label} (run {conv.run_id}) is {status}")
        if stored != [t for _, t in expected]:
            problems.append(
                f"{label} (run {conv.run_id}) stored {stored}, "
                f"reference {[t for _, t in expected]}"
            )
    return problems


async def run_problems(client: Client, workflow_id: str) -> list[str]:
    """One run per conversation, each completed (read and listed)."""
    problems = []
    runs = await list_runs(client, workflow_id)
    if len(runs) != CONVERSATIONS:
        problems.append(f"{len(runs)} runs of the crash workflow, not {CONVERSATIONS}")
    for row in runs:
        status, _ = await stored_transcript(client, str(row["_id"]))
        listed = row.get("workflow_run", {}).get("status")
        if status != "completed" or listed != "completed":
            problems.append(f"run {row['_id']} is {status} (listed as {listed})")
    return problems


def side_effect_problems(reference: Phase, crashed: Phase) -> list[str]:
    """No completed step repeated; as many distinct calls as the reference."""
    kill_times = [t for t, _ in crashed.kills]
    llm_allowed, problems = repeated_steps(crashed.llm, kill_times, "LLM call")
    posts, cut_errors = cut_off_requests(crashed.posts, kill_times, "HTTP POST")
    post_allowed, post_errors = repeated_steps(posts, kill_times, "HTTP POST")
    problems += cut_errors + post_errors
    if len(crashed.llm) != len(reference.llm) + llm_allowed:
        problems.append(
            f"{len(crashed.llm)} LLM calls, the reference made {len(reference.llm)} "
            f"(+{llm_allowed} repeats explained by kills)"
        )
    if len(posts) != len(reference.posts) + post_allowed:
        problems.append(
            f"{len(posts)} whole POSTs, the reference made {len(reference.posts)} "
            f"(+{post_allowed} repeats explained by kills)"
        )
    return problems
