"""Run budgets: what a run has used against its limits, and stopping it in time.

The limits (``TurnEnv.budget``: ``max_tokens``, ``max_cost_usd``, ``max_llm_calls``,
``max_seconds``, ``max_turns`` and ``warn_at_fraction``) were fixed when the run
started. What is used comes from the run state: the LLM totals (``engine.usage``),
the cost of those totals through the price function the shell passes in
(``TurnEnv.price``), the turn counter, and the clock readings the shell passes in
against ``RunState.started_at``. Nothing here reads a clock or does I/O.

Two checks, one rule ("a run never passes a budget"):

- ``would_pass(limits, used, calls=n)``: before a model call that may make ``n``
  calls (an LLM group counts every member it may race) the shell asks whether
  ``calls_used + n`` passes ``max_llm_calls``, or tokens, cost or seconds are
  already at their limit (the next call could only add to them);
- at a turn boundary (``turn_start``) the same, with the turn about to run
  counted against ``max_turns`` and no call planned.

Tokens and cost are known only after a call answers, so the last call admitted
may carry them over the limit; no call is made after that.

``exceed`` fails the run: a ``budget_exceeded`` event naming the budget, its
limit and what was used, then ``workflow_error``; ``termination_source`` is
``run_budget``. ``warn`` emits ``budget_warning`` once per budget when its use
reaches ``warn_at_fraction`` of the limit (default 0.8). A ``max_cost_usd`` cannot
count a model the price table does not know: its calls count as free, and a
``workflow_warning`` says so once per model.
"""

from collections.abc import Callable
from typing import Any

from threadline.engine.emit import Emitter
from threadline.engine.state import MAIN_THREAD, RunState
from threadline.engine.usage import add_calls

JsonDict = dict[str, Any]
Price = Callable[[str, str, int, int], float | None]
"""USD cost of ``(model, provider, input_tokens, output_tokens)``; None: unknown."""

NAMES = ("max_tokens", "max_cost_usd", "max_llm_calls", "max_seconds", "max_turns")
TERMINATION_SOURCE = "run_budget"
DEFAULT_WARN_AT_FRACTION = 0.8


def limits_of(raw: JsonDict | None) -> JsonDict:
    """The limits that are set (numbers only), plus ``warn_at_fraction``."""
    out: JsonDict = {}
    for name in (*NAMES, "warn_at_fraction"):
        value = (raw or {}).get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = value
    return out


def cost_of(totals: JsonDict, price: Price | None) -> float:
    """USD cost of the running LLM totals (unknown models cost nothing)."""
    if price is None:
        return 0.0
    total = 0.0
    for entry in totals.values():
        model = str(entry.get("response_model") or "")
        if not model:
            continue
        cost = price(
            model,
            str(entry.get("provider") or ""),
            int(entry.get("input_tokens") or 0),
            int(entry.get("output_tokens") or 0),
        )
        total += cost or 0.0
    return total


def used(
    state: RunState,
    now: float,
    price: Price | None,
    extra_calls: list[JsonDict] | None = None,
) -> JsonDict:
    """What the run has used of each budget at clock reading ``now``
    (``extra_calls``: call records not yet added to the state's totals)."""
    entries = list(state.usage.values())
    tokens = sum(int(e.get("total_tokens") or 0) for e in entries)
    calls = sum(int(e.get("calls") or 0) for e in entries)
    totals = state.usage
    if extra_calls:
        totals = {k: dict(v) for k, v in state.usage.items()}
        add_calls(totals, extra_calls)
        tokens += sum(int(c.get("total_tokens") or 0) for c in extra_calls)
        calls += len(extra_calls)
    started = state.started_at if state.started_at is not None else now
    return {
        "max_tokens": tokens,
        "max_cost_usd": cost_of(totals, price),
        "max_llm_calls": calls,
        "max_seconds": max(0.0, now - started),
        "max_turns": state.turn,
    }


def would_pass(
    limits: JsonDict, spent: JsonDict, *, calls: int = 0, turns: int = 0
) -> JsonDict | None:
    """The first budget that ``calls`` more model calls or ``turns`` more turns
    would pass: ``{budget, limit, used, would_use}``; None when all fit."""
    for name in NAMES:
        limit = limits.get(name)
        if limit is None:
            continue
        now_used = spent[name]
        if name == "max_llm_calls":
            after = now_used + calls
            passes = after > limit or (calls == 0 and now_used >= limit)
        elif name == "max_turns":
            after = now_used + turns
            passes = after > limit
        else:  # tokens, cost, seconds: any further call adds to them
            after = now_used
            passes = now_used >= limit
        if passes:
            return {
                "budget": name,
                "limit": limit,
                "used": now_used,
                "would_use": after,
            }
    return None


def describe(report: JsonDict) -> str:
    """The run's error message for an exceeded budget."""
    return (
        f"run budget exceeded: {report['budget']} is {_number(report['limit'])}, "
        f"{_number(report['used'])} used"
        + (
            f", {_number(report['would_use'])} with the refused step"
            if report.get("would_use") != report.get("used")
            else ""
        )
    )


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def exceed(
    state: RunState, em: Emitter, report: JsonDict, thread_id: str = MAIN_THREAD
) -> None:
    """Fail the run because of ``report`` (from ``would_pass``)."""
    state.status = "failed"
    state.error = describe(report)
    state.termination_source = TERMINATION_SOURCE
    em.emit(
        "budget_exceeded",
        thread_id,
        budget=report["budget"],
        limit=report["limit"],
        used=report["used"],
        would_use=report.get("would_use"),
        origin_node_logical_id=report.get("node_logical_id"),
    )
    em.emit("workflow_error", thread_id, error_message=state.error, stack_trace=None)


def _unpriced(
    state: RunState, em: Emitter, limits: JsonDict, price: Price | None
) -> None:
    """A ``max_cost_usd`` the run cannot honour for a model the price table does
    not know: one ``workflow_warning`` per such model (its calls count as free)."""
    if "max_cost_usd" not in limits or price is None:
        return
    for entry in state.usage.values():
        model = str(entry.get("response_model") or "")
        provider = str(entry.get("provider") or "")
        key = f"unpriced:{model}\x1f{provider}"
        if key in state.budget_warned:
            continue
        if price(model, provider, 1, 1) is None:
            state.budget_warned.append(key)
            em.emit(
                "workflow_warning",
                MAIN_THREAD,
                warning_message=(
                    f"run budget max_cost_usd cannot count the calls of model "
                    f"{model or '(unnamed)'!r} of provider {provider!r}: it is not "
                    "in the price table, so they count as free"
                ),
            )


def warn(
    state: RunState,
    em: Emitter,
    limits: JsonDict,
    spent: JsonDict,
    price: Price | None = None,
) -> None:
    """``budget_warning`` for each budget past its soft threshold, once each."""
    _unpriced(state, em, limits, price)
    fraction = float(limits.get("warn_at_fraction") or DEFAULT_WARN_AT_FRACTION)
    for name in NAMES:
        limit = limits.get(name)
        if limit is None or name in state.budget_warned:
            continue
        if spent[name] >= fraction * limit:
            state.budget_warned.append(name)
            em.emit(
                "budget_warning",
                MAIN_THREAD,
                budget=name,
                limit=limit,
                used=spent[name],
                warn_at_fraction=fraction,
            )


def turn_start(
    state: RunState,
    em: Emitter,
    limits: JsonDict,
    price: Price | None,
    *,
    counts_as_turn: bool,
) -> bool:
    """The turn-boundary check at the start of a turn; True when it failed the run.

    Call after ``state.turn`` was advanced for this turn: the turns before it are
    what is used, this one is the one that would pass ``max_turns``."""
    if state.started_at is None:
        state.started_at = em.now
    if not limits:
        return False
    spent = used(state, em.now, price)
    spent["max_turns"] = state.turn - 1 if counts_as_turn else state.turn
    report = would_pass(limits, spent, turns=1 if counts_as_turn else 0)
    if report is not None:
        exceed(state, em, report)
        return True
    warn(state, em, limits, spent, price)
    return False


def after_step(
    state: RunState, em: Emitter, limits: JsonDict, price: Price | None
) -> None:
    """Warnings after a node (its calls are in the totals now)."""
    if limits:
        warn(state, em, limits, used(state, em.now, price), price)
