"""Running a node during a replay check without touching the outside world.

A replay check answers a node from the recording while it can (``replayer``);
otherwise the node runs here, *offline*:

- LLM nodes run their executor, and the model is called through the team's
  normal provider layer (credentials, ``THREADLINE_LLM_OVERRIDE_URL``, managed
  prompts); every call is counted and at most ``max_llm_calls`` are made per
  check (:class:`CountingLLM`).
- Nodes whose work is a side effect (:data:`SIDE_EFFECT_TYPES`: tools, HTTP
  requests, vendors) never run. An *identical call* the source run recorded (the
  same node config rendered with the same variable values, :func:`call_key`) is
  answered with its recorded result; any other is answered with the
  :data:`PLACEHOLDER` failure and reported as a changed call not executed.
- Tools an LLM calls, outbound HTTP and vendor calls made inside a live node get
  the same placeholder (:class:`PlaceholderTools`, :func:`placeholder_transport`,
  :class:`PlaceholderVendor`); MCP servers are not offered (``mcp`` is None).
"""

import copy
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from threadline.engine.render_limits import RenderLimitExceeded
from threadline.engine.steps import NodeResult, NodeTask
from threadline.engine.templates import render_value
from threadline.nodes.base import Ports
from threadline.nodes.llm_tools import ToolOutcome, function_name
from threadline.nodes.tool import result_variable_name
from threadline.providers.base import LLM, ChatRequest, ChatResponse
from threadline.providers.managed_prompts import ExpandingLLM
from threadline.service.caller import Caller
from threadline.service.reuse import managed_prompts
from threadline.service.running.node_execution import execute_node
from threadline.service.running.observed_llm import ObservedLLM
from threadline.service.runtime import Runtime
from threadline.service.team.vendor_credentials import team_ports
from threadline.store import Store
from threadline.tools.bindings import scope_vars

JsonDict = dict[str, Any]
PLACEHOLDER = "not executed: replay checks make no external calls"
SIDE_EFFECT_TYPES = frozenset(
    {
        "tool_node",
        "http_request",
        "send_sms",
        "google_docs",
        "athena_patients_search",
        "athena_patients_create",
        "athena_patients_update",
        "athena_appointments_create",
    }
)
_VOLATILE = frozenset({"workflow_id", "version_number", "_id", "id"})


class CallLimitReached(Exception):
    """The check's model-call ceiling is spent (``max_llm_calls``)."""


def _without_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k != "logical_id"}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


def normalised(config: Any) -> Any:
    """A node or workflow config without what differs between versions of the
    same content: its workflow, version and database ids, and the generated
    logical ids of the configs inside it (an LLM config's ``llm_<uuid>``)."""
    if not isinstance(config, dict):
        return config
    return {
        k: v if k == "logical_id" else _without_ids(v)
        for k, v in config.items()
        if k not in _VOLATILE
    }


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def call_key(task: NodeTask) -> str:
    """What identifies a side-effect node's call: its config rendered with the
    variables of this run (equal keys make equal requests)."""
    node = normalised(task.node)
    try:
        rendered = render_value(node, **scope_vars(task.scope))
    except RenderLimitExceeded:
        rendered = {"unrendered": node, "scope": task.scope.runtime}
    return _digest([task.node.get("logical_id"), rendered])


def call_name(node: JsonDict) -> str:
    """A side-effect node's call as a person names it: the tool or the type."""
    tool = node.get("tool_config") or {}
    if node.get("type") == "tool_node" and isinstance(tool, dict):
        return str(tool.get("name") or tool.get("tool_id") or "tool_node")
    return str(node.get("type") or "")


def placeholder_result(task: NodeTask) -> NodeResult:
    """What a side-effect node not executed answers: a failure saying so."""
    node = task.node
    kind = str(node.get("type") or "")
    result = NodeResult(finished_at=None)
    if kind == "tool_node":
        name = result_variable_name(node)
        result.output = {
            "success": False,
            "tool_result": None,
            "error_message": PLACEHOLDER,
        }
    elif kind == "http_request":
        name = str(node.get("result_runtime_variable_name") or "http_request_result")
        result.output = {
            "curl_command": None,
            "success": False,
            "http_status_code": None,
            "http_response": None,
        }
    else:
        name = kind
        result.output = {"success": False, "error_message": PLACEHOLDER}
    result.variables = {
        name: None,
        f"{name}_success": False,
        f"{name}_error": PLACEHOLDER,
    }
    return result


@dataclass
class CountingLLM:
    """The provider layer, counted and bounded for one check."""

    inner: LLM
    max_calls: int
    calls: int = 0
    refused: bool = False

    async def chat(self, request: ChatRequest) -> ChatResponse:
        if self.calls >= self.max_calls:
            self.refused = True
            raise CallLimitReached(
                f"the check's {self.max_calls} model calls are spent"
                " (THREADLINE_REPLAY_CHECK_MAX_LLM_CALLS)"
            )
        self.calls += 1
        return await self.inner.chat(request)


@dataclass
class Intercepted:
    """Calls a live node tried to make, answered with the placeholder."""

    node_logical_id: str = ""
    calls: list[JsonDict] = field(default_factory=list)

    def add(self, kind: str, name: str, detail: Any = None) -> None:
        call: JsonDict = {"kind": kind, "node_logical_id": self.node_logical_id}
        call["name"] = name
        if detail is not None:
            call["detail"] = detail
        self.calls.append(call)


@dataclass
class PlaceholderTools:
    """``ports.tools`` of a live node: tools the model calls are not run."""

    seen: Intercepted

    async def run(self, tool: JsonDict, args: JsonDict, task: NodeTask) -> ToolOutcome:
        self.seen.add("llm_tool", function_name(tool), {"args": args})
        return ToolOutcome(success=False, error=PLACEHOLDER, error_type="replay_check")


@dataclass
class PlaceholderVendor:
    """A vendor of a live node: nothing is sent."""

    name: str
    seen: Intercepted

    async def call(self, operation: str, payload: JsonDict) -> JsonDict:
        self.seen.add("vendor", f"{self.name}.{operation}")
        raise RuntimeError(PLACEHOLDER)


def placeholder_transport(seen: Intercepted) -> httpx.MockTransport:
    """Outbound HTTP of a live node: answered 503 with the placeholder."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.add("http", f"{request.method} {request.url.host}{request.url.path}")
        return httpx.Response(503, json={"error": PLACEHOLDER})

    return httpx.MockTransport(handle)


@dataclass
class Offline:
    """Executes the nodes of one check that the recording cannot answer."""

    store: Store
    caller: Caller
    runtime: Runtime
    max_llm_calls: int
    secret_values: tuple[str, ...] = ()
    intercepted: Intercepted = field(default_factory=Intercepted)
    llm: CountingLLM = field(init=False)

    def __post_init__(self) -> None:
        llm, vendors = team_ports(
            self.store, self.caller.team_id, self.runtime.llm, self.runtime.vendors
        )
        self.llm = CountingLLM(
            ObservedLLM(llm, self.caller.team_id), self.max_llm_calls
        )
        self._vendors = {
            name: PlaceholderVendor(name, self.intercepted) for name in vendors
        }

    def ports(self, snapshot: JsonDict) -> Ports:
        return Ports(
            llm=ExpandingLLM(self.llm, managed_prompts.texts_of(snapshot)),
            clock=self.runtime.clock,
            team_id=self.caller.team_id,
            vendors=dict(self._vendors),
            secret_values=self.secret_values,
            tools=PlaceholderTools(self.intercepted),
            http_transport=placeholder_transport(self.intercepted),
            tool_ceilings=self.runtime.tool_ceilings,
            tool_slots=self.runtime.tool_slots,
        )

    async def execute(self, task: NodeTask, snapshot: JsonDict) -> NodeResult:
        """Run an LLM or pure node now (no delay: a check waits for nothing)."""
        self.intercepted.node_logical_id = str(task.node.get("logical_id") or "")
        if self.llm.calls >= self.max_llm_calls and _calls_models(task):
            self.llm.refused = True
            raise CallLimitReached("model-call ceiling")
        self.llm.refused = False
        quick = dataclasses.replace(task, delay_s=0.0)
        result = await execute_node(quick, self.ports(snapshot), self.runtime)
        if self.llm.refused:
            raise CallLimitReached("model-call ceiling")
        return result


def _calls_models(task: NodeTask) -> bool:
    node_type = str(task.node.get("type") or "")
    return node_type in ("say_llm", "worker_llm", "workflow_run_evaluator") or (
        task.purpose != "node"
    )


def reused(result: NodeResult) -> NodeResult:
    """A recorded result, for another run of the engine."""
    return copy.deepcopy(result)
