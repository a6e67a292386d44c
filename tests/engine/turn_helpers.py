"""Driving the pure turn generator in tests, with node results chosen per task."""

from collections.abc import Callable
from typing import Any

from threadline.engine.graph import Graph, compile_graph
from threadline.engine.inputs import TurnEnv
from threadline.engine.state import RunState
from threadline.engine.steps import NodeResult, NodeTask
from threadline.engine.turn import TurnOutcome, run_turn

Responder = Callable[[NodeTask], NodeResult]


def node(lid: str, type_: str = "say_static", **extra: Any) -> dict[str, Any]:
    return {"type": type_, "logical_id": lid, "name": lid, **extra}


def llm(lid: str, **extra: Any) -> dict[str, Any]:
    base = {"self_loop": True, "wait_for_user_message": True}
    return node(lid, "say_llm", **{**base, **extra})


def edge(lid: str, src: str, dst: str, **extra: Any) -> dict[str, Any]:
    return {
        "logical_id": lid,
        "name": lid,
        "type": "direct",
        "source_node_logical_id": src,
        "destination_node_logical_id": dst,
        **extra,
    }


def cond(
    lid: str,
    src: str,
    dst: str,
    *,
    expression: str | None = None,
    freeform: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    condition = {"condition_expression": expression, "condition_freeform": freeform}
    return edge(lid, src, dst, type="conditional", condition=condition, **extra)


def graph(
    nodes: list[dict[str, Any]], edges: list[dict[str, Any]], **workflow: Any
) -> Graph:
    return compile_graph(
        {"workflow_config": workflow, "node_configs": nodes, "edge_configs": edges}
    )


def say(text: str, **extra: Any) -> NodeResult:
    return NodeResult(
        events=[{"type": "assistant_response", "content": text}],
        history=[{"type": "ai", "content": text}],
        **extra,
    )


def user(text: str, command: str = "data") -> dict[str, Any]:
    return {
        "command": command,
        "thread_to_node_inputs": {
            "0": {
                "node_run_inputs": [
                    {"type": "llm", "messages": [{"type": "human", "content": text}]}
                ]
            }
        },
    }


START: dict[str, Any] = {
    "command": "start",
    "thread_to_node_inputs": {"0": {"node_run_inputs": []}},
}


def drive(
    state: RunState,
    g: Graph,
    run_input: dict[str, Any],
    respond: Responder,
    env: TurnEnv | None = None,
) -> tuple[TurnOutcome, list[NodeTask]]:
    """Run one turn, answering each task with ``respond``; return outcome and tasks."""
    tasks: list[NodeTask] = []
    gen = run_turn(state, g, run_input, env or TurnEnv(now=1_700_000_000.0))
    try:
        task = next(gen)
        while True:
            tasks.append(task)
            task = gen.send(respond(task))
    except StopIteration as stop:
        return stop.value, tasks


def types(outcome: TurnOutcome) -> list[str]:
    return [e["type"] for e in outcome.events]


def static_responder(task: NodeTask) -> NodeResult:
    """say_static nodes speak their logical id; LLM nodes answer 'ok'."""
    if task.node["type"] == "say_static":
        return say(f"static {task.node['logical_id']}")
    return say("ok")
