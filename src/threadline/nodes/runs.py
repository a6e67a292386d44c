"""The ``workflow_run_fetch`` node: load a stored run (evaluation workflows).

``workflow_run_id`` (default ``"{{workflow_run_id}}"``) is rendered with the scope and
read through ``ports.runs`` (the caller's team only). Writes
``<result_runtime_variable_name>`` (default ``workflow_run_object``: the run as a
dict, None when not found), ``<name>_success`` and ``<name>_error``; run output
``{fetched_workflow_run}`` is the run as a JSON string (None when not found).

Errors never stop the run: no run reader configured (also a ``workflow_warning``), an
id left empty or unresolved by rendering, an unknown run or a reader failure all give
``<name>_success=False`` with the reason in ``<name>_error``.
"""

import json
from typing import Any

from threadline.engine.steps import NodeResult, NodeTask
from threadline.engine.templates import find_placeholders, render
from threadline.nodes.base import Ports
from threadline.tools.runner import redact, scope_vars

__all__ = ["NO_RUN_READER_MESSAGE", "execute_workflow_run_fetch"]

NO_RUN_READER_MESSAGE = (
    "workflow_run_fetch needs a run reader: configure Ports.runs (the service's "
    "stored-run access for the caller's team)"
)


async def _fetch(
    task: NodeTask, ports: Ports
) -> tuple[dict[str, Any] | None, str | None]:
    if ports.runs is None:
        return None, NO_RUN_READER_MESSAGE
    raw = str(task.node.get("workflow_run_id") or "{{workflow_run_id}}")
    run_id = render(raw, **scope_vars(task.scope)).strip()
    if not run_id or find_placeholders(run_id):
        return (
            None,
            f"workflow_run_fetch: workflow_run_id {raw!r} resolved to no run id",
        )
    try:
        run = await ports.runs.get_run(run_id)
    except Exception as exc:
        message = f"workflow_run_fetch: reading run {run_id!r} failed: {exc}"
        return None, redact(message, ports.secret_values)
    if run is None:
        return None, f"workflow_run_fetch: no workflow run {run_id!r} found"
    return run, None


async def execute_workflow_run_fetch(task: NodeTask, ports: Ports) -> NodeResult:
    """Fetch the run and store it in a runtime variable."""
    name = str(task.node.get("result_runtime_variable_name") or "workflow_run_object")
    run, error = await _fetch(task, ports)
    result = NodeResult()
    if error == NO_RUN_READER_MESSAGE:
        result.events.append({"type": "workflow_warning", "warning_message": error})
    result.variables = {
        name: run,
        f"{name}_success": error is None,
        f"{name}_error": error,
    }
    fetched = None if run is None else json.dumps(run, ensure_ascii=False, default=str)
    result.output = {"fetched_workflow_run": fetched}
    return result
