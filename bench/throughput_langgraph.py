"""LangGraph worker for the throughput and waiting-memory scenarios (LangGraph venv).

    bench/results/tmp/langgraph-venv/bin/python -m bench.throughput_langgraph \
        --saver sqlite --target bench/results/tmp/lg.db --conversations 50 --turns 10
    ... --saver postgres --target postgresql://postgres@127.0.0.1:5432/<db>
    ... --waiting 2000

The conversation of ``bench.langgraph_side`` (greet -> listen (``interrupt()``)
-> classify (model) -> conditional edge -> answer (model) -> listen), with async
nodes whose model waits ``--latency-ms`` (``asyncio.sleep``) per call: 2 calls a
turn, like the Threadline side. ``AsyncSqliteSaver`` on a file, or
``AsyncPostgresSaver`` on a psycopg pool (10-30 connections, the size of
Threadline's SQLAlchemy pool on PostgreSQL). One user turn is one
``ainvoke(Command(resume=...))``. Driven by ``bench.load`` like the Threadline
worker; each case runs in its own process.
"""

import argparse
import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, StateGraph
from langgraph.types import Command, interrupt

from bench.langgraph_side import REPLY, ChatState, user_turn
from bench.load import JsonDict, drive, emit, waiting_memory

_ids = itertools.count()


def conversation(latency_s: float) -> StateGraph:
    async def model(messages: Any) -> AIMessage:
        await asyncio.sleep(latency_s)
        return AIMessage(content=REPLY)

    async def greet(state: ChatState) -> dict[str, Any]:
        return {"messages": [AIMessage("Welcome to Northside! How can I help?")]}

    async def listen(state: ChatState) -> dict[str, Any]:
        said = interrupt("waiting for the user")
        return {"messages": [HumanMessage(said["text"])], "intent": said["intent"]}

    async def classify(state: ChatState) -> dict[str, Any]:
        await model(state["messages"])  # the classifier call (not spoken)
        return {"label": state["intent"]}

    async def answer(state: ChatState) -> dict[str, Any]:
        return {"messages": [await model(state["messages"])]}

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


@contextlib.asynccontextmanager
async def saver_for(kind: str, target: str) -> AsyncIterator[Any]:
    if kind == "sqlite":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async with AsyncSqliteSaver.from_conn_string(target) as saver:
            yield saver
        return
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    async with AsyncConnectionPool(
        target,
        min_size=10,
        max_size=30,
        open=False,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
    ) as pool:
        saver = AsyncPostgresSaver(pool)
        await saver.setup()
        yield saver


async def measure(args: argparse.Namespace) -> JsonDict:
    async with saver_for(args.saver, args.target) as saver:
        graph = conversation(args.latency_ms / 1000).compile(checkpointer=saver)

        async def start(_: int) -> JsonDict:
            cfg = {"configurable": {"thread_id": f"t{next(_ids)}"}}
            first = await graph.ainvoke({"messages": []}, cfg)
            if "__interrupt__" not in first:
                raise AssertionError("start did not wait for the user")
            return cfg

        async def step(cfg: Any, i: int) -> None:
            out = await graph.ainvoke(Command(resume=user_turn(i)), cfg)
            if "__interrupt__" not in out:
                raise AssertionError(f"turn {i} did not wait for the user")

        for k in range(3):  # warm-up
            await step(await start(k), 0)
        if args.waiting:
            result = await waiting_memory(args.waiting, start, step)
        else:
            result = await drive(
                args.conversations, args.turns, start, step, freeze=args.gc_freeze
            )
        result["model_calls_per_turn"] = 2
        result["model_latency_ms"] = args.latency_ms
        return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput_langgraph")
    parser.add_argument("--saver", choices=("sqlite", "postgres"), required=True)
    parser.add_argument("--target", required=True, help="SQLite path or PG conninfo")
    parser.add_argument("--conversations", type=int, default=1)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--waiting", type=int, default=0, help="memory mode")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() after the warm-up, as `threadline serve` after start-up",
    )
    args = parser.parse_args(argv)
    emit(asyncio.run(measure(args)), args.out)


if __name__ == "__main__":
    main()
