"""Executors of the LLM nodes: ``say_llm``, ``worker_llm``, ``workflow_run_evaluator``.

One node run:

1. **Config**: the node's ``llms_config`` unless it is ``global_default_llm``-typed
   (or missing), then the workflow's; passed whole in ``ChatRequest.llm_config``
   (``ports.llm`` serves groups, see ``providers.groups``).
   ``truncated_max_recent_messages`` and ``max_parse_retries`` are read from its
   primary member.
2. **Messages**: system prompt (``prompts.system_prompt``) + chat history. The
   evaluator adds one user message holding its input variable (below).
3. **Functions**: user tools (node + workflow) and, when ``routing_method ==
   "tool_call"``, one ``Destination_Node__<id>`` per destination; nothing at all
   when ``tools_disabled``.
4. **React loop**: user tool calls are run through a ``ToolRunner`` (``ports.tools``
   when set, else the standard ``threadline.tools.runner``; see ``llm_tools``),
   their results appended as tool messages (a failure reads ``Error: ...``), and
   the model called again. Every call the model makes counts towards
   ``max_consecutive_tool_calls``; calls past the budget get an error result, and
   once the budget is spent user
   tools are no longer offered, so the next answer is final. A destination call
   ends the loop at once (user tools requested in the same answer are not run) and
   becomes ``destination`` + ``destination_args`` (the engine writes the args as
   variables). Text sent alongside tool calls is spoken/kept unless §4.6 drops it.
   A successful tool writes its result to ``result_runtime_variable_name`` (no
   ``_success``/``_error`` keys on this path) plus whatever the runner reports;
   a tool's ``static_messages_config`` message is spoken (say_llm) while it runs.
5. **independent_llm_evaluations**: the main call gets no destination functions;
   one judge call per destination runs concurrently with it (skipped when
   ``tools_disabled``), each emitting ``condition_evaluator_llm``
   (``destination_node_logical_id``, ``is_condition_met``, ``message`` = the judge's
   AI message, ``justification``, ``llm_usage_info``). The first destination met,
   in the engine's order, wins; its args are the judge's ``args`` (with an
   ``args_schema``) or ``{"justification": ...}``. A winning ``global`` destination
   discards the main reply: its events and history are replaced by one
   ``discarded_main_llm{reason: "global_condition_matched"}`` event (tool side
   effects and variable writes stay; structured output is skipped).
6. **Events**: one LLM event per model call (``say_llm`` for say nodes, ``worker_llm``
   for workers and evaluators; ``message`` = the AI message dict) and, for say
   nodes, ``assistant_response`` for every non-empty text spoken, appended to
   ``history`` as an ``ai`` message. Workers never speak and add nothing to history.
   ``llm_usage_info`` = ``{model, provider, input_tokens, output_tokens,
   total_tokens, latency_ms}`` plus the SDK's names for the same numbers.
7. **Structured output** (``structured_output_schema``, a ``{name, description,
   input_schema}`` envelope; a bare object schema is accepted too): workers send
   ``response_schema`` on their own call(s); say nodes make a second call after the
   reply (also workers whose final answer is empty, e.g. after routing). Answers
   are checked (JSON object, required keys, types) and re-asked up to
   ``max_parse_retries`` times; each re-ask is a call of its own (own event, own
   accounting record) and the last event carries
   ``structured_output_retry_metadata{retry_count, failed_attempts[]}``. Fields
   become thread runtime variables and ``output["structured_output"]``.
8. **Accounting**: every completed call's ``call_record()`` is in ``llm_calls``; for
   an LLM group, the record of every member call that answered (losers too).
9. **Backchannel** (say nodes, ``llm_group_with_backchannel``): a model call slower
   than ``backchannel_min_patience_time_ms`` gets a filler spoken first
   (``assistant_response`` with ``message_type: "backchannel"``); see ``llm_loop``.

Failure policy (``LLMError`` or any provider exception, after the provider's own
retries; also structured output still invalid after all parse retries):

- say_llm speaks ``default_error_message`` (rendered) as ``assistant_response``
  with ``response_metadata = {"message_type": "error", "error": <reason>}`` and the
  run goes on (self-loop / routing as usual). With no default message it stays
  silent and emits ``workflow_warning``. A parse failure after a successful reply
  only emits ``workflow_warning`` (the reply was already spoken).
- worker_llm / workflow_run_evaluator with a ``default_error_message`` (the worker
  default) emit ``workflow_warning``, put the reason in ``output["error"]`` and go
  on: routing on missing variables is the author's fallback. With none (the
  evaluator default) there is nothing sensible to continue with, so ``error`` is
  set and the run fails with ``workflow_error``.

workflow_run_evaluator: a worker whose extra user message is the runtime variable
``input_runtime_variable_name`` (default ``workflow_run_object``; dicts/lists as
JSON, a missing value gives ``workflow_warning``). Its answer (structured output,
else the free text) is written to ``output_runtime_variable_name`` and, when
structured, each field too; run output ``{free_form_output, structured_output}``.
``is_turn_by_turn_evaluator`` is not supported yet.

``use_mcp_tools``: the workflow's MCP servers' tools are offered next to the
node's own (``mcp_tools``); a server that cannot list them is a
``workflow_warning`` and the node goes on without them.

Where each part lives: ``llm_context`` (config, run state, event dicts, initial
messages), ``llm_loop`` (step 4), ``llm_judges`` (step 5), ``llm_structured``
(step 7), ``llm_results`` (outputs and the failure policy), beside ``llm_calls``
(accounting), ``llm_tools`` (functions offered) and ``prompts``.
"""

import asyncio

from threadline.engine.steps import Destination, NodeResult, NodeTask
from threadline.nodes.base import Executor, Ports
from threadline.nodes.llm_context import (
    EVALUATOR,
    SAY,
    WORKER,
    LLMContext,
    MainOutput,
    build_context,
    initial_messages,
    warning,
)
from threadline.nodes.llm_context import JsonDict as JsonDict
from threadline.nodes.llm_context import llm_config_for as llm_config_for
from threadline.nodes.llm_judges import Verdict, judge, winner_args
from threadline.nodes.llm_loop import run_main_flow
from threadline.nodes.llm_results import complete, discard
from threadline.nodes.llm_tools import ToolOutcome, ToolRunner, with_tools

__all__ = [
    "LLM_EXECUTORS",
    "ToolOutcome",
    "ToolRunner",
    "run_say_llm",
    "run_worker_llm",
    "run_workflow_run_evaluator",
]


def _judged(task: NodeTask) -> list[Destination]:
    """The destinations judged independently (none unless that routing is on)."""
    if task.routing_method == "independent_llm_evaluations" and not task.tools_disabled:
        return list(task.destinations)
    return []


def _route(result: NodeResult, out: MainOutput, winner: Verdict | None) -> None:
    """A destination the model called wins over one a judge found met."""
    if out.destination is not None:
        result.destination = out.destination.node_logical_id
        result.destination_args = out.destination_args
    elif winner is not None:
        result.destination = winner.destination.node_logical_id
        result.destination_args = winner_args(winner)


async def _add_mcp_tools(ctx: LLMContext, ports: Ports, events: list[JsonDict]) -> None:
    task = ctx.task
    if not task.node.get("use_mcp_tools") or task.tools_disabled:
        return
    if ports.mcp is None or not task.workflow.get("mcp_servers"):
        events.append(
            warning(
                f"node {task.node.get('logical_id')!r} sets use_mcp_tools but the "
                "workflow has no mcp_servers; no MCP tool is offered"
            )
        )
        return
    taken = set(ctx.offered.user)
    found = await ports.mcp.offered(task, taken, events)
    ctx.offered = with_tools(ctx.offered, found, task)
    ctx.mcp = ports.mcp


async def _execute(task: NodeTask, ports: Ports, kind: str) -> NodeResult:
    ctx = build_context(task, ports, kind)
    result = NodeResult()
    await _add_mcp_tools(ctx, ports, result.events)
    out = MainOutput(messages=initial_messages(ctx, result.events))
    _, verdicts = await asyncio.gather(
        run_main_flow(ctx, out),
        asyncio.gather(*(judge(ctx, d) for d in _judged(task))),
    )
    winner = next((v for v in verdicts if v.met), None)
    result.variables.update(out.variables)
    result.workflow_variables.update(out.workflow_variables)
    if winner is not None and winner.destination.kind == "global":
        result.events.extend(v.event for v in verdicts)
        discard(out, result)
    else:
        await complete(ctx, out, result)
        result.events.extend(v.event for v in verdicts)
    _route(result, out, winner)
    result.llm_calls = list(ctx.log.calls)
    result.finished_at = ports.clock()
    return result


async def run_say_llm(task: NodeTask, ports: Ports) -> NodeResult:
    """``say_llm``: speak the model's reply (and maybe route or call tools)."""
    return await _execute(task, ports, SAY)


async def run_worker_llm(task: NodeTask, ports: Ports) -> NodeResult:
    """``worker_llm``: a silent LLM step (extraction, classification, decisions)."""
    return await _execute(task, ports, WORKER)


async def run_workflow_run_evaluator(task: NodeTask, ports: Ports) -> NodeResult:
    """``workflow_run_evaluator``: score the run stored in its input variable."""
    return await _execute(task, ports, EVALUATOR)


LLM_EXECUTORS: dict[str, Executor] = {
    SAY: run_say_llm,
    WORKER: run_worker_llm,
    EVALUATOR: run_workflow_run_evaluator,
}
