"""The main flow of an LLM node: the react loop (step 4 of :mod:`threadline.nodes.llm`).

The model is called with the offered functions; user tool calls are run and their
results fed back until the model answers without one, calls a destination
function, or the ``max_consecutive_tool_calls`` budget is spent.

Backchannel (say nodes with an ``llm_group_with_backchannel`` config, see
``providers.groups_backchannel``): each model call of the loop races its patience
window; a filler produced before the answer is spoken first: for an LLM filler a
``say_llm`` event (its ``llm_usage_info``, call in accounting, ``purpose``
``backchannel``, prompt ``backchannel_response_config.prompt``, node's else the
workflow's), then ``assistant_response`` with ``message_type: "backchannel"``, and
an ``ai`` history message. A failed filler call is a ``workflow_warning`` only.
"""

from threadline.nodes.llm_calls import usage_info
from threadline.nodes.llm_context import (
    SAY,
    JsonDict,
    LLMContext,
    MainOutput,
    ai_message,
    backchannel_prompt,
    llm_event,
    speak,
    warning,
)
from threadline.nodes.llm_tools import (
    ToolOutcome,
    drop_content,
    result_text,
    run_tool,
    static_message,
)
from threadline.nodes.mcp_tools import MCP_TYPE
from threadline.providers.base import (
    ChatMessage,
    ChatResponse,
    LLMError,
    ToolCall,
    ToolSpec,
)
from threadline.providers.groups_backchannel import Backchannel, race
from threadline.tools.limits import SERVER_LIMITS

__all__ = ["run_main_flow"]


async def _run_one_tool(
    ctx: LLMContext,
    out: MainOutput,
    call: ToolCall,
    over_budget: bool,
    spoken: list[str],
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
            speak(out, text, None, {"message_type": "static", "tool_name": call.name})
            spoken.append(text)
    if tool.get("type") == MCP_TYPE and ctx.mcp is not None:
        done = await ctx.mcp.call(tool, call, ctx.task)
        outcome = ToolOutcome(
            success=bool(done.get("success")),
            result=done.get("result"),
            error=done.get("error"),
        )
    else:
        outcome = await run_tool(ctx.runner, tool, call, ctx.task)
    if outcome.error_type in SERVER_LIMITS:  # not the tool's own failure
        out.events.append(warning(f"tool {call.name!r}: {outcome.error}"))
    if outcome.success:
        name = str(tool.get("result_runtime_variable_name") or "tool_result")
        out.variables[name] = outcome.result
    out.variables.update(outcome.variables)
    out.workflow_variables.update(outcome.workflow_variables)
    return outcome


async def _tool_turn(
    ctx: LLMContext,
    out: MainOutput,
    response: ChatResponse,
    text: str,
    used: int,
    limit: int,
) -> int:
    calls = response.tool_calls
    out.messages.append(ChatMessage(role="assistant", content=text, tool_calls=calls))
    if ctx.speaks:
        out.history.append(ai_message(text, calls))
        if text:
            speak(out, text, usage_info(response))
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
    ctx: LLMContext, out: MainOutput, response: ChatResponse, text: str, event: JsonDict
) -> None:
    out.final, out.final_event, out.text = response, event, text
    if ctx.speaks and text:
        speak(out, text, usage_info(response))
        out.history.append(ai_message(text))


def _previous_fillers(ctx: LLMContext, out: MainOutput) -> int:
    spoken = (*ctx.task.history, *out.history)
    return sum(
        1
        for m in spoken
        if (m.get("response_metadata") or {}).get("message_type") == "backchannel"
    )


async def _filler(
    ctx: LLMContext, out: MainOutput, plan: Backchannel, spoken: list[str]
) -> None:
    usage: JsonDict | None = None
    if plan.static_responses:
        text = plan.pick_static(_previous_fillers(ctx, out)).strip()
    else:
        messages = [ChatMessage(role="system", content=backchannel_prompt(ctx.task))]
        messages.extend(m for m in out.messages if m.role != "system")
        try:
            response = await ctx.log.call(
                messages, purpose="backchannel", llm_config=plan.llm_config
            )
        except LLMError as exc:
            out.events.append(warning(f"backchannel filler failed: {exc.message}"))
            return
        text, usage = response.content.strip(), usage_info(response)
        message = ai_message(text, message_type="backchannel")
        out.events.append(llm_event(ctx, message, response))
    if text:
        speak(out, text, usage, {"message_type": "backchannel"})
        out.history.append(ai_message(text, message_type="backchannel"))
        spoken.append(text)


async def _call_model(
    ctx: LLMContext,
    out: MainOutput,
    specs: tuple[ToolSpec, ...],
    schema: JsonDict | None,
) -> tuple[ChatResponse, bool]:
    """One model call of the loop (raced by a backchannel); whether one was spoken."""
    call = ctx.log.call(
        out.messages,
        tools=specs,
        tool_choice="auto",
        response_schema=schema,
        purpose="node",
    )
    plan = ctx.backchannel
    if plan is None:
        return await call, False
    spoken: list[str] = []
    response = await race(
        call, lambda: _filler(ctx, out, plan, spoken), plan.patience_ms
    )
    return response, bool(spoken)


async def _main_flow(ctx: LLMContext, out: MainOutput) -> None:
    limit = max(0, int(ctx.task.node.get("max_consecutive_tool_calls") or 0))
    schema = None if ctx.kind == SAY else ctx.schema
    offered, used = ctx.offered, 0
    while True:
        allow_user = bool(offered.user) and used < limit
        specs = (
            *(offered.user_specs if allow_user else ()),
            *offered.destination_specs,
        )
        response, after_filler = await _call_model(ctx, out, specs, schema)
        calls = response.tool_calls
        text = "" if drop_content(ctx.task, offered, calls) else response.content
        if ctx.backchannel is not None:
            text = ctx.backchannel.main_text(text, after_filler=after_filler)
        event = llm_event(ctx, ai_message(text, calls), response)
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


async def run_main_flow(ctx: LLMContext, out: MainOutput) -> None:
    """Run the react loop; an ``LLMError`` becomes ``out.failure``."""
    try:
        await _main_flow(ctx, out)
    except LLMError as exc:
        out.failure = exc.message
