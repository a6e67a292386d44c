"""Scenario 1: the pure turn generator alone, every node answered at once.

No executor runs: each ``NodeTask`` gets an empty ``NodeResult``. What is left is
the engine's own bookkeeping per node (scope, events, routing, history) plus the
run start (dynamic variables, main thread) once per turn.
"""

import functools

from bench.common import Case, Options, make_case, measure
from bench.workloads import LINEAR_SIZES, compiled, linear_no_op
from threadline.engine.graph import Graph
from threadline.engine.inputs import TurnEnv
from threadline.engine.state import RunState
from threadline.engine.steps import NodeResult
from threadline.engine.turn import run_turn

NAME = "engine"
TITLE = "Engine only (pure generator, empty NodeResult)"
ENV = TurnEnv(now=1_700_000_000.0)
START = {"command": "start", "thread_to_node_inputs": {"0": {"node_run_inputs": []}}}


def one_turn(graph: Graph, expected_nodes: int) -> None:
    """A fresh run's first turn over ``graph``."""
    gen = run_turn(RunState(run_id="bench"), graph, START, ENV)
    ran = 0
    status = "unfinished"
    try:
        next(gen)
        while True:
            ran += 1
            gen.send(NodeResult())
    except StopIteration as stop:
        status = stop.value.status
    if status != "completed" or ran != expected_nodes:
        raise AssertionError(f"unexpected turn: {status}, {ran} nodes")


async def run(opts: Options) -> list[Case]:
    cases = []
    for size in LINEAR_SIZES:
        graph = compiled(linear_no_op(size))
        measured = measure(functools.partial(one_turn, graph, size), opts)
        cases.append(make_case(NAME, f"linear no_op x{size}", size, measured))
    return cases
