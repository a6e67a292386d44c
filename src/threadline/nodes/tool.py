"""The ``tool_node`` node: run one tool deterministically, and the runner seam.

Behaviour:

* ``tool_arguments`` are rendered with the scope (nested values too); with
  ``preserve_argument_types`` a value that is exactly one placeholder becomes the
  native value (None when unresolved). ``variable_arguments`` bindings apply on top.
* The result variable name follows §4.4: the node's ``result_runtime_variable_name``
  if changed from ``"tool_result"``, else the tool's, else ``"tool_result"``.
* Writes ``<name>`` (None when the tool itself failed), ``<name>_success`` and
  ``<name>_error``, plus the tool's result mappings / expansion (thread and
  workflow scope).
* Run output ``{success, tool_result, error_message}``; no node-specific event.

Errors never stop the run: a tool failure, a missing ``tool_config`` or an
unsupported tool type is reported through ``<name>_success=False`` / ``<name>_error``
and ``error_message``; a missing ``tool_config``, and a call stopped by an operator's
ceiling (no free tool slot in time: ``capacity``; a template past its render limits:
``template_limit``), also emit a ``workflow_warning``.

Ports used beyond :class:`~threadline.nodes.base.Ports`' declared fields (read with
``getattr`` until ``Ports`` declares them): ``http_transport`` (an httpx transport for
``external_api`` tools, tests) and ``retriever`` (``knowledge_base`` tools).
"""

from typing import Any

import httpx

from threadline.engine.steps import NodeResult, NodeTask
from threadline.engine.templates import render_value
from threadline.nodes.base import Ports
from threadline.tools.knowledge import Retriever
from threadline.tools.limits import SERVER_LIMITS
from threadline.tools.runner import ToolRunner, scope_vars

__all__ = [
    "DEFAULT_RESULT_VARIABLE",
    "execute_tool_node",
    "http_transport",
    "result_variable_name",
    "tool_runner",
]

DEFAULT_RESULT_VARIABLE = "tool_result"


def http_transport(ports: Ports) -> httpx.AsyncBaseTransport | None:
    """The HTTP transport override on ``ports`` (None: the real network)."""
    transport: Any = getattr(ports, "http_transport", None)
    return transport if isinstance(transport, httpx.AsyncBaseTransport) else None


def tool_runner(ports: Ports) -> ToolRunner:
    """A runner wired to the ports' retriever, HTTP transport, ceilings and slots."""
    retriever: Retriever | None = getattr(ports, "retriever", None)
    return ToolRunner(
        retriever=retriever,
        transport=http_transport(ports),
        ceilings=ports.tool_ceilings,
        slots=ports.tool_slots,
        team_id=ports.team_id,
        vendors=ports.vendors,
    )


def result_variable_name(node: dict[str, Any]) -> str:
    """§4.4: the node's name if changed from the default, else the tool's."""
    chosen = node.get("result_runtime_variable_name")
    if chosen and chosen != DEFAULT_RESULT_VARIABLE:
        return str(chosen)
    from_tool = (node.get("tool_config") or {}).get("result_runtime_variable_name")
    return str(from_tool or DEFAULT_RESULT_VARIABLE)


async def execute_tool_node(task: NodeTask, ports: Ports) -> NodeResult:
    """Run the node's tool with its rendered arguments."""
    node = task.node
    name = result_variable_name(node)
    config = node.get("tool_config")
    result = NodeResult()
    if not config:
        label = node.get("name") or node.get("logical_id")
        error = f"tool_node {label!r} has no tool_config"
        result.events.append({"type": "workflow_warning", "warning_message": error})
        result.variables = {
            name: None,
            f"{name}_success": False,
            f"{name}_error": error,
        }
        result.output = {"success": False, "tool_result": None, "error_message": error}
        return result
    args = render_value(
        node.get("tool_arguments") or {},
        **scope_vars(task.scope),
        preserve_types=bool(node.get("preserve_argument_types")),
    )
    outcome = await tool_runner(ports).run(
        config,
        args,
        task.scope,
        secret_values=ports.secret_values,
        http_allow_private=ports.http_allow_private,
    )
    if outcome.error_type in SERVER_LIMITS:  # not the tool's own failure
        label = config.get("name") or config.get("type")
        result.events.append(
            {
                "type": "workflow_warning",
                "warning_message": f"tool {label!r}: {outcome.error}",
            }
        )
    result.variables = outcome.result_variables(name)
    result.workflow_variables = dict(outcome.workflow_variables)
    result.output = {
        "success": outcome.success,
        "tool_result": outcome.result,
        "error_message": outcome.error,
    }
    return result
