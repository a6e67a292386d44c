"""Moving one thread: prepare a node run, then record its result and route on."""

from typing import Any

from threadline.engine import routing
from threadline.engine.emit import Emitter
from threadline.engine.expressions import ExpressionSyntaxError
from threadline.engine.graph import Graph
from threadline.engine.inputs import TurnEnv
from threadline.engine.state import (
    ENDED,
    MAIN_THREAD,
    READY,
    WAITING,
    RunState,
    ThreadState,
)
from threadline.engine.steps import NodeResult, NodeTask, Scope
from threadline.engine.templates import make_resolver, render

JsonDict = dict[str, Any]
LLM_NODE_TYPES = frozenset({"say_llm", "worker_llm", "workflow_run_evaluator"})


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
    )


def _reference(thread_id: str) -> str:
    """``0`` for main, the configured id for ``0_companion_<id>``."""
    return thread_id.rsplit("_companion_", 1)[-1]


def _scope_kwargs(s: Scope) -> dict[str, Any]:
    return {
        "dynamic": s.dynamic,
        "runtime": s.runtime,
        "threads": s.threads,
        "globals_": s.globals_,
    }


def _waits(node: JsonDict, thread: ThreadState) -> bool:
    if not thread.fresh_entry:
        return True
    return bool(node.get("wait_for_user_message", False))


def _run_id(state: RunState, node_id: str) -> int:
    state.node_runs[node_id] = state.node_runs.get(node_id, 0) + 1
    return state.node_runs[node_id]


def prepare(
    state: RunState, graph: Graph, thread: ThreadState, env: TurnEnv, em: Emitter
) -> NodeTask | None:
    """Build the next task for ``thread``, or park/skip it and return None."""
    node_id = thread.node
    if node_id is None or node_id not in graph.nodes:
        _end_thread(thread, em)
        return None
    node = graph.node(node_id)
    if node.get("disabled"):
        _skip_disabled(graph, thread, em)
        return None
    if _waits(node, thread) and not thread.pending:
        thread.status = WAITING
        em.emit(
            "busy_wait_for_user_message",
            thread.thread_id,
            **em.node_fields(node_id, _run_id(state, node_id)),
        )
        return None
    messages = tuple(thread.pending)
    thread.history.extend(thread.pending)
    thread.pending.clear()
    s = scope(state, thread, env)
    limit = int(graph.misc.get("consecutive_conditional_edges_max_limit", 3) or 3)
    after_reverse = thread.after_reverse and routing.flag(
        graph.misc,
        "no_consecutive_conditional_edge_after_reverse_conditional_edge_taken",
        True,
    )
    method = node.get("global_condition_edge_evaluation_method") or "workflow_default"
    if method == "workflow_default":
        method = graph.workflow.get("global_condition_evaluation_method") or "tool_call"
    if method == "workflow_default":
        method = "tool_call"
    return NodeTask(
        thread_id=thread.thread_id,
        node=node,
        node_run_id=_run_id(state, node_id),
        messages=messages,
        history=tuple(thread.history),
        scope=s,
        workflow=graph.workflow,
        destinations=routing.destinations(graph, thread, node_id, _scope_kwargs(s)),
        routing_method=method,
        tools_disabled=thread.conditional_hops >= limit or after_reverse,
    )


def _end_thread(thread: ThreadState, em: Emitter) -> None:
    thread.status = ENDED
    em.emit("end_thread", thread.thread_id, last_node_logical_id=thread.node)


def _skip_disabled(graph: Graph, thread: ThreadState, em: Emitter) -> None:
    """A disabled node emits nothing and passes the thread along its direct edge."""
    assert thread.node is not None
    for edge in graph.edges_from(thread.node):
        if edge.get("type", "direct") == "direct" and not routing.is_companion(edge):
            thread.node = edge["destination_node_logical_id"]
            thread.fresh_entry = True
            return
    _end_thread(thread, em)


def abort_looping(state: RunState, em: Emitter, limit: int) -> None:
    """Stop a runaway turn: more than ``limit`` node runs without a user message."""
    state.status = "aborted_looping_risk"
    state.error = f"more than {limit} node executions in one turn without user input"
    state.termination_source = "execution_error"
    em.emit("workflow_error", MAIN_THREAD, error_message=state.error, stack_trace=None)


def _fail(state: RunState, em: Emitter, message: str, trace: str | None) -> None:
    state.status = "failed"
    state.error = message
    state.termination_source = "execution_error"
    em.emit("workflow_error", MAIN_THREAD, error_message=message, stack_trace=trace)


def _record(
    state: RunState,
    thread: ThreadState,
    task: NodeTask,
    result: NodeResult,
    em: Emitter,
) -> None:
    node_id = task.node["logical_id"]
    fields = em.node_fields(node_id, task.node_run_id)
    tid = thread.thread_id
    # The wire's node run output is typed like its node.
    result.output = {"type": task.node.get("type", "base_node"), **result.output}
    em.emit(
        "start_node_run", tid, **fields, run_input=_run_input(task)
    )
    for event in result.events:
        em.emit(
            event["type"],
            tid,
            **fields,
            **{k: v for k, v in event.items() if k != "type"},
        )
    em.emit("end_node_run", tid, **fields, run_output=result.output)
    _write_variables(thread, task.node, result.variables)
    state.workflow_variables.update(result.workflow_variables)
    thread.history.extend(result.history)
    state.llm_calls.extend(result.llm_calls)
    thread.visited.append(node_id)
    thread.after_reverse = False
    em.emit(
        "workflow_show_state",
        tid,
        **fields,
        thread_id=tid,
        runtime_variables=dict(thread.variables),
        workflow_runtime_variables=dict(state.workflow_variables),
    )


def _run_input(task: NodeTask) -> JsonDict:
    """The node run input as the wire shows it: ``llm`` for LLM nodes."""
    node_id = task.node["logical_id"]
    if task.node.get("type") in LLM_NODE_TYPES:
        messages = list(task.messages)
        return {"type": "llm", "node_logical_id": node_id, "messages": messages}
    return {"type": "base_node", "node_logical_id": node_id}


def _write_variables(thread: ThreadState, node: JsonDict, values: JsonDict) -> None:
    """Store a write as ``name``, ``<node id>.name`` and ``<node name>.name``."""
    for name, value in values.items():
        thread.variables[name] = value
        thread.variables[f"{node['logical_id']}.{name}"] = value
        if node.get("name"):
            thread.variables[f"{node['name']}.{name}"] = value


def finish(
    state: RunState,
    graph: Graph,
    thread: ThreadState,
    task: NodeTask,
    result: NodeResult,
    env: TurnEnv,
    em: Emitter,
) -> bool:
    """Record a node's result and move the thread on; False stops the turn."""
    if result.finished_at is not None:
        em.now = result.finished_at
    _record(state, thread, task, result, em)
    if result.error is not None:
        _fail(state, em, result.error, result.stack_trace)
        return False
    if result.end_workflow:
        for other in state.threads.values():
            if other.status != ENDED:
                _end_thread(other, em)
        return True
    try:
        _route(state, graph, thread, task, result, env, em)
    except ExpressionSyntaxError as exc:
        _fail(state, em, f"invalid condition expression: {exc}", None)
        return False
    return True


def _fork_companions(
    state: RunState, graph: Graph, thread: ThreadState, node_id: str, em: Emitter
) -> None:
    for edge in graph.edges_from(node_id):
        if not routing.is_companion(edge):
            continue
        ref = edge["companion_thread_config"].get("thread_id") or edge.get("logical_id")
        child_id = f"{thread.thread_id}_companion_{ref}"
        dest = edge["destination_node_logical_id"]
        state.threads[child_id] = ThreadState(
            thread_id=child_id, node=dest, parent=thread.thread_id
        )
        em.edge(
            "companion_edge",
            thread.thread_id,
            edge,
            node_id,
            dest,
            f"Companion thread {child_id} started",
        )
        em.emit("start_thread", child_id)


def _route(
    state: RunState,
    graph: Graph,
    thread: ThreadState,
    task: NodeTask,
    result: NodeResult,
    env: TurnEnv,
    em: Emitter,
) -> None:
    node_id = task.node["logical_id"]
    _fork_companions(state, graph, thread, node_id, em)
    resolver = make_resolver(**_scope_kwargs(scope(state, thread, env)))
    route = routing.choose(
        graph, thread, node_id, result.destination, result.destination_args, resolver
    )
    if route is None:
        _stay_or_end(graph, thread, task.node, em)
        return
    if route.args:
        _write_variables(thread, task.node, route.args)
    em.edge(
        route.event_type,
        thread.thread_id,
        route.edge,
        node_id,
        route.destination,
        route.reason,
        **(
            {"args_filled": route.args}
            if route.event_type == "conditional_edge"
            else {}
        ),
    )
    _navigate(state, graph, thread, node_id, route, env, em)


def _stay_or_end(
    graph: Graph, thread: ThreadState, node: JsonDict, em: Emitter
) -> None:
    """No edge fired: a node with outgoing edges (or ``self_loop``) waits for the
    next user message and runs again; a node with none ends its thread."""
    if node.get("self_loop") or graph.edges_from(node["logical_id"]):
        thread.fresh_entry = False
        thread.status = READY
        return
    _end_thread(thread, em)


def _navigate(
    state: RunState,
    graph: Graph,
    thread: ThreadState,
    source: str,
    route: routing.Route,
    env: TurnEnv,
    em: Emitter,
) -> None:
    if route.kind == "global":
        thread.global_callers.append(source)
    elif route.kind == "reverse" and thread.global_callers:
        thread.global_callers.pop()
    if route.kind != "direct":
        thread.conditional_hops += 1
    thread.after_reverse = route.kind == "reverse"
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
    thread.history.append(
        {"type": "ai", "content": memo, "response_metadata": metadata}
    )
    em.emit(
        "workflow_navigation_message",
        thread.thread_id,
        message={"type": "ai", "content": memo, "response_metadata": metadata},
    )
    _transition_message(state, thread, route, env, em)
    thread.node = route.destination
    thread.fresh_entry = True
    thread.status = READY


def _transition_message(
    state: RunState,
    thread: ThreadState,
    route: routing.Route,
    env: TurnEnv,
    em: Emitter,
) -> None:
    """Speak a static transition message configured on the condition, if any."""
    config = (route.edge.get("condition") or {}).get("static_messages_config") or {}
    messages = config.get("static_messages") or []
    if not messages:
        return
    index = state.edge_runs % len(messages)
    text = render(messages[index], **_scope_kwargs(scope(state, thread, env)))
    thread.history.append({"type": "ai", "content": text})
    em.emit(
        "assistant_response",
        thread.thread_id,
        content=text,
        response_metadata={"message_type": "transition"},
        llm_usage_info=None,
    )
