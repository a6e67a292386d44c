"""Run budgets (a Threadline extension): limits on what one run may spend.

``run_budget`` may sit on a workflow config, in the run input of a ``start`` and
in the team's settings; where several set the same limit, the smaller one wins
(see ``docs/budgets.md``). Every field is optional; an unknown field is refused.
"""

from pydantic import BaseModel, ConfigDict, Field

BUDGET_NAMES = (
    "max_tokens",
    "max_cost_usd",
    "max_llm_calls",
    "max_seconds",
    "max_turns",
)
"""The limits, in the order they are checked and reported."""
DEFAULT_WARN_AT_FRACTION = 0.8
_COUNT_MAX = 2**53
"""The largest count a JSON number carries exactly."""
_USD_MAX = 1e9
_SECONDS_MAX = 10 * 365 * 24 * 3600.0


class RunBudget(BaseModel):
    """The limits of one run; absent or null: no limit of that kind."""

    model_config = ConfigDict(extra="forbid", strict=True)

    max_tokens: int | None = Field(default=None, ge=1, le=_COUNT_MAX)
    """Total tokens (input plus output) of every LLM call of the run."""
    max_cost_usd: float | None = Field(
        default=None, gt=0, le=_USD_MAX, allow_inf_nan=False
    )
    """Total cost in USD, from the price table behind ``cost_usd`` (calls of models
    the table does not know cost nothing)."""
    max_llm_calls: int | None = Field(default=None, ge=1, le=_COUNT_MAX)
    """LLM calls; every member call an LLM group may race counts."""
    max_seconds: float | None = Field(
        default=None, gt=0, le=_SECONDS_MAX, allow_inf_nan=False
    )
    """Wall-clock seconds since the run started."""
    max_turns: int | None = Field(default=None, ge=1, le=_COUNT_MAX)
    """Turns (execute calls; background passes are not turns)."""
    warn_at_fraction: float | None = Field(
        default=None, gt=0, lt=1, allow_inf_nan=False
    )
    """The soft threshold: a ``budget_warning`` event once a budget's use reaches
    this fraction of its limit (default 0.8)."""
