"""Evaluate-while-waiting: conditional edges judged while their source is parked.

An edge with ``evaluate_while_waiting_config.enabled`` is evaluated (its
``condition_expression`` only) while the thread waits at its source node for a user
message: on the completion of one of its trigger nodes (``on_node_completion``) or
on every background pass (``on_every_background_tick``, at most once per
``min_seconds_between_evaluations``). A match moves the thread with no user message,
at most ``max_transitions_per_wait`` times per wait (reset by a user message).
"""

from typing import Any

from threadline.engine import moves, routing
from threadline.engine.emit import Emitter
from threadline.engine.expressions import evaluate, hydrate_expression, parse_expression
from threadline.engine.graph import Graph
from threadline.engine.inputs import TurnEnv
from threadline.engine.state import WAITING, RunState, ThreadState
from threadline.engine.templates import make_resolver

JsonDict = dict[str, Any]


def _waiting_edges(graph: Graph, thread: ThreadState, mode: str) -> list[JsonDict]:
    if thread.status != WAITING or thread.node is None:
        return []
    out = []
    for edge in graph.edges_from(thread.node):
        config = edge.get("evaluate_while_waiting_config") or {}
        trigger = config.get("trigger_mode") or "on_node_completion"
        if config.get("enabled") and trigger == mode:
            out.append(edge)
    return out


def _try(
    state: RunState,
    graph: Graph,
    thread: ThreadState,
    edge: JsonDict,
    env: TurnEnv,
    em: Emitter,
    trigger_node: str | None,
) -> bool:
    config = edge.get("evaluate_while_waiting_config") or {}
    if thread.wait_transitions >= int(config.get("max_transitions_per_wait") or 3):
        return False
    text = (edge.get("condition") or {}).get("condition_expression")
    if not text:
        return False
    resolve = make_resolver(**moves.scope_kwargs(moves.scope(state, thread, env)))
    if not evaluate(parse_expression(text), resolve):
        return False
    thread.wait_transitions += 1
    source = str(thread.node)
    em.emit(
        "waiting_condition_matched",
        thread.thread_id,
        **em.node_fields(source, state.node_runs.get(source, 0)),
        condition_expression=text,
        hydrated_condition_expression=hydrate_expression(text, resolve),
        trigger_mode=config.get("trigger_mode") or "on_node_completion",
        trigger_node_logical_id=trigger_node,
        transitions_this_wait=thread.wait_transitions,
    )
    destination = edge["destination_node_logical_id"]
    reason = f"Condition expression {text!r} matched while waiting"
    route = routing.Route(
        edge, destination, "conditional_edge", reason, {}, "conditional"
    )
    moves.take(state, graph, thread, source, route, env, em)
    return True


def after_completion(
    state: RunState, graph: Graph, completed: str, env: TurnEnv, em: Emitter
) -> None:
    """Re-evaluate waiting edges triggered by the completion of node ``completed``."""
    for thread in list(state.threads.values()):
        for edge in _waiting_edges(graph, thread, "on_node_completion"):
            triggers = (edge.get("evaluate_while_waiting_config") or {}).get(
                "trigger_node_logical_ids"
            ) or []
            if completed in triggers and _try(
                state, graph, thread, edge, env, em, completed
            ):
                break


def tick(state: RunState, graph: Graph, env: TurnEnv, em: Emitter) -> bool:
    """A background pass over tick-mode waiting edges; True if any is armed."""
    armed = False
    for thread in list(state.threads.values()):
        edges = _waiting_edges(graph, thread, "on_every_background_tick")
        evaluated = 0
        for edge in edges:
            armed = True
            key = f"{thread.thread_id}:{edge.get('logical_id')}"
            config = edge.get("evaluate_while_waiting_config") or {}
            gap = float(config.get("min_seconds_between_evaluations") or 0)
            last = state.tick_evaluated_at.get(key)
            if last is not None and em.now - last < gap:
                continue
            state.tick_evaluated_at[key] = em.now
            evaluated += 1
            if _try(state, graph, thread, edge, env, em, None):
                break
        if edges:
            em.emit(
                "waiting_evaluation_boundary",
                thread.thread_id,
                parked_node_logical_id=thread.node,
                edges_evaluated=evaluated,
                transitioned=thread.status != WAITING,
                still_waiting=thread.status == WAITING,
            )
    return armed


def armed(state: RunState, graph: Graph) -> bool:
    """Whether some waiting thread has a tick-mode edge (background work left)."""
    return any(
        _waiting_edges(graph, t, "on_every_background_tick")
        for t in state.threads.values()
    )
