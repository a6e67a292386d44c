"""LLM group configs: what a group is, its main group, its patience, and the most
calls one request to it can make (see ``groups``)."""

from collections.abc import Awaitable, Callable
from typing import Any

from threadline.providers.base import ChatResponse, LLMError

JsonDict = dict[str, Any]
Sleep = Callable[[float], Awaitable[Any]]
GROUP_TYPES = frozenset({"llm_group", "llm_group_with_backchannel"})
PARALLEL_SELECT_ONE = "parallel_select_one"
SEQUENTIAL_WITH_PROACTIVE = "sequential_with_proactive"
DEFAULT_MIN_PATIENCE_MS = 1500


def is_group(config: JsonDict | None) -> bool:
    """Whether ``config`` is an ``llm_group`` or ``llm_group_with_backchannel``."""
    return bool(config) and (config or {}).get("type") in GROUP_TYPES


def group_of(config: JsonDict) -> JsonDict:
    """The ``llm_group`` serving ``config`` (a backchannel group's main group)."""
    if config.get("type") == "llm_group_with_backchannel":
        main = config.get("main_llm_config")
        if not main:
            raise LLMError(
                "llm_group_with_backchannel has no main_llm_config",
                code="llm_not_configured",
            )
        return dict(main)
    return config


def call_records(response: ChatResponse) -> list[JsonDict]:
    """The accounting records of ``response``: every call a group made, else one."""
    calls = response.extra.get("group_calls")
    if isinstance(calls, list):
        return [dict(c) for c in calls]
    return [response.call_record()]


def most_calls(config: JsonDict | None) -> int:
    """The most model calls one request with ``config`` can make: 1 for a plain
    model; for a group, every member it may race (nested groups flattened), plus
    the backchannel filler's calls. Run budgets count a call by this before it is
    made, so racing can never pass ``max_llm_calls``."""
    if not is_group(config):
        return 1
    assert config is not None
    group = config
    filler = 0
    if config.get("type") == "llm_group_with_backchannel":
        group = config.get("main_llm_config") or {}
        llm = config.get("backchannel_llm_config")
        if llm and not config.get("backchannel_static_responses"):
            filler = most_calls(llm)
    members = group.get("llms") or [] if is_group(group) else [group]
    return sum(most_calls(m) for m in members if isinstance(m, dict)) + filler


def patience(group: JsonDict) -> tuple[float, float | None]:
    raw_min = group.get("min_patience_time_ms", DEFAULT_MIN_PATIENCE_MS)
    raw_max = group.get("max_patience_time_ms")
    low = max(0.0, float(raw_min or 0)) / 1000.0
    high = None if raw_max is None else max(0.0, float(raw_max)) / 1000.0
    return low, high
