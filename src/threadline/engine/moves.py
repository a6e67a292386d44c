"""Shared moves of a thread: its variable scope, writes, transitions, thread end."""

from typing import Any

from threadline.engine import routing
from threadline.engine.emit import Emitter
from threadline.engine.graph import Graph
from threadline.engine.inputs import TurnEnv
from threadline.engine.state import ENDED, READY, RunState, ThreadState
from threadline.engine.steps import Scope
from threadline.engine.supernode import runtime_seed
from threadline.engine.supernode_refs import resolve_refs
from threadline.engine.templates import render

JsonDict = dict[str, Any]


def scope(state: RunState, thread: ThreadState, env: TurnEnv) -> Scope:
    """The variables visible on ``thread``: its own over the run-wide ones."""
    shared = {
        k: v for k, v in state.workflow_variables.items() if not k.startswith("_")
    }
    threads = {_reference(t): s.variables for t, s in state.threads.items()}
    return Scope(
        dynamic=state.dynamic,
        runtime={**shared, **thread.variables},
        threads=threads,
        globals_=env.globals_,
        limits=env.render_limits,
    )


def _reference(thread_id: str) -> str:
    """``0`` for main, the configured id for ``0_companion_<id>``."""
    return thread_id.rsplit("_companion_", 1)[-1]


def scope_kwargs(s: Scope) -> dict[str, Any]:
    """A scope as keyword arguments of ``templates.render``."""
    return {
        "dynamic": s.dynamic,
        "runtime": s.runtime,
        "threads": s.threads,
        "globals_": s.globals_,
        "limits": s.limits,
    }


def write_variables(thread: ThreadState, node: JsonDict, values: JsonDict) -> None:
    """Store a write as ``name``, ``<node id>.name`` and ``<node name>.name``."""
    for name, value in values.items():
        thread.variables[name] = value
        thread.variables[f"{node['logical_id']}.{name}"] = value
        if node.get("name"):
            thread.variables[f"{node['name']}.{name}"] = value


def end_thread(thread: ThreadState, em: Emitter) -> None:
    """End a thread for good."""
    thread.status = ENDED
    em.emit("end_thread", thread.thread_id, last_node_logical_id=thread.node)


def end_all(state: RunState, em: Emitter) -> None:
    """End every thread that is still active."""
    for thread in state.threads.values():
        if thread.status != ENDED:
            end_thread(thread, em)


def take(
    state: RunState,
    graph: Graph,
    thread: ThreadState,
    source: str,
    route: routing.Route,
    env: TurnEnv,
    em: Emitter,
    **extra: Any,
) -> None:
    """Emit the edge event for ``route`` and move the thread along it."""
    if route.args:
        write_variables(thread, graph.node(source), route.args)
    if route.event_type == "conditional_edge":
        extra = {"args_filled": route.args, **extra}
        origin = route.edge.get("super_node_exit_origin")
        if origin:
            extra["super_node_exit_origin"] = origin
    em.edge(
        route.event_type,
        thread.thread_id,
        route.edge,
        source,
        route.destination,
        route.reason,
        **extra,
    )
    navigate(state, graph, thread, source, route, env, em)


def navigate(
    state: RunState,
    graph: Graph,
    thread: ThreadState,
    source: str,
    route: routing.Route,
    env: TurnEnv,
    em: Emitter,
) -> None:
    """Bookkeeping of a transition: memo, transition message, guardrail strikes."""
    if route.kind == "global":
        thread.global_callers.append(source)
    elif route.kind == "reverse" and thread.global_callers:
        thread.global_callers.pop()
    if route.kind != "direct":
        thread.conditional_hops += 1
    thread.after_reverse = route.kind == "reverse"
    _memo(graph, thread, source, route, em)
    _transition_message(state, thread, route, env, em)
    thread.self_loop_attempts = 0
    thread.self_loop_started_at = None
    destination = _guardrail_strike(state, graph, thread, source, route, env, em)
    if destination is None:
        return
    thread.node = destination
    thread.variables.update(runtime_seed(graph.node(destination)))
    seen = scope_kwargs(scope(state, thread, env))
    resolve_refs(graph.node(destination), state.dynamic, thread, seen, em)
    thread.fresh_entry = True
    thread.status = READY


def _memo(
    graph: Graph, thread: ThreadState, source: str, route: routing.Route, em: Emitter
) -> None:
    kind = "direct edge" if route.kind == "direct" else "conditional edge"
    edge_name = route.edge.get("name") or route.edge.get("logical_id")
    memo = (
        f'[Internal-only memo]: System navigated from agent "{graph.name(source)}" '
        f'to agent "{graph.name(route.destination)}" via {kind} "{edge_name}".'
    )
    metadata = {
        "navigation_message": "true",
        "edge_type": route.edge.get("type", "direct"),
        "source_node_id": source,
        "destination_node_id": route.destination,
    }
    message = {"type": "ai", "content": memo, "response_metadata": metadata}
    thread.history.append(message)
    em.emit("workflow_navigation_message", thread.thread_id, message=message)


def _transition_message(
    state: RunState,
    thread: ThreadState,
    route: routing.Route,
    env: TurnEnv,
    em: Emitter,
) -> None:
    """Speak a static transition message; queue a dynamic one for the LLM."""
    condition = route.edge.get("condition") or {}
    kwargs = scope_kwargs(scope(state, thread, env))
    prompt = (condition.get("dynamic_messages_config") or {}).get(
        "dynamic_message_prompt"
    )
    if prompt:
        thread.transition_prompt = render(prompt, **kwargs)
    messages = (condition.get("static_messages_config") or {}).get(
        "static_messages"
    ) or []
    if not messages:
        return
    text = render(messages[state.edge_runs % len(messages)], **kwargs)
    thread.history.append({"type": "ai", "content": text})
    em.emit(
        "assistant_response",
        thread.thread_id,
        content=text,
        response_metadata={"message_type": "transition"},
    )


def _guardrail_strike(
    state: RunState,
    graph: Graph,
    thread: ThreadState,
    source: str,
    route: routing.Route,
    env: TurnEnv,
    em: Emitter,
) -> str | None:
    """Count entries into guardrail nodes; escalate at the configured threshold.

    Returns where the thread goes: the route's destination, the escalation node,
    or None when the escalation ends the workflow.
    """
    destination = route.destination
    entering = graph.nodes.get(destination, {}).get("is_guardrail_node")
    if not entering or graph.nodes.get(source, {}).get("is_guardrail_node"):
        return destination
    state.guardrail_entries += 1
    config = graph.workflow.get("guardrail_strikes_config") or {}
    limit = config.get("max_guardrail_nodes_before_escalation")
    if not limit or state.guardrail_entries < int(limit):
        return destination
    target = config.get("escalation_node_logical_id")
    target = target if target in graph.nodes else None
    edge = {"logical_id": "guardrail_escalation", "name": "Guardrail escalation"}
    em.edge(
        "guardrail_escalation_edge",
        thread.thread_id,
        edge,
        source,
        target,
        f"{state.guardrail_entries} guardrail nodes entered",
        num_guardrail_nodes_entered=state.guardrail_entries,
    )
    state.guardrail_entries = 0
    if target is not None:
        return str(target)
    message = config.get("escalation_message")
    if message:
        text = render(message, **scope_kwargs(scope(state, thread, env)))
        thread.history.append({"type": "ai", "content": text})
        em.emit(
            "assistant_response",
            thread.thread_id,
            content=text,
            response_metadata={"message_type": "escalation"},
        )
    end_all(state, em)
    return None
