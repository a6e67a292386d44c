"""The state of one LLM node run, and the event/message dicts it emits.

:class:`LLMContext` is what every step of a run reads (config, call log, tool
runner, offered functions, limits, structured-output schema); :class:`MainOutput`
is what the main flow (the react loop, ``llm_loop``) produces. The numbered steps
these serve are described in :mod:`threadline.nodes.llm`.
"""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from threadline.engine.steps import Destination, NodeTask
from threadline.nodes import prompts
from threadline.nodes.base import Ports
from threadline.nodes.chat_history import history_messages
from threadline.nodes.llm_calls import CallLog, usage_info
from threadline.nodes.llm_tools import (
    Offered,
    ToolRunner,
    offered_tools,
    runner_for,
)
from threadline.providers.base import ChatMessage, ChatResponse, ToolCall
from threadline.providers.groups_backchannel import (
    DEFAULT_BACKCHANNEL_PROMPT,
    Backchannel,
)
from threadline.providers.router import primary_config

__all__ = [
    "EVALUATOR",
    "SAY",
    "WORKER",
    "JsonDict",
    "LLMContext",
    "MainOutput",
    "ai_message",
    "backchannel_prompt",
    "build_context",
    "initial_messages",
    "llm_config_for",
    "llm_event",
    "speak",
    "structured_schema",
    "warning",
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


def structured_schema(envelope: Any) -> JsonDict | None:
    """The object schema of a ``structured_output_schema`` envelope (or bare schema)."""
    if not isinstance(envelope, dict) or not envelope:
        return None
    inner = envelope.get("input_schema")
    if isinstance(inner, dict):
        return inner
    return envelope if envelope.get("type") == "object" else None


@dataclass
class LLMContext:
    """What every step of one LLM node run reads."""

    task: NodeTask
    kind: str
    log: CallLog
    runner: ToolRunner
    offered: Offered
    max_recent: int | None
    parse_retries: int
    schema: JsonDict | None
    backchannel: Backchannel | None = None
    """Say nodes with an ``llm_group_with_backchannel`` config (``llm_loop``)."""
    mcp: Any = None
    """The run's MCP servers when the node offers their tools (``mcp_tools``)."""

    @property
    def speaks(self) -> bool:
        return self.kind == SAY

    @property
    def event_type(self) -> str:
        return SAY if self.kind == SAY else WORKER


@dataclass
class MainOutput:
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


def ai_message(
    text: str, calls: tuple[ToolCall, ...] = (), **metadata: Any
) -> JsonDict:
    """An ``ai`` message dict (history and event ``message``)."""
    message: JsonDict = {"type": "ai", "content": text}
    if calls:
        message["tool_calls"] = [
            {"name": c.name, "args": dict(c.arguments), "id": c.id, "type": "tool_call"}
            for c in calls
        ]
    if metadata:
        message["response_metadata"] = metadata
    return message


def llm_event(ctx: LLMContext, message: JsonDict, response: ChatResponse) -> JsonDict:
    """The ``say_llm`` / ``worker_llm`` event of one model call."""
    return {
        "type": ctx.event_type,
        "message": message,
        "llm_usage_info": usage_info(response),
    }


def speak(
    out: MainOutput, text: str, usage: JsonDict | None, metadata: JsonDict | None = None
) -> None:
    """Emit ``assistant_response`` for ``text`` (say nodes only call this)."""
    out.events.append(
        {
            "type": "assistant_response",
            "content": text,
            "response_metadata": metadata or {"message_type": "llm"},
            "llm_usage_info": usage,
        }
    )


def warning(message: str) -> JsonDict:
    """A ``workflow_warning`` event."""
    return {"type": "workflow_warning", "warning_message": message}


def _main_group(config: JsonDict) -> JsonDict:
    if config.get("type") == "llm_group_with_backchannel":
        return dict(config.get("main_llm_config") or config)
    return config


def backchannel_prompt(task: NodeTask) -> str:
    """The node's ``backchannel_response_config.prompt``, else the workflow's."""
    for owner in (task.node, task.workflow):
        prompt = (owner.get("backchannel_response_config") or {}).get("prompt")
        if prompt:
            return prompts.render_text(str(prompt), task)
    return DEFAULT_BACKCHANNEL_PROMPT


def _streamer(
    task: NodeTask, ports: Ports, config: JsonDict, kind: str
) -> Callable[[str], Awaitable[None]] | None:
    """Forward a speaking node's text deltas to ``ports.stream`` when it streams."""
    sink = ports.stream
    if sink is None or kind != SAY or not config.get("streaming"):
        return None

    async def forward(delta: str) -> None:
        await sink(
            {
                "type": "assistant_response_delta",
                "origin_thread_id": task.thread_id,
                "origin_node_logical_id": task.node.get("logical_id"),
                "content": delta,
            }
        )

    return forward


def build_context(task: NodeTask, ports: Ports, kind: str) -> LLMContext:
    """The context of one run of ``task`` as a node of ``kind``."""
    config = llm_config_for(task)
    primary = primary_config(config)
    retries = primary.get("max_parse_retries")
    max_recent = primary.get("truncated_max_recent_messages")
    return LLMContext(
        task=task,
        kind=kind,
        # A backchannel group: the node speaks the filler itself (llm_loop), so
        # every call of the node goes to the main group.
        log=CallLog(
            ports.llm,
            _main_group(config),
            on_text=_streamer(task, ports, primary, kind),
        ),
        runner=runner_for(ports),
        offered=offered_tools(task),
        max_recent=int(max_recent) if max_recent is not None else None,
        parse_retries=3 if retries is None else max(0, int(retries)),
        schema=structured_schema(task.node.get("structured_output_schema")),
        backchannel=Backchannel.from_config(config) if kind == SAY else None,
    )


def initial_messages(ctx: LLMContext, warnings: list[JsonDict]) -> list[ChatMessage]:
    """System prompt, history and (evaluator) the input to evaluate."""
    messages: list[ChatMessage] = []
    system = prompts.system_prompt(ctx.task)
    if system:
        messages.append(ChatMessage(role="system", content=system))
    messages.extend(history_messages(ctx.task.history, ctx.max_recent))
    if ctx.kind == EVALUATOR:
        name = str(ctx.task.node.get("input_runtime_variable_name") or "")
        value = ctx.task.scope.runtime.get(name) if name else None
        if value is None:
            warnings.append(warning(f"runtime variable {name!r} to evaluate is empty"))
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            messages.append(
                ChatMessage(role="user", content=f"Workflow run to evaluate:\n{text}")
            )
    return messages
