"""Test-executing a tool outside any run: ``POST /v1/tools[/{id}]/execute``.

A saved tool of the caller's team (another team's id is a 404, like a missing one)
or an inline tool config (validated exactly like ``POST /v1/tools``) runs once through
the same :class:`~threadline.tools.runner.ToolRunner` a ``tool_node`` uses, with the
deployment's ``Runtime`` (``http_allow_private``, ``http_transport``, ``retriever``).

Request body: ``{"args": {...}, "confirm": false, "dynamic_variables": {...},
"runtime_variables": {...}}`` (inline: plus ``"tool_config": {...}``). Everything
but ``tool_config`` is optional; the two variable maps feed ``variable_arguments``
bindings and ``{{ }}`` / ``[[ ]]`` placeholders, as a run's scope would.

Response, ``ToolExecuteResult``::

    {success, result, error, latency_ms, error_type, error_code, dry_run,
     side_effect, variables, workflow_variables}

A tool failure (bad arguments, division by zero, a sandbox error, a non-2xx answer)
is ``success: false`` with HTTP 200, never an HTTP error; only a bad request
(invalid config or body: 422, unknown tool: 404) is. ``error_type`` is the runner's
classification (``runtime_error``, ``invalid_arguments``, ``http_error``,
``timeout``, ...); ``error_code`` is the HTTP status of a failed ``external_api``
call (an int) and None otherwise. ``variables`` / ``workflow_variables`` are the
writes the result mappings and expansion would make in a run (extra fields, kept
because they are what an author tests).

Side effects and the confirm gate (see docs/sdk-compat.md, "Tool test runs"):

- ``side_effect`` is the config's own value when set, else inferred from the type:
  ``inbuilt_function`` -> the catalogue's (``none`` for the pure functions,
  ``sends`` for ``call_forward``/``send_sms``/``send_email``, ``reads`` for
  ``web_search``);
  ``knowledge_base`` -> ``reads``; ``external_api`` -> ``reads`` for GET,
  ``writes`` for POST/PUT/DELETE; ``inline_python`` and unknown types -> ``unknown``.
- A test execution runs the tool: the caller asked for it, and the SDK's
  ``tools.execute`` sends only ``args``. The gate is the tool's own config: with
  ``"confirm_test_runs": true`` a tool whose side effect is ``writes``, ``sends``
  or ``unknown`` runs only when the body says ``"confirm": true``; otherwise
  nothing runs and the answer is ``dry_run: true, success: false, error_type:
  "confirmation_required"`` with an explanation in ``error`` and, in ``result``,
  what would have run (the bound arguments; for ``external_api`` the method and
  endpoint template).
- ``latency_ms`` is an integer (milliseconds, rounded); ``error_code`` is a string
  (``"http_503"`` for a failed ``external_api`` call, None otherwise).
"""

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from threadline.engine.render_limits import RenderLimits
from threadline.engine.steps import Scope
from threadline.errors import InvalidField, NotFound
from threadline.ids import is_object_id
from threadline.service.caller import Caller
from threadline.service.definitions import parts, wire
from threadline.service.definitions.tool_limits import check_tools
from threadline.service.runtime import Runtime
from threadline.store import Store
from threadline.tools.inbuilt import INBUILT_TOOLS
from threadline.tools.runner import ToolFailure, ToolRunner, bind_arguments

__all__ = [
    "CONFIRM_REQUIRED",
    "ToolExecuteResult",
    "execute_inline",
    "execute_saved",
    "needs_confirmation",
    "run_tool",
    "side_effect_of",
]

JsonDict = dict[str, Any]
CONFIRM_REQUIRED = frozenset({"writes", "sends", "unknown"})
"""Side effects that run only with ``"confirm": true``."""
_BODY_KEYS = frozenset({"args", "confirm", "dynamic_variables", "runtime_variables"})
_HTTP_STATUS_RE = re.compile(r"\bHTTP (\d{3})\b")


@dataclass(frozen=True)
class ToolExecuteResult:
    """What one test execution did (the wire ``ToolExecuteResult``)."""

    success: bool
    result: Any
    error: str | None
    latency_ms: int
    error_type: str | None
    error_code: str | None
    dry_run: bool
    side_effect: str
    variables: JsonDict = field(default_factory=dict)
    workflow_variables: JsonDict = field(default_factory=dict)

    def to_json(self) -> JsonDict:
        """The response body."""
        return asdict(self)


def side_effect_of(tool_config: Mapping[str, Any]) -> str:
    """The tool's declared side effect, or the one inferred from its type."""
    declared = tool_config.get("side_effect")
    if declared:
        return str(declared)
    kind = tool_config.get("type")
    if kind == "inbuilt_function":
        key = tool_config.get("tool_id") or tool_config.get("configurable_key")
        known = INBUILT_TOOLS.get(str(key))
        return known.side_effect if known else "unknown"
    if kind == "knowledge_base":
        return "reads"
    if kind == "external_api":
        method = str(tool_config.get("api_method") or "GET").upper()
        return "reads" if method == "GET" else "writes"
    return "unknown"


def needs_confirmation(tool_config: Mapping[str, Any], side_effect: str) -> bool:
    """Whether this tool runs only when confirmed: its config asks for the gate
    (``confirm_test_runs``) and its side effect could change or send something."""
    return (
        bool(tool_config.get("confirm_test_runs")) and side_effect in CONFIRM_REQUIRED
    )


def _object(body: JsonDict, key: str) -> JsonDict:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidField(f"{key}: must be an object")
    return value


def _parse_body(body: Any, extra_keys: frozenset[str] = frozenset()) -> JsonDict:
    if not isinstance(body, dict):
        raise InvalidField("body: must be an object like {'args': {...}}")
    unknown = set(body) - _BODY_KEYS - extra_keys
    if unknown:
        raise InvalidField(f"{sorted(unknown)[0]}: not a tool execute field")
    confirm = body.get("confirm", False)
    if not isinstance(confirm, bool):
        raise InvalidField("confirm: must be true or false")
    return {
        "args": _object(body, "args"),
        "confirm": confirm,
        "dynamic": _object(body, "dynamic_variables"),
        "runtime": _object(body, "runtime_variables"),
    }


def _scope(dynamic: JsonDict, runtime: JsonDict, limits: RenderLimits) -> Scope:
    return Scope(
        dynamic=dynamic, runtime=runtime, threads={"0": runtime}, limits=limits
    )


def _preview(tool_config: Mapping[str, Any], args: JsonDict, scope: Scope) -> JsonDict:
    """What a confirmed call would run with (no I/O)."""
    try:
        bound: Any = bind_arguments(tool_config, args, scope)
    except ToolFailure as exc:
        bound = None
        note: str | None = str(exc)
    else:
        note = None
    preview: JsonDict = {"type": tool_config.get("type"), "args": bound}
    if note:
        preview["binding_error"] = note
    if tool_config.get("type") == "external_api":
        preview["api_method"] = tool_config.get("api_method") or "GET"
        preview["api_endpoint"] = tool_config.get("api_endpoint")
    return preview


def _dry_run(
    tool_config: Mapping[str, Any], side_effect: str, args: JsonDict, scope: Scope
) -> ToolExecuteResult:
    label = tool_config.get("name") or tool_config.get("type") or "tool"
    return ToolExecuteResult(
        success=False,
        result=_preview(tool_config, args, scope),
        error=(
            f"not run: {label!r} has side_effect {side_effect!r} and its config "
            'sets "confirm_test_runs": true; repeat the request with "confirm": '
            'true to run it for real, or set "confirm_test_runs": false on the tool'
        ),
        latency_ms=0,
        error_type="confirmation_required",
        error_code=None,
        dry_run=True,
        side_effect=side_effect,
    )


def _http_status(error: str | None, error_type: str | None) -> str | None:
    if error_type != "http_error" or not error:
        return None
    found = _HTTP_STATUS_RE.search(error)
    return f"http_{found.group(1)}" if found else "http_error"


async def run_tool(
    runtime: Runtime,
    tool_config: Mapping[str, Any],
    args: JsonDict,
    *,
    confirm: bool = False,
    dynamic: JsonDict | None = None,
    variables: JsonDict | None = None,
    team_id: str = "",
    vendors: Mapping[str, Any] | None = None,
) -> ToolExecuteResult:
    """Run a validated tool config once, honouring the confirm rule, in one of the
    team's tool slots."""
    side_effect = side_effect_of(tool_config)
    scope = _scope(dynamic or {}, variables or {}, runtime.render_limits)
    if needs_confirmation(tool_config, side_effect) and not confirm:
        return _dry_run(tool_config, side_effect, args, scope)
    runner = ToolRunner(
        retriever=runtime.retriever,
        transport=runtime.http_transport,
        ceilings=runtime.tool_ceilings,
        slots=runtime.tool_slots,
        team_id=team_id,
        vendors=runtime.vendors if vendors is None else vendors,
    )
    outcome = await runner.run(
        tool_config, args, scope, http_allow_private=runtime.http_allow_private
    )
    return ToolExecuteResult(
        success=outcome.success,
        result=outcome.result,
        error=outcome.error,
        latency_ms=round(outcome.latency_ms),
        error_type=outcome.error_type,
        error_code=_http_status(outcome.error, outcome.error_type),
        dry_run=False,
        side_effect=side_effect,
        variables=dict(outcome.variables),
        workflow_variables=dict(outcome.workflow_variables),
    )


async def execute_saved(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    tool_id: str,
    body: Any,
    vendors: Mapping[str, Any] | None = None,
) -> ToolExecuteResult:
    """Run the team's saved tool ``tool_id`` (404 for a missing or foreign one)."""
    if not is_object_id(tool_id):
        raise NotFound(f"tool {tool_id!r} not found")
    request = _parse_body(body)
    stored = await parts.get(store, caller, parts.TOOLS, tool_id)
    tool_config: JsonDict = stored["tool_config"]
    return await run_tool(
        runtime,
        tool_config,
        request["args"],
        confirm=request["confirm"],
        dynamic=request["dynamic"],
        variables=request["runtime"],
        team_id=caller.team_id,
        vendors=vendors,
    )


async def execute_inline(
    runtime: Runtime,
    body: Any,
    caller: Caller | None = None,
    vendors: Mapping[str, Any] | None = None,
) -> ToolExecuteResult:
    """Validate ``body["tool_config"]`` like ``POST /v1/tools`` (its
    ``timeout_seconds`` within the server's ceiling) and run it."""
    request = _parse_body(body, frozenset({"tool_config"}))
    raw = body.get("tool_config")
    if not isinstance(raw, dict):
        raise InvalidField("tool_config: required, a tool config object")
    tool_config = wire.tool(raw, "tool_config")
    check_tools(tool_config, runtime.tool_ceilings, "tool_config")
    return await run_tool(
        runtime,
        tool_config,
        request["args"],
        confirm=request["confirm"],
        dynamic=request["dynamic"],
        variables=request["runtime"],
        team_id=caller.team_id if caller is not None else "",
        vendors=vendors,
    )
