"""Moving one thread: prepare a node run, then record its result and route on."""

from typing import Any

from threadline.engine import loops, moves, routing, usage, waiting
from threadline.engine.emit import Emitter
from threadline.engine.expressions import ExpressionSyntaxError
from threadline.engine.graph import Graph
from threadline.engine.inputs import TurnEnv
from threadline.engine.state import MAIN_THREAD, READY, WAITING, RunState, ThreadState
from threadline.engine.steps import NodeResult, NodeTask
from threadline.engine.templates import RenderLimitExceeded, make_resolver

JsonDict = dict[str, Any]
LLM_NODE_TYPES = frozenset({"say_llm", "worker_llm", "workflow_run_evaluator"})


def _waits(node: JsonDict, thread: ThreadState) -> bool:
    if not thread.fresh_entry:
        return True
    return bool(node.get("wait_for_user_message", False))


def _run_id(state: RunState, node_id: str) -> int:
    state.node_runs[node_id] = state.node_runs.get(node_id, 0) + 1
    return state.node_runs[node_id]


def _method(graph: Graph, node: JsonDict) -> str:
    method = node.get("global_condition_edge_evaluation_method") or "workflow_default"
    if method == "workflow_default":
        method = graph.workflow.get("global_condition_evaluation_method") or "tool_call"
    return "tool_call" if method == "workflow_default" else str(method)


def _tools_disabled(graph: Graph, thread: ThreadState) -> bool:
    limit = int(graph.misc.get("consecutive_conditional_edges_max_limit", 3) or 3)
    after_reverse = thread.after_reverse and routing.flag(
        graph.misc,
        "no_consecutive_conditional_edge_after_reverse_conditional_edge_taken",
        True,
    )
    return thread.conditional_hops >= limit or after_reverse


def transition_task(
    state: RunState, graph: Graph, thread: ThreadState, env: TurnEnv
) -> NodeTask:
    """A say_llm call that speaks a dynamic transition message."""
    prompt, thread.transition_prompt = thread.transition_prompt, None
    node = {
        "type": "say_llm",
        "logical_id": thread.node,
        "name": graph.name(thread.node),
        "main_response_config": {"prompt": prompt},
        "ignore_default_prompt_prefix": True,
        "ignore_default_prompt_suffix": True,
        "llms_config": (graph.node(str(thread.node)) or {}).get("llms_config"),
    }
    return NodeTask(
        thread_id=thread.thread_id,
        node=node,
        node_run_id=state.node_runs.get(str(thread.node), 0),
        messages=(),
        history=tuple(thread.history),
        scope=moves.scope(state, thread, env),
        workflow=graph.workflow,
        tools_disabled=True,
        purpose="transition",
    )


def prepare(
    state: RunState, graph: Graph, thread: ThreadState, env: TurnEnv, em: Emitter
) -> NodeTask | None:
    """Build the next task for ``thread``, or park/skip it and return None."""
    node_id = thread.node
    if node_id is None or node_id not in graph.nodes:
        moves.end_thread(thread, em)
        return None
    if thread.transition_prompt:
        return transition_task(state, graph, thread, env)
    node = graph.node(node_id)
    if node.get("disabled"):
        _skip_disabled(graph, thread, em)
        return None
    if _waits(node, thread) and not thread.pending:
        thread.status = WAITING
        fields = em.node_fields(node_id, _run_id(state, node_id))
        em.emit("busy_wait_for_user_message", thread.thread_id, **fields)
        return None
    messages = tuple(thread.pending)
    thread.history.extend(thread.pending)
    thread.pending.clear()
    s = moves.scope(state, thread, env)
    try:
        destinations = routing.destinations(
            graph, thread, node_id, moves.scope_kwargs(s)
        )
    except RenderLimitExceeded as exc:
        fail(state, em, f"template limit reached: {exc}")
        return None
    delay = 0.0
    if thread.due_at is not None:
        delay, thread.due_at = max(0.0, thread.due_at - em.now), None
    return NodeTask(
        thread_id=thread.thread_id,
        node=node,
        node_run_id=_run_id(state, node_id),
        messages=messages,
        history=tuple(thread.history),
        scope=s,
        workflow=graph.workflow,
        destinations=destinations,
        routing_method=_method(graph, node),
        tools_disabled=_tools_disabled(graph, thread),
        attempt=thread.self_loop_attempts + 1,
        delay_s=delay,
    )


def _skip_disabled(graph: Graph, thread: ThreadState, em: Emitter) -> None:
    """A disabled node emits nothing and passes the thread along its direct edge."""
    assert thread.node is not None
    for edge in graph.edges_from(thread.node):
        if edge.get("type", "direct") == "direct" and not routing.is_companion(edge):
            thread.node = edge["destination_node_logical_id"]
            thread.fresh_entry = True
            return
    moves.end_thread(thread, em)


def fail(state: RunState, em: Emitter, message: str, trace: str | None = None) -> None:
    """Fail the run with a ``workflow_error`` event."""
    state.status = "failed"
    state.error = message
    state.termination_source = "execution_error"
    em.emit("workflow_error", MAIN_THREAD, error_message=message, stack_trace=trace)


def _run_input(task: NodeTask) -> JsonDict:
    """The node run input as the wire shows it: ``llm`` for LLM nodes."""
    node_id = task.node["logical_id"]
    if task.node.get("type") in LLM_NODE_TYPES:
        messages = list(task.messages)
        return {"type": "llm", "node_logical_id": node_id, "messages": messages}
    return {"type": "base_node", "node_logical_id": node_id}


def _record(
    state: RunState,
    thread: ThreadState,
    task: NodeTask,
    result: NodeResult,
    em: Emitter,
) -> None:
    fields = em.node_fields(task.node["logical_id"], task.node_run_id)
    tid = thread.thread_id
    node_run = task.purpose == "node"
    # The wire's node run output is typed like its node.
    result.output = {"type": task.node.get("type", "base_node"), **result.output}
    if node_run:
        em.emit("start_node_run", tid, **fields, run_input=_run_input(task))
    for event in result.events:
        body = {k: v for k, v in event.items() if k != "type"}
        em.emit(event["type"], tid, **fields, **body)
    usage.add_calls(state.usage, result.llm_calls)
    thread.history.extend(result.history)
    if not node_run:
        return
    em.emit("end_node_run", tid, **fields, run_output=result.output)
    moves.write_variables(thread, task.node, result.variables)
    state.workflow_variables.update(result.workflow_variables)
    thread.visited.append(task.node["logical_id"])
    thread.after_reverse = False
    em.emit(
        "workflow_show_state",
        tid,
        **fields,
        thread_id=tid,
        runtime_variables=dict(thread.variables),
        workflow_runtime_variables=dict(state.workflow_variables),
    )


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
        fail(state, em, result.error, result.stack_trace)
        return False
    if task.purpose != "node":
        return True
    if result.end_workflow:
        moves.end_all(state, em)
        return True
    try:
        _route(state, graph, thread, task, result, env, em)
        waiting.after_completion(state, graph, task.node["logical_id"], env, em)
    except ExpressionSyntaxError as exc:
        fail(state, em, f"invalid condition expression: {exc}", None)
        return False
    except RenderLimitExceeded as exc:
        fail(state, em, f"template limit reached: {exc}")
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
        reason = f"Companion thread {child_id} started"
        em.edge("companion_edge", thread.thread_id, edge, node_id, dest, reason)
        em.emit("start_thread", child_id)


def _choose(
    state: RunState,
    graph: Graph,
    thread: ThreadState,
    node_id: str,
    result: NodeResult,
    env: TurnEnv,
) -> routing.Route | None:
    resolver = make_resolver(**moves.scope_kwargs(moves.scope(state, thread, env)))
    return routing.choose(
        graph, thread, node_id, result.destination, result.destination_args, resolver
    )


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
    route = _choose(state, graph, thread, node_id, result, env)
    if route is None:
        if loops.retry_or_exhaust(thread, task.node, task.node_run_id, em):
            return
        route = _choose(state, graph, thread, node_id, NodeResult(), env)
    if route is None:
        _stay_or_end(graph, thread, task.node, em)
        return
    moves.take(state, graph, thread, node_id, route, env, em)


def _stay_or_end(
    graph: Graph, thread: ThreadState, node: JsonDict, em: Emitter
) -> None:
    """No edge fired: a node with outgoing edges (or ``self_loop``) waits for the
    next user message and runs again; a node with none ends its thread."""
    if node.get("self_loop") or graph.edges_from(node["logical_id"]):
        thread.fresh_entry = False
        thread.status = READY
        return
    moves.end_thread(thread, em)
