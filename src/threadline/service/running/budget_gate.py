"""Run budgets in the turn driver: the gate before every model call, and the view.

A run's limits were fixed when it started (``workflow_run.run_budget``, see
``service.team.run_budgets``). For each turn with limits the driver wraps the
executors' LLM in a ``BudgetedLLM``: before every call it asks the run's
``BudgetGate`` whether the call fits, counting

- the run's totals so far (``RunState.usage``, which the engine updates after
  each node), plus the calls already answered inside the running node;
- the calls in flight (a node may call its judges beside its main call);
- the calls this one may make: an LLM group counts every member it may race
  (``providers.groups.most_calls``);
- the seconds since the run started, on the runtime's clock.

A call that would pass a budget is not made: the gate remembers why, the call
raises ``LLMError`` (code ``budget_exceeded``), and ``node_execution.execute_node``
puts the report on the node's result, where the engine fails the run
(``engine.budgets``). The report is journaled with the result, so a resumed turn
replays the same refusal.

``view`` is what ``GET /v1/workflow-runs/{id}`` shows: each budget's limit, what
is used and what remains.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from threadline.engine import budgets
from threadline.engine.state import RunState
from threadline.providers.base import LLM, ChatRequest, ChatResponse, LLMError
from threadline.providers.groups import call_records, most_calls
from threadline.service.running.costs import price

JsonDict = dict[str, Any]
CODE = "budget_exceeded"


@dataclass
class BudgetGate:
    """The budget check of one turn of one run."""

    limits: JsonDict
    state: RunState
    clock: Callable[[], float]
    node_calls: list[JsonDict] = field(default_factory=list)
    """Records of the calls answered in the running node (not yet in the totals)."""
    in_flight: int = 0
    """Calls that may still be made by the requests in flight."""
    refused: JsonDict | None = None
    """Why the running node's call was refused (``engine.budgets.would_pass``)."""

    def begin_node(self) -> None:
        """A new node starts: its earlier calls are in the run's totals now."""
        self.node_calls = []
        self.in_flight = 0
        self.refused = None

    def admit(self, request: ChatRequest) -> int:
        """Count the calls ``request`` may make, or raise ``LLMError``."""
        planned = most_calls(request.llm_config)
        if self.refused is None:
            spent = budgets.used(
                self.state, self.clock(), price, extra_calls=self.node_calls
            )
            spent["max_llm_calls"] += self.in_flight
            report = budgets.would_pass(self.limits, spent, calls=planned)
            if report is not None:
                self.refused = report
        if self.refused is not None:
            raise LLMError(budgets.describe(self.refused), code=CODE)
        self.in_flight += planned
        return planned

    def settle(self, planned: int, response: ChatResponse | None) -> None:
        """A request finished (``response`` None: it failed)."""
        self.in_flight -= planned
        if response is not None:
            self.node_calls.extend(call_records(response))


@dataclass
class BudgetedLLM:
    """An ``LLM`` that asks the run's ``BudgetGate`` before every call."""

    inner: LLM
    gate: BudgetGate

    async def chat(self, request: ChatRequest) -> ChatResponse:
        planned = self.gate.admit(request)
        response: ChatResponse | None = None
        try:
            response = await self.inner.chat(request)
            return response
        finally:
            self.gate.settle(planned, response)


def limits_of(doc_body: JsonDict) -> JsonDict:
    """The limits a stored run was started with (empty: none)."""
    run = doc_body.get("workflow_run") or {}
    return budgets.limits_of(run.get("run_budget"))


def view(doc_body: JsonDict, now: float) -> JsonDict | None:
    """Each budget of a stored run: its limit, what is used, what remains.

    ``max_seconds`` is counted to ``now`` while the run may still move, and to its
    last turn once it has ended."""
    limits = limits_of(doc_body)
    if not limits:
        return None
    raw = doc_body.get("state")
    state = RunState.from_json(raw) if isinstance(raw, dict) else RunState(run_id="")
    ended = state.status in ("completed", "failed", "cancelled", "aborted_looping_risk")
    at = state.last_active_at if ended and state.last_active_at is not None else now
    spent = budgets.used(state, at, price)
    report: JsonDict = {}
    for name in budgets.NAMES:
        limit = limits.get(name)
        if limit is None:
            continue
        report[name] = {
            "limit": limit,
            "used": spent[name],
            "remaining": max(0, limit - spent[name]),
        }
    warn = limits.get("warn_at_fraction", budgets.DEFAULT_WARN_AT_FRACTION)
    exceeded = state.termination_source == budgets.TERMINATION_SOURCE
    return {
        "budgets": report,
        "warn_at_fraction": warn,
        "warned": [w for w in state.budget_warned if w in budgets.NAMES],
        "exceeded": exceeded,
    }
