"""The main flow of an LLM node: the react loop (step 4 of :mod:`threadline.nodes.llm`).

The model is called with the offered functions; user tool calls are run and their
results fed back until the model answers without one, calls a destination
function, or the ``max_consecutive_tool_calls`` budget is spent.
"""

from threadline.nodes.llm_calls import usage_info
from threadline.nodes.llm_context import (
    SAY,
    JsonDict,
    LLMContext,
    MainOutput,
    ai_message,
    llm_event,
    speak,
)
from threadline.nodes.llm_tools import (
    ToolOutcome,
    drop_content,
    result_text,
    run_tool,
    static_message,
)
from threadline.providers.base import ChatMessage, ChatResponse, LLMError, ToolCall

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
    outcome = await run_tool(ctx.runner, tool, call, ctx.task)
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
        response = await ctx.log.call(
            out.messages,
            tools=specs,
            tool_choice="auto",
            response_schema=schema,
            purpose="node",
        )
        calls = response.tool_calls
        text = "" if drop_content(ctx.task, offered, calls) else response.content
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
