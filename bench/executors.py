"""Scenario 2: the turn generator driving the real node executors, in memory.

Tasks are executed by ``nodes.registry.executor_for`` with ``Ports`` holding the
instant model, the way ``service.running.runs`` drives a turn, but with no store: no
loading, claiming or persisting.
"""

import time
import traceback

from bench.common import Case, Options, make_case, measure_async
from bench.workloads import (
    LINEAR_SIZES,
    START,
    InstantLLM,
    compiled,
    linear_no_op,
    say_llm_chain,
)
from threadline.engine.graph import Graph
from threadline.engine.inputs import TurnEnv
from threadline.engine.state import RunState
from threadline.engine.steps import NodeResult, NodeTask
from threadline.engine.turn import TurnOutcome, run_turn
from threadline.nodes.base import Ports
from threadline.nodes.registry import executor_for

NAME = "executors"
TITLE = "Engine + node executors in memory (instant LLM)"
SAY_LLM_NODES = 5


async def execute(task: NodeTask, ports: Ports) -> NodeResult:
    """Run one task as ``service.running.turn_steps`` (``execute_node``) does."""
    try:
        result = await executor_for(task.node.get("type", ""))(task, ports)
    except Exception as exc:
        trace = traceback.format_exc()
        result = NodeResult(error=f"node failed: {exc}", stack_trace=trace)
    result.finished_at = ports.clock()
    return result


async def one_turn(graph: Graph, ports: Ports) -> TurnOutcome:
    env = TurnEnv(now=ports.clock())
    gen = run_turn(RunState(run_id="bench"), graph, START, env)
    try:
        task = next(gen)
        while True:
            task = gen.send(await execute(task, ports))
    except StopIteration as stop:
        outcome: TurnOutcome = stop.value
        return outcome


async def _case(name: str, graph: Graph, nodes: int, opts: Options) -> Case:
    llm = InstantLLM()
    ports = Ports(llm=llm, clock=time.time)
    outcome = await one_turn(graph, ports)
    calls = llm.calls
    if outcome.status != "completed" or outcome.error:
        raise AssertionError(f"{name}: {outcome.status} {outcome.error}")

    async def body() -> None:
        await one_turn(graph, ports)

    measured = await measure_async(body, opts)
    extra = {"llm_calls_per_turn": calls} if calls else {}
    return make_case(NAME, name, nodes, measured, **extra)


async def run(opts: Options) -> list[Case]:
    cases = [
        await _case(f"linear no_op x{n}", compiled(linear_no_op(n)), n, opts)
        for n in LINEAR_SIZES
    ]
    chain = compiled(say_llm_chain(SAY_LLM_NODES))
    cases.append(
        await _case(f"say_llm chain x{SAY_LLM_NODES}", chain, SAY_LLM_NODES, opts)
    )
    return cases
