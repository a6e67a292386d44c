"""The LangGraph side of ``bench.compare``, run with the LangGraph venv's python.

    bench/results/tmp/langgraph-venv/bin/python -m bench.langgraph_side \
        --out bench/results/tmp/langgraph.json [--quick] [--rounds 3] ...

The project venv never imports this module (nor langgraph). It imports only the
stdlib parts of ``bench`` (``bench.common``, ``bench.sqlite_probe``), so timing,
statistics and storage probing are the same code as on the Threadline side.

Work, equivalent to ``bench.compare_threadline``:

- linear graphs of 1, 5 and 20 instant nodes (each bumps a counter and appends
  its name to a list), a new thread per invocation: compiled without a
  checkpointer (``invoke`` and ``ainvoke``), with ``SqliteSaver`` (``invoke``)
  and with ``AsyncSqliteSaver`` (``ainvoke``) on a file, default durability
  (``"async"``: a checkpoint per step, all flushed before the call returns);
- a conversation: greet -> listen (``interrupt()``) -> classify (instant model)
  -> conditional edge on the intent -> answer (instant model) -> listen, driven
  with ``Command(resume=...)`` one user turn per call on ``AsyncSqliteSaver``.
"""

import argparse
import asyncio
import contextlib
import itertools
import json
import operator
import sqlite3
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command, interrupt

from bench.common import Case, Options, make_case, measure, measure_async
from bench.flatness import conversation_result, staggered, storage_between_rounds
from bench.sqlite_probe import StorageProbe, remove_db

LINEAR_SIZES = (1, 5, 20)
REPLY = "Sure, happy to help with that."
_ids = itertools.count()


def log(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


# --- linear graphs -----------------------------------------------------------


class LinearState(TypedDict):
    count: int
    trail: Annotated[list[str], operator.add]


def _step(name: str) -> Any:
    def node(state: LinearState) -> dict[str, Any]:
        return {"count": state["count"] + 1, "trail": [name]}

    return node


def linear(size: int) -> StateGraph:
    builder = StateGraph(LinearState)
    names = [f"node_{i}" for i in range(size)]
    for name in names:
        builder.add_node(name, _step(name))
    builder.add_edge(START, names[0])
    for a, b in itertools.pairwise(names):
        builder.add_edge(a, b)
    builder.add_edge(names[-1], END)
    return builder


def _fresh() -> dict[str, Any]:
    return {"configurable": {"thread_id": f"t{next(_ids)}"}}


def _check(result: dict[str, Any], size: int) -> None:
    if result["count"] != size:
        raise AssertionError(f"ran {result['count']} nodes, expected {size}")


async def linear_cases(opts: Options, work: Path) -> list[Case]:
    cases: list[Case] = []
    start: dict[str, Any] = {"count": 0, "trail": []}
    for size in LINEAR_SIZES:
        graph = linear(size).compile()

        def body(graph: Any = graph, size: int = size) -> None:
            _check(graph.invoke(start), size)

        cases.append(
            make_case(
                "memory",
                f"linear x{size}",
                size,
                measure(body, opts),
                api="invoke",
                checkpointer=None,
            )
        )
        log(f"  memory invoke x{size}: {cases[-1].per_turn.p50:.0f} µs")

        async def abody(graph: Any = graph, size: int = size) -> None:
            _check(await graph.ainvoke(start), size)

        cases.append(
            make_case(
                "memory_async",
                f"linear x{size}",
                size,
                await measure_async(abody, opts),
                api="ainvoke",
                checkpointer=None,
            )
        )
        log(f"  memory ainvoke x{size}: {cases[-1].per_turn.p50:.0f} µs")

    path = work / "langgraph-sync.db"
    remove_db(path)
    conn = sqlite3.connect(str(path), check_same_thread=False)
    saver = SqliteSaver(conn)
    try:
        for size in LINEAR_SIZES:
            graph = linear(size).compile(checkpointer=saver)

            def sbody(graph: Any = graph, size: int = size) -> None:
                _check(graph.invoke(start, _fresh()), size)

            cases.append(
                make_case(
                    "sqlite",
                    f"linear x{size}",
                    size,
                    measure(sbody, opts),
                    api="invoke, new thread per call",
                    checkpointer="SqliteSaver (file, WAL, default pragmas)",
                )
            )
            log(f"  SqliteSaver invoke x{size}: {cases[-1].per_turn.p50:.0f} µs")
    finally:
        conn.close()
        remove_db(path)

    path = work / "langgraph-async.db"
    remove_db(path)
    async with AsyncSqliteSaver.from_conn_string(str(path)) as asaver:
        for size in LINEAR_SIZES:
            graph = linear(size).compile(checkpointer=asaver)

            async def body_async(graph: Any = graph, size: int = size) -> None:
                _check(await graph.ainvoke(start, _fresh()), size)

            cases.append(
                make_case(
                    "sqlite_async",
                    f"linear x{size}",
                    size,
                    await measure_async(body_async, opts),
                    api="ainvoke, new thread per call",
                    checkpointer="AsyncSqliteSaver (file, WAL, default pragmas)",
                )
            )
            log(f"  AsyncSqliteSaver ainvoke x{size}: {cases[-1].per_turn.p50:.0f} µs")
    remove_db(path)
    return cases


# --- conversation ------------------------------------------------------------


class ChatState(TypedDict, total=False):
    messages: Annotated[list[BaseMessage], add_messages]
    intent: str
    label: str


class InstantModel:
    """Answers at once with a fixed reply, like Threadline's ``InstantLLM``."""

    def __init__(self) -> None:
        self.calls = 0

    def invoke(self, messages: list[BaseMessage]) -> AIMessage:
        self.calls += 1
        return AIMessage(content=REPLY)


def conversation(model: InstantModel) -> StateGraph:
    def greet(state: ChatState) -> dict[str, Any]:
        return {"messages": [AIMessage("Welcome to Northside! How can I help?")]}

    def listen(state: ChatState) -> dict[str, Any]:
        said = interrupt("waiting for the user")
        return {"messages": [HumanMessage(said["text"])], "intent": said["intent"]}

    def classify(state: ChatState) -> dict[str, Any]:
        model.invoke(state["messages"])  # the classifier call (not spoken)
        return {"label": state["intent"]}

    def answer(state: ChatState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    def route(state: ChatState) -> str:
        return "answer_booking" if state["label"] == "booking" else "answer_other"

    builder = StateGraph(ChatState)
    builder.add_node("greet", greet)
    builder.add_node("listen", listen)
    builder.add_node("classify", classify)
    builder.add_node("answer_booking", answer)
    builder.add_node("answer_other", answer)
    builder.add_edge(START, "greet")
    builder.add_edge("greet", "listen")
    builder.add_edge("listen", "classify")
    builder.add_conditional_edges("classify", route, ["answer_booking", "answer_other"])
    builder.add_edge("answer_booking", "listen")
    builder.add_edge("answer_other", "listen")
    return builder


def user_turn(i: int) -> dict[str, str]:
    return {
        "text": f"Message {i}: I would like to book a visit next week.",
        "intent": "booking" if i % 2 == 0 else "other",
    }


async def _chat(graph: Any, turns: int) -> list[float]:
    cfg = _fresh()
    first = await graph.ainvoke({"messages": []}, cfg)
    if "__interrupt__" not in first:
        raise AssertionError("start did not wait for the user")
    latencies: list[float] = []
    for i in range(turns):
        started = time.perf_counter_ns()
        out = await graph.ainvoke(Command(resume=user_turn(i)), cfg)
        latencies.append((time.perf_counter_ns() - started) / 1000)
        if "__interrupt__" not in out:
            raise AssertionError(f"turn {i} did not wait for the user")
    expected = 1 + 2 * turns  # greeting + (user + answer) per turn
    if len(out["messages"]) != expected:
        raise AssertionError(f"{len(out['messages'])} messages, expected {expected}")
    return latencies


async def conversation_case(opts: Options, work: Path) -> Case:
    """The conversation row, timed by ``bench.flatness.staggered`` (the same
    schedule as ``bench.compare_threadline``)."""
    turns = 30 if opts.quick else opts.conversation_turns
    path = work / "langgraph-chat.db"
    remove_db(path)
    model = InstantModel()
    storage: list[dict[str, Any]] = []
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        graph = conversation(model).compile(checkpointer=saver)
        await _chat(graph, 10)  # warm-up

        async def start() -> dict[str, Any]:
            cfg = _fresh()
            first = await graph.ainvoke({"messages": []}, cfg)
            if "__interrupt__" not in first:
                raise AssertionError("start did not wait for the user")
            return cfg

        async def turn(cfg: dict[str, Any], index: int) -> None:
            out = await graph.ainvoke(Command(resume=user_turn(index)), cfg)
            if "__interrupt__" not in out:
                raise AssertionError(f"turn {index} did not wait for the user")
            expected = 1 + 2 * (index + 1)  # greeting + (user + answer) per turn
            if len(out["messages"]) != expected:
                raise AssertionError(f"{len(out['messages'])} messages, not {expected}")

        probe = StorageProbe(path)
        try:
            measured = await staggered(
                start,
                turn,
                turns=turns,
                lanes=opts.conversation_lanes,
                rounds=opts.rounds,
                freeze=opts.gc_freeze,
                between_rounds=storage_between_rounds(probe, storage),
            )
        finally:
            probe.close()
    remove_db(path)
    return conversation_result(
        measured,
        storage,
        checkpointer="AsyncSqliteSaver (file, WAL, default pragmas)",
    )


def versions() -> dict[str, str]:
    names = (
        "langgraph",
        "langgraph-checkpoint",
        "langgraph-checkpoint-sqlite",
        "langgraph-checkpoint-postgres",
        "psycopg",
        "psycopg-pool",
        "langchain-core",
        "aiosqlite",
        "matplotlib",
    )
    found = {}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    found["python"] = sys.version.split()[0]
    return found


async def main_async(opts: Options) -> dict[str, Any]:
    work = opts.work_dir
    work.mkdir(parents=True, exist_ok=True)
    log("LangGraph: linear graphs")
    cases = await linear_cases(opts, work)
    log("LangGraph: conversation")
    cases.append(await conversation_case(opts, work))
    log(f"  conversation turn p50: {cases[-1].per_turn.p50:.0f} µs")
    return {"versions": versions(), "results": [c.to_json() for c in cases]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.langgraph_side")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--lanes", type=int, default=5)
    parser.add_argument("--no-gc-freeze", action="store_true")
    parser.add_argument("--work-dir", type=Path, default=Path("bench/results/tmp"))
    args = parser.parse_args(argv)
    opts = Options(
        quick=args.quick,
        seconds_per_round=args.seconds,
        rounds=args.rounds,
        conversation_turns=args.turns,
        conversation_lanes=args.lanes,
        gc_freeze=not args.no_gc_freeze,
        work_dir=args.work_dir,
    )
    document = asyncio.run(main_async(opts))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
