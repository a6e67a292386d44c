"""The Threadline side of ``bench.compare``: the same work as ``bench.langgraph_side``.

- ``memory``: linear ``no_op`` x1/x5/x20, the turn generator driving the real
  executors with no store (``bench.executors.one_turn``), a fresh run each time;
- ``sqlite``: the same graphs through ``service.running.runs.run_one_turn`` on a SQLite
  file (WAL, ``synchronous=NORMAL``), a new run per call (``bench.service_sqlite``);
- ``conversation``: greet (``say_static``) -> classify (``worker_llm`` waiting for
  the user, instant model) -> conditional edges on ``[[intent]]`` -> answer
  (``say_llm``, instant model) -> classify, one ``run_one_turn`` per user turn.
  The intent arrives with the user turn as a runtime variable (the LangGraph side
  receives it in the resume value): neither side parses text.
"""

import time
from pathlib import Path
from typing import Any

from bench.common import Case, Options, make_case, measure_async
from bench.executors import one_turn
from bench.flatness import conversation_result, staggered, storage_between_rounds
from bench.service_sqlite import (
    bench_caller,
    bench_runtime,
    create_workflow,
    open_bench_store,
    waiting_turn,
)
from bench.sqlite_probe import StorageProbe, remove_db
from bench.workloads import (
    LINEAR_SIZES,
    START,
    InstantLLM,
    JsonDict,
    compiled,
    linear_no_op,
    user_says,
)
from threadline.nodes.base import Ports
from threadline.service.running.runs import run_one_turn
from threadline.service.turns import TurnRequest


def _edge(source: str, destination: str, **extra: Any) -> JsonDict:
    return {
        "logical_id": f"edge_{source}_{destination}",
        "name": f"{source} to {destination}",
        "type": "direct",
        "source_node_logical_id": source,
        "destination_node_logical_id": destination,
        **extra,
    }


def _when(source: str, destination: str, expression: str) -> JsonDict:
    return _edge(
        source,
        destination,
        type="conditional",
        condition={"condition_expression": expression},
    )


def _answer(logical_id: str, topic: str) -> JsonDict:
    return {
        "type": "say_llm",
        "logical_id": logical_id,
        "name": f"Answer {topic}",
        "self_loop": False,
        "wait_for_user_message": False,
        "main_response_config": {"prompt": f"Answer about {topic} for {{{{clinic}}}}."},
    }


def support_chat() -> JsonDict:
    """Greet, wait, classify (expression edges), answer, loop back to classify."""
    return {
        "name": "Support chat",
        "workflow_config": {
            "name": "Support chat",
            "miscellaneous": {"default_dynamic_variables": {"clinic": "Northside"}},
        },
        "node_configs": [
            {
                "type": "say_static",
                "logical_id": "node_greet",
                "name": "Greeting",
                "is_start": True,
                "static_messages_config": {
                    "static_messages": ["Welcome to {{clinic}}! How can I help?"]
                },
            },
            {
                "type": "worker_llm",
                "logical_id": "node_classify",
                "name": "Classify",
                "wait_for_user_message": True,
                "self_loop": False,
                "main_response_config": {"prompt": "Classify the request."},
            },
            _answer("node_booking", "booking"),
            _answer("node_other", "anything else"),
        ],
        "edge_configs": [
            _edge("node_greet", "node_classify"),
            _when("node_classify", "node_booking", "[[intent]] == 'booking'"),
            _when("node_classify", "node_other", "[[intent]] != 'booking'"),
            _edge("node_booking", "node_classify"),
            _edge("node_other", "node_classify"),
        ],
    }


def user_turn(i: int) -> JsonDict:
    intent = "booking" if i % 2 == 0 else "other"
    return user_says(
        f"Message {i}: I would like to book a visit next week.",
        runtime_variables={"intent": intent},
    )


async def memory_cases(opts: Options) -> list[Case]:
    cases = []
    for size in LINEAR_SIZES:
        graph = compiled(linear_no_op(size))
        ports = Ports(llm=InstantLLM(), clock=time.time)

        async def body(graph: Any = graph, ports: Ports = ports) -> None:
            outcome = await one_turn(graph, ports)
            if outcome.status != "completed":
                raise AssertionError(outcome.status)

        measured = await measure_async(body, opts)
        cases.append(
            make_case(
                "memory",
                f"linear x{size}",
                size,
                measured,
                api="run_turn + executors, no store",
            )
        )
    return cases


async def sqlite_cases(opts: Options) -> list[Case]:
    path = opts.work_dir / "compare-service.db"
    store = await open_bench_store(path)
    caller, runtime = bench_caller(), bench_runtime()
    cases = []
    try:
        for size in LINEAR_SIZES:
            wid = await create_workflow(store, caller, linear_no_op(size))

            async def body(wid: str = wid) -> None:
                _, outcome = await run_one_turn(
                    store,
                    caller,
                    runtime,
                    TurnRequest(workflow_id=wid, raw_input=START, field="run_input"),
                )
                if outcome.status != "completed":
                    raise AssertionError(outcome.status)

            measured = await measure_async(body, opts)
            cases.append(
                make_case(
                    "sqlite",
                    f"linear x{size}",
                    size,
                    measured,
                    api="run_one_turn, new run per call",
                    store="SQLite file (WAL, synchronous=NORMAL)",
                )
            )
    finally:
        await store.close()
        remove_db(path)
    return cases


async def conversation_case(opts: Options) -> Case:
    """The conversation row, timed by ``bench.flatness.staggered`` (the same
    schedule as ``bench.langgraph_side``)."""
    turns = 30 if opts.quick else opts.conversation_turns
    path = opts.work_dir / "compare-chat.db"
    store = await open_bench_store(path)
    caller, runtime = bench_caller(), bench_runtime()
    llm = runtime.llm

    async def start() -> str:
        return await waiting_turn(
            store, caller, runtime, workflow_id=wid, run_id=None, raw=START
        )

    async def turn(run_id: str, index: int) -> None:
        await waiting_turn(
            store, caller, runtime, workflow_id=wid, run_id=run_id, raw=user_turn(index)
        )

    storage: list[JsonDict] = []
    try:
        wid = await create_workflow(store, caller, support_chat())
        calls = llm.calls if isinstance(llm, InstantLLM) else 0
        warm = await start()
        for i in range(10):  # warm-up
            await turn(warm, i)
        if isinstance(llm, InstantLLM) and llm.calls - calls != 20:
            raise AssertionError(f"{llm.calls - calls} model calls for 10 turns")
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
    finally:
        await store.close()
        remove_db(path)
    return conversation_result(
        measured, storage, store="SQLite file (WAL, synchronous=NORMAL)"
    )


async def run(opts: Options, log: Any) -> list[Case]:
    log("Threadline: linear graphs in memory")
    cases = await memory_cases(opts)
    log("Threadline: linear graphs on SQLite")
    cases += await sqlite_cases(opts)
    log("Threadline: conversation")
    cases.append(await conversation_case(opts))
    return cases


WORK_DIR = Path("bench/results/tmp")
