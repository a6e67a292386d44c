"""Executors of the LLM nodes: ``say_llm``, ``worker_llm``, ``workflow_run_evaluator``.

One node run:

1. **Config**: the node's ``llms_config`` unless it is ``global_default_llm``-typed
   (or missing), then the workflow's; passed whole in ``ChatRequest.llm_config``
   (the provider router unwraps groups). ``truncated_max_recent_messages`` and
   ``max_parse_retries`` are read from its primary member.
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
8. **Accounting**: every completed call's ``call_record()`` is in ``llm_calls``.

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
``is_turn_by_turn_evaluator`` and ``use_mcp_tools`` are not supported yet.
"""

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from threadline.engine.steps import Destination, NodeResult, NodeTask
from threadline.nodes import prompts
from threadline.nodes.base import Executor, Ports
from threadline.nodes.llm_calls import (
    CallLog,
    parse_object,
    retry_metadata,
    usage_info,
)
from threadline.nodes.llm_tools import (
    Offered,
    ToolOutcome,
    ToolRunner,
    drop_content,
    offered_tools,
    result_text,
    run_tool,
    runner_for,
    static_message,
)
from threadline.providers.base import ChatMessage, ChatResponse, LLMError, ToolCall
from threadline.providers.router import primary_config

__all__ = [
    "LLM_EXECUTORS",
    "ToolOutcome",
    "ToolRunner",
    "run_say_llm",
    "run_worker_llm",
    "run_workflow_run_evaluator",
]

JsonDict = dict[str, Any]
SAY, WORKER, EVALUATOR = "say_llm", "worker_llm", "workflow_run_evaluator"


def llm_config_for(task: NodeTask) -> JsonDict:
    """The node's LLM config, or the workflow's when the node uses the default."""
    own = task.node.get("llms_config")
    if own and own.get("type") != "global_default_llm":
        return dict(own)
    workflow = task.workflow.get("llms_config")
    if workflow:
        return dict(workflow)
    return dict(own) if own else {"type": "no_llm"}


def _schema(envelope: Any) -> JsonDict | None:
    if not isinstance(envelope, dict) or not envelope:
        return None
    inner = envelope.get("input_schema")
    if isinstance(inner, dict):
        return inner
    return envelope if envelope.get("type") == "object" else None


@dataclass
class _Ctx:
    task: NodeTask
    kind: str
    log: CallLog
    runner: ToolRunner
    offered: Offered
    max_recent: int | None
    parse_retries: int
    schema: JsonDict | None

    @property
    def speaks(self) -> bool:
        return self.kind == SAY

    @property
    def event_type(self) -> str:
        return SAY if self.kind == SAY else WORKER


@dataclass
class _Main:
    """What the main flow (the react loop) produced."""

    messages: list[ChatMessage]
    events: list[JsonDict] = field(default_factory=list)
    history: list[JsonDict] = field(default_factory=list)
    variables: JsonDict = field(default_factory=dict)
    workflow_variables: JsonDict = field(default_factory=dict)
    final: ChatResponse | None = None
    final_event: JsonDict | None = None
    text: str = ""
    destination: Destination | None = None
    destination_args: JsonDict = field(default_factory=dict)
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class _Verdict:
    destination: Destination
    met: bool
    reason: str
    args: JsonDict
    event: JsonDict


def _ai_message(
    text: str, calls: tuple[ToolCall, ...] = (), **metadata: Any
) -> JsonDict:
    message: JsonDict = {"type": "ai", "content": text}
    if calls:
        message["tool_calls"] = [
            {"name": c.name, "args": dict(c.arguments), "id": c.id, "type": "tool_call"}
            for c in calls
        ]
    if metadata:
        message["response_metadata"] = metadata
    return message


def _llm_event(ctx: _Ctx, message: JsonDict, response: ChatResponse) -> JsonDict:
    return {
        "type": ctx.event_type,
        "message": message,
        "llm_usage_info": usage_info(response),
    }


def _speak(
    out: _Main, text: str, usage: JsonDict | None, metadata: JsonDict | None = None
) -> None:
    out.events.append(
        {
            "type": "assistant_response",
            "content": text,
            "response_metadata": metadata or {"message_type": "llm"},
            "llm_usage_info": usage,
        }
    )


def _warning(message: str) -> JsonDict:
    return {"type": "workflow_warning", "warning_message": message}


def _context(task: NodeTask, ports: Ports, kind: str) -> _Ctx:
    config = llm_config_for(task)
    primary = primary_config(config)
    retries = primary.get("max_parse_retries")
    max_recent = primary.get("truncated_max_recent_messages")
    return _Ctx(
        task=task,
        kind=kind,
        log=CallLog(ports.llm, config),
        runner=runner_for(ports),
        offered=offered_tools(task),
        max_recent=int(max_recent) if max_recent is not None else None,
        parse_retries=3 if retries is None else max(0, int(retries)),
        schema=_schema(task.node.get("structured_output_schema")),
    )


def _initial_messages(ctx: _Ctx, warnings: list[JsonDict]) -> list[ChatMessage]:
    messages: list[ChatMessage] = []
    system = prompts.system_prompt(ctx.task)
    if system:
        messages.append(ChatMessage(role="system", content=system))
    messages.extend(prompts.history_messages(ctx.task.history, ctx.max_recent))
    if ctx.kind == EVALUATOR:
        name = str(ctx.task.node.get("input_runtime_variable_name") or "")
        value = ctx.task.scope.runtime.get(name) if name else None
        if value is None:
            warnings.append(_warning(f"runtime variable {name!r} to evaluate is empty"))
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            messages.append(
                ChatMessage(role="user", content=f"Workflow run to evaluate:\n{text}")
            )
    return messages


# --- the main flow -----------------------------------------------------------


async def _run_one_tool(
    ctx: _Ctx, out: _Main, call: ToolCall, over_budget: bool, spoken: list[str]
) -> ToolOutcome:
    tool = ctx.offered.user.get(call.name)
    if tool is None:
        return ToolOutcome(success=False, error=f"unknown tool {call.name!r}")
    if over_budget:
        return ToolOutcome(
            success=False,
            error="the tool-call limit of this step is reached; the tool was not run",
        )
    if ctx.speaks:
        text = static_message(tool, ctx.task, call)
        if text:
            _speak(out, text, None, {"message_type": "static", "tool_name": call.name})
            spoken.append(text)
    outcome = await run_tool(ctx.runner, tool, call, ctx.task)
    if outcome.success:
        name = str(tool.get("result_runtime_variable_name") or "tool_result")
        out.variables[name] = outcome.result
    out.variables.update(outcome.variables)
    out.workflow_variables.update(outcome.workflow_variables)
    return outcome


async def _tool_turn(
    ctx: _Ctx, out: _Main, response: ChatResponse, text: str, used: int, limit: int
) -> int:
    calls = response.tool_calls
    out.messages.append(ChatMessage(role="assistant", content=text, tool_calls=calls))
    if ctx.speaks:
        out.history.append(_ai_message(text, calls))
        if text:
            _speak(out, text, usage_info(response))
    spoken: list[str] = []
    for call in calls:
        used += 1
        outcome = await _run_one_tool(ctx, out, call, used > limit, spoken)
        content = result_text(outcome)
        out.messages.append(
            ChatMessage(
                role="tool", content=content, tool_call_id=call.id, name=call.name
            )
        )
        if ctx.speaks:
            out.history.append(
                {
                    "type": "tool",
                    "content": content,
                    "tool_call_id": call.id,
                    "name": call.name,
                }
            )
    for text_spoken in spoken:
        out.messages.append(ChatMessage(role="assistant", content=text_spoken))
        out.history.append({"type": "ai", "content": text_spoken})
    return used


def _finish(
    ctx: _Ctx, out: _Main, response: ChatResponse, text: str, event: JsonDict
) -> None:
    out.final, out.final_event, out.text = response, event, text
    if ctx.speaks and text:
        _speak(out, text, usage_info(response))
        out.history.append(_ai_message(text))


async def _main_flow(ctx: _Ctx, out: _Main) -> None:
    limit = max(0, int(ctx.task.node.get("max_consecutive_tool_calls") or 0))
    schema = None if ctx.kind == SAY else ctx.schema
    offered, used = ctx.offered, 0
    while True:
        allow_user = bool(offered.user) and used < limit
        specs = (
            *(offered.user_specs if allow_user else ()),
            *offered.destination_specs,
        )
        response = await ctx.log.call(
            out.messages,
            tools=specs,
            tool_choice="auto",
            response_schema=schema,
            purpose="node",
        )
        calls = response.tool_calls
        text = "" if drop_content(ctx.task, offered, calls) else response.content
        event = _llm_event(ctx, _ai_message(text, calls), response)
        out.events.append(event)
        chosen = next((c for c in calls if c.name in offered.destinations), None)
        if chosen is not None:
            out.destination = offered.destinations[chosen.name]
            out.destination_args = dict(chosen.arguments)
            _finish(ctx, out, response, text, event)
            return
        if not (allow_user and calls):
            _finish(ctx, out, response, text, event)
            return
        used = await _tool_turn(ctx, out, response, text, used, limit)


async def _safe_main(ctx: _Ctx, out: _Main) -> None:
    try:
        await _main_flow(ctx, out)
    except LLMError as exc:
        out.failure = exc.message


# --- independent evaluations -------------------------------------------------


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "yes", "1"}
    return bool(value)


def _read_verdict(content: str) -> tuple[bool, str, JsonDict]:
    value, _ = parse_object(content, {"type": "object"})
    if value is not None:
        args = value.get("args")
        return (
            _truthy(value.get("is_condition_met")),
            str(value.get("message") or ""),
            args if isinstance(args, dict) else {},
        )
    head = content.strip().lower()
    return head.startswith(("yes", "true")), content.strip(), {}


async def _judge(ctx: _Ctx, destination: Destination) -> _Verdict:
    event: JsonDict = {
        "type": "condition_evaluator_llm",
        "destination_node_logical_id": destination.node_logical_id,
    }
    try:
        response = await ctx.log.call(
            prompts.judge_messages(ctx.task, destination, ctx.max_recent),
            response_schema=prompts.judge_schema(destination),
            purpose="condition",
        )
    except LLMError as exc:
        reason = f"evaluation failed: {exc.message}"
        event.update(is_condition_met=False, message=None, justification=reason)
        event["llm_usage_info"] = None
        return _Verdict(destination, False, reason, {}, event)
    met, reason, args = _read_verdict(response.content)
    event.update(
        is_condition_met=met,
        message=_ai_message(response.content),
        justification=reason,
        llm_usage_info=usage_info(response),
    )
    return _Verdict(destination, met, reason, args, event)


def _winner_args(verdict: _Verdict) -> JsonDict:
    if verdict.destination.args_schema:
        return dict(verdict.args)
    return {"justification": verdict.reason}


# --- structured output -------------------------------------------------------


async def _parse_with_retries(
    ctx: _Ctx,
    messages: list[ChatMessage],
    response: ChatResponse,
    event: JsonDict,
    events: list[JsonDict],
) -> tuple[JsonDict | None, str | None]:
    assert ctx.schema is not None
    failed: list[JsonDict] = []
    retries = 0
    while True:
        value, error = parse_object(response.content, ctx.schema)
        if value is not None:
            break
        failed.append(
            {
                "attempt_number": retries + 1,
                "error_message": error,
                "latency_milliseconds": round(response.latency_ms),
            }
        )
        if retries >= ctx.parse_retries:
            break
        retries += 1
        messages = [
            *messages,
            ChatMessage(role="assistant", content=response.content),
            ChatMessage(
                role="user", content=prompts.parse_retry_instruction(str(error))
            ),
        ]
        response = await ctx.log.call(
            messages, response_schema=ctx.schema, purpose="structured_output_retry"
        )
        event = _llm_event(
            ctx, _ai_message(response.content, purpose="structured_output"), response
        )
        events.append(event)
    if failed:
        event["llm_usage_info"]["structured_output_retry_metadata"] = retry_metadata(
            retries, failed
        )
    return value, error


async def _structured(
    ctx: _Ctx, out: _Main, events: list[JsonDict]
) -> tuple[JsonDict | None, str | None]:
    """The structured output of a successful main flow (LLMError propagates)."""
    assert ctx.schema is not None
    assert out.final is not None
    envelope = ctx.task.node.get("structured_output_schema") or {}
    messages = list(out.messages)
    first, event = out.final, out.final_event
    if ctx.kind == SAY or not out.final.content.strip():
        if out.text:
            messages.append(ChatMessage(role="assistant", content=out.text))
        messages.append(
            ChatMessage(role="user", content=prompts.structured_instruction(envelope))
        )
        first = await ctx.log.call(
            messages, response_schema=ctx.schema, purpose="structured_output"
        )
        event = _llm_event(
            ctx, _ai_message(first.content, purpose="structured_output"), first
        )
        events.append(event)
    assert event is not None
    return await _parse_with_retries(ctx, messages, first, event, events)


# --- assembling the result ---------------------------------------------------


def _fail(ctx: _Ctx, result: NodeResult, reason: str, *, spoken: bool) -> None:
    node = ctx.task.node
    default = node.get("default_error_message")
    if ctx.kind == SAY:
        if default and not spoken:
            text = prompts.render_text(str(default), ctx.task)
            result.events.append(
                {
                    "type": "assistant_response",
                    "content": text,
                    "response_metadata": {"message_type": "error", "error": reason},
                    "llm_usage_info": None,
                }
            )
            result.history.append(_ai_message(text))
        else:
            result.events.append(
                _warning(f"LLM node {node.get('logical_id')}: {reason}")
            )
        return
    if default:
        result.events.append(_warning(f"LLM node {node.get('logical_id')}: {reason}"))
        result.output["error"] = reason
        return
    result.error = f"LLM node {node.get('logical_id')} failed: {reason}"


def _outputs(
    ctx: _Ctx, result: NodeResult, text: str, value: JsonDict | None, *, write: bool
) -> None:
    structured = value or {}
    result.output["structured_output"] = structured
    result.variables.update(structured)
    if ctx.kind == SAY:
        return
    result.output["free_form_output"] = text
    if ctx.kind == EVALUATOR and write:
        name = ctx.task.node.get("output_runtime_variable_name")
        if name:
            result.variables[str(name)] = value if ctx.schema is not None else text


async def _complete(ctx: _Ctx, out: _Main, result: NodeResult) -> None:
    result.events.extend(out.events)
    result.history.extend(out.history)
    if out.failure is not None:
        _outputs(ctx, result, "", None, write=False)
        _fail(ctx, result, out.failure, spoken=False)
        return
    value: JsonDict | None = None
    if ctx.schema is not None:
        try:
            value, error = await _structured(ctx, out, result.events)
        except LLMError as exc:
            value, error = None, exc.message
        if value is None:
            _fail(ctx, result, f"no valid structured output: {error}", spoken=True)
    _outputs(
        ctx, result, out.text, value, write=value is not None or ctx.schema is None
    )


def _discard(out: _Main, result: NodeResult) -> None:
    event: JsonDict = {
        "type": "discarded_main_llm",
        "reason": "global_condition_matched",
    }
    event["message"] = (out.final_event or {}).get("message")
    event["llm_usage_info"] = usage_info(out.final) if out.final is not None else None
    result.events.append(event)
    result.output["structured_output"] = {}


async def _execute(task: NodeTask, ports: Ports, kind: str) -> NodeResult:
    ctx = _context(task, ports, kind)
    result = NodeResult()
    out = _Main(messages=_initial_messages(ctx, result.events))
    judged = (
        list(task.destinations)
        if task.routing_method == "independent_llm_evaluations"
        and not task.tools_disabled
        else []
    )
    _, verdicts = await asyncio.gather(
        _safe_main(ctx, out), asyncio.gather(*(_judge(ctx, d) for d in judged))
    )
    winner = next((v for v in verdicts if v.met), None)
    result.variables.update(out.variables)
    result.workflow_variables.update(out.workflow_variables)
    if winner is not None and winner.destination.kind == "global":
        result.events.extend(v.event for v in verdicts)
        _discard(out, result)
    else:
        await _complete(ctx, out, result)
        result.events.extend(v.event for v in verdicts)
    if out.destination is not None:
        result.destination = out.destination.node_logical_id
        result.destination_args = out.destination_args
    elif winner is not None:
        result.destination = winner.destination.node_logical_id
        result.destination_args = _winner_args(winner)
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
