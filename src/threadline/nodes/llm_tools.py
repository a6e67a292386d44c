"""Functions offered to an LLM node: user tools (run through a ``ToolRunner``) and
``Destination_Node__<id>`` routing functions.

User tools are the node's ``tools_config.tools`` then the workflow's (a workflow tool
whose function name a node tool already uses is skipped). A tool's function name is
its ``name``, else the inbuilt tool's name, else ``tool_id``/``logical_id``, made
wire-safe (``[A-Za-z0-9_-]``, at most 64 characters). The description the model
sees is ``signature``, else ``description``; the parameters are ``args_schema``,
else the inbuilt schema, else (knowledge base) ``{query, justification}``, else an
empty object; arguments bound with ``expose_to_llm=false`` are removed.

Executing a tool is not this module's business: ``runner_for(ports)`` returns
``ports.tools`` when set (a ``ToolRunner``; an optional attribute ``Ports`` gains
later, read with ``getattr``; tests put fakes there), else an adapter over the
project's ``threadline.tools.runner.ToolRunner`` built like ``tool_node`` builds it
(``nodes.tool.tool_runner``: ``ports.retriever``, ``ports.http_transport``). The
runner owns argument binding (``variable_arguments``), the sandbox / HTTP call and
result mappings, and reports them in ``ToolOutcome``.
"""

import copy
import json
import random
import re
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from threadline.engine.steps import Destination, NodeTask
from threadline.nodes.base import Ports
from threadline.nodes.prompts import render_text
from threadline.nodes.tool import tool_runner as node_tool_runner
from threadline.providers.base import ToolCall, ToolSpec
from threadline.tools.inbuilt import INBUILT_TOOLS

JsonDict = dict[str, Any]
IGNORE_CONTENT = "ignore_content_received_during_llm_tool_call_specification"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_KB_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": "What to search for."},
        "justification": {"type": "string", "description": "Why the search helps."},
    },
    "required": ["query"],
}
_JUSTIFICATION: JsonDict = {
    "type": "object",
    "properties": {
        "justification": {
            "type": "string",
            "description": "Why this condition holds for the conversation.",
        }
    },
    "required": ["justification"],
}


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What running one tool produced."""

    success: bool
    result: Any = None
    error: str | None = None
    variables: JsonDict = field(default_factory=dict)
    """Extra thread-scope writes (result mappings, expansion)."""
    workflow_variables: JsonDict = field(default_factory=dict)
    """Extra run-wide writes (mappings with ``scope: workflow``)."""
    error_type: str | None = None
    """The runner's classification of a failure (``capacity``, ``timeout``...)."""


class ToolRunner(Protocol):
    """Runs a tool the model called (``ports.tools``)."""

    async def run(
        self, tool: JsonDict, args: JsonDict, task: NodeTask
    ) -> ToolOutcome: ...


class _PortsToolRunner:
    """``ToolRunner`` over ``threadline.tools.runner`` (the production path)."""

    def __init__(self, ports: Ports) -> None:
        self._ports = ports
        self._runner = node_tool_runner(ports)

    async def run(self, tool: JsonDict, args: JsonDict, task: NodeTask) -> ToolOutcome:
        outcome = await self._runner.run(
            tool,
            args,
            task.scope,
            secret_values=self._ports.secret_values,
            http_allow_private=self._ports.http_allow_private,
        )
        return ToolOutcome(
            success=outcome.success,
            result=outcome.result,
            error=outcome.error,
            variables=dict(outcome.variables),
            workflow_variables=dict(outcome.workflow_variables),
            error_type=outcome.error_type,
        )


def runner_for(ports: Ports) -> ToolRunner:
    """``ports.tools`` when the shell provides one, else the standard runner."""
    runner = getattr(ports, "tools", None)
    if runner is not None and hasattr(runner, "run"):
        return cast(ToolRunner, runner)
    return _PortsToolRunner(ports)


def function_name(tool: JsonDict) -> str:
    """The wire-safe function name of a tool config."""
    inbuilt = INBUILT_TOOLS.get(str(tool.get("tool_id") or ""))
    raw = (
        tool.get("name")
        or (inbuilt.tool_id if inbuilt else None)
        or tool.get("tool_id")
        or tool.get("logical_id")
        or "tool"
    )
    return (_UNSAFE.sub("_", str(raw)) or "tool")[:64]


def _parameters(tool: JsonDict) -> JsonDict:
    inbuilt = INBUILT_TOOLS.get(str(tool.get("tool_id") or ""))
    schema = tool.get("args_schema") or (inbuilt.args_schema if inbuilt else None)
    if schema is None and tool.get("type") == "knowledge_base":
        schema = _KB_SCHEMA
    schema = copy.deepcopy(schema) if schema else {"type": "object", "properties": {}}
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})
    hidden = {
        b.get("argument_name")
        for b in tool.get("variable_arguments") or []
        if not b.get("expose_to_llm", False)
    }
    if hidden:
        schema["properties"] = {
            k: v for k, v in schema["properties"].items() if k not in hidden
        }
        if "required" in schema:
            schema["required"] = [r for r in schema["required"] if r not in hidden]
    return schema


def user_tool_spec(tool: JsonDict, task: NodeTask) -> ToolSpec:
    """The function a user tool is offered as (description rendered)."""
    inbuilt = INBUILT_TOOLS.get(str(tool.get("tool_id") or ""))
    if tool.get("type") == "mcp":  # the server's own words, never a template
        return ToolSpec(
            name=function_name(tool),
            description=str(tool.get("description") or ""),
            parameters=_parameters(tool),
        )
    description = (
        tool.get("signature")
        or tool.get("description")
        or (inbuilt.signature if inbuilt else None)
        or function_name(tool)
    )
    return ToolSpec(
        name=function_name(tool),
        description=render_text(str(description), task),
        parameters=_parameters(tool),
    )


def destination_spec(destination: Destination) -> ToolSpec:
    """The ``Destination_Node__<id>`` function of a routing candidate."""
    schema = copy.deepcopy(destination.args_schema) or copy.deepcopy(_JUSTIFICATION)
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})
    return ToolSpec(
        name=destination.tool_name,
        description=destination.condition,
        parameters=schema,
    )


@dataclass(frozen=True, slots=True)
class Offered:
    """Everything a node run may offer the model."""

    user: dict[str, JsonDict]
    user_specs: tuple[ToolSpec, ...]
    destinations: dict[str, Destination]
    destination_specs: tuple[ToolSpec, ...]


def offered_tools(task: NodeTask) -> Offered:
    """User tools and, in ``tool_call`` mode, destinations (none when disabled)."""
    if task.tools_disabled:
        return Offered({}, (), {}, ())
    user: dict[str, JsonDict] = {}
    node_tools = (task.node.get("tools_config") or {}).get("tools") or []
    wf_tools = (task.workflow.get("tools_config") or {}).get("tools") or []
    for tool in [*node_tools, *wf_tools]:
        user.setdefault(function_name(tool), tool)
    destinations: dict[str, Destination] = {}
    if task.routing_method == "tool_call":
        for d in task.destinations:
            destinations.setdefault(d.tool_name, d)
    return Offered(
        user=user,
        user_specs=tuple(user_tool_spec(t, task) for t in user.values()),
        destinations=destinations,
        destination_specs=tuple(destination_spec(d) for d in destinations.values()),
    )


def with_tools(offered: Offered, extra: dict[str, JsonDict], task: NodeTask) -> Offered:
    """``offered`` plus ``extra`` user tools (MCP tools), after the node's own."""
    if not extra:
        return offered
    user = {**offered.user, **{k: v for k, v in extra.items() if k not in offered.user}}
    added = tuple(user_tool_spec(t, task) for k, t in user.items() if k in extra)
    return Offered(
        user=user,
        user_specs=(*offered.user_specs, *added),
        destinations=offered.destinations,
        destination_specs=offered.destination_specs,
    )


def drop_content(task: NodeTask, offered: Offered, calls: tuple[ToolCall, ...]) -> bool:
    """§4.6: drop the text sent alongside ``calls``."""
    if not calls:
        return False
    if task.node.get(IGNORE_CONTENT) or task.workflow.get(IGNORE_CONTENT):
        return True
    tools = [offered.user.get(c.name) for c in calls]
    return all(t is not None and bool(t.get(IGNORE_CONTENT)) for t in tools)


async def run_tool(
    runner: ToolRunner, tool: JsonDict, call: ToolCall, task: NodeTask
) -> ToolOutcome:
    """Run one call; an exception from the runner is a failed outcome."""
    try:
        return await runner.run(tool, dict(call.arguments), task)
    except AssertionError:
        raise
    except Exception as exc:
        return ToolOutcome(success=False, error=f"{type(exc).__name__}: {exc}")


def result_text(outcome: ToolOutcome) -> str:
    """The tool message content the model reads."""
    if not outcome.success:
        return f"Error: {outcome.error or 'the tool failed'}"
    if isinstance(outcome.result, str):
        return outcome.result
    return json.dumps(outcome.result, default=str)


def static_message(tool: JsonDict, task: NodeTask, call: ToolCall) -> str | None:
    """The message spoken while ``tool`` runs, if it has any (rendered)."""
    config = tool.get("static_messages_config") or {}
    messages = [m for m in config.get("static_messages") or [] if m]
    if not messages:
        return None
    if config.get("static_messages_selection_mode") == "sequence":
        text = messages[(task.node_run_id - 1) % len(messages)]
    else:
        seed = f"{task.thread_id}:{task.node_run_id}:{call.id}"
        text = random.Random(seed).choice(messages)
    return render_text(str(text), task)
