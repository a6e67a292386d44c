"""Trying a saved or unsaved LLM config: the ``test`` endpoints.

A test sends a system prompt plus optional chat messages through the run-time LLM
client and reports a flat result (``LLMConfigTestResult``): success, response,
provider/model, token usage, latency, and for groups the member that answered and
any backchannel output. A test override of a saved config whose secret is masked
or null reuses the stored one.
"""

import time
from typing import Any

from threadline.providers.base import (
    LLM,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    LLMError,
    Role,
)
from threadline.service.caller import Caller
from threadline.service.definitions.masking import restore_secrets
from threadline.service.runtime import Runtime
from threadline.service.team import secrets
from threadline.service.team.llm_configs import (
    field_error,
    must_get,
    parse_config,
    require_object,
)
from threadline.service.team.sealing import open_tree
from threadline.service.team.vendor_credentials import team_ports
from threadline.store import Store

JsonDict = dict[str, Any]

_ROLES: dict[str, Role] = {
    "human": "user",
    "user": "user",
    "ai": "assistant",
    "assistant": "assistant",
    "system": "system",
}
GROUP_TYPES = frozenset({"llm_group", "llm_group_with_backchannel"})


def _messages(raw: JsonDict) -> tuple[ChatMessage, ...]:
    prompt = raw.get("system_prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise field_error("system_prompt", "a non-empty string is required", "missing")
    out = [ChatMessage("system", prompt)]
    items = raw.get("messages") or []
    if not isinstance(items, list):
        raise field_error("messages", "must be a list", "list_type")
    for index, item in enumerate(items):
        field = f"messages.{index}"
        if not isinstance(item, dict):
            raise field_error(field, "a message must be an object", "dict_type")
        role = _ROLES.get(str(item.get("role") or "human").lower())
        if role is None:
            names = ", ".join(_ROLES)
            raise field_error(f"{field}.role", f"expected one of: {names}", "enum")
        content = item.get("content")
        if not isinstance(content, str):
            raise field_error(f"{field}.content", "must be a string", "string_type")
        out.append(ChatMessage(role, content))
    return tuple(out)


def _group_members(config: JsonDict) -> list[JsonDict]:
    """The members a group call races (a backchannel group: its main group's)."""
    group = config
    if config.get("type") == "llm_group_with_backchannel":
        group = config.get("main_llm_config") or {}
    return [m for m in group.get("llms") or [] if isinstance(m, dict)]


def _primary(config: JsonDict) -> JsonDict:
    """The first single config of a (possibly nested) group."""
    for _ in range(4):
        if config.get("type") not in GROUP_TYPES:
            break
        members = _group_members(config)
        config = members[0] if members else {}
    return config


def _member(config: JsonDict, response: ChatResponse) -> JsonDict | None:
    """``{index, logical_id, provider, model}`` of the group member that answered.

    The group reports its winner as ``extra["group"]["winner_index"]`` or as
    ``winner`` (the member's ``logical_id``, else ``llms[<i>]``); a group client
    that reports nothing answered with its first member.
    """
    if config.get("type") not in GROUP_TYPES:
        return None
    members = _group_members(config)
    report = response.extra.get("group") if response.extra else None
    index: Any = report.get("winner_index") if isinstance(report, dict) else None
    if not isinstance(index, int):
        index = 0
        for i, member in enumerate(members):
            if response.winner in (member.get("logical_id"), f"llms[{i}]"):
                index = i
                break
    if not 0 <= index < len(members):
        return None
    member = members[index]
    return {
        "index": index,
        "logical_id": member.get("logical_id"),
        "provider": member.get("provider"),
        "model": member.get("model"),
    }


def _as_int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


async def _exercise(
    llm: LLM, config: JsonDict, messages: tuple[ChatMessage, ...]
) -> JsonDict:
    primary = _primary(config)
    result: JsonDict = {
        "success": False,
        "response": None,
        "error": None,
        "provider": primary.get("provider"),
        "model": primary.get("model"),
        "prompt_tokens": None,
        "completion_tokens": None,
        "total_tokens": None,
        "latency_ms": None,
        "winning_member": None,
        "backchannel_response": None,
        "backchannel_member": None,
        "backchannel_prompt_tokens": None,
        "backchannel_completion_tokens": None,
        "backchannel_total_tokens": None,
    }
    started = time.perf_counter()
    try:
        response = await llm.chat(
            ChatRequest(llm_config=config, messages=messages, purpose="llm_config_test")
        )
    except LLMError as exc:
        elapsed = (time.perf_counter() - started) * 1000
        return {**result, "error": exc.message, "latency_ms": round(elapsed)}
    elapsed = response.latency_ms or (time.perf_counter() - started) * 1000
    extra = response.extra or {}
    return {
        **result,
        "success": True,
        "response": response.content,
        "provider": response.provider or result["provider"],
        "model": response.model or result["model"],
        "prompt_tokens": response.usage.input_tokens,
        "completion_tokens": response.usage.output_tokens,
        "total_tokens": response.usage.total_tokens,
        "latency_ms": round(elapsed),
        "winning_member": _member(config, response),
        "backchannel_response": extra.get("backchannel_response"),
        "backchannel_member": extra.get("backchannel_member"),
        "backchannel_prompt_tokens": _as_int(extra.get("backchannel_prompt_tokens")),
        "backchannel_completion_tokens": _as_int(
            extra.get("backchannel_completion_tokens")
        ),
        "backchannel_total_tokens": _as_int(extra.get("backchannel_total_tokens")),
    }


async def try_saved(
    store: Store, caller: Caller, runtime: Runtime, config_id: str, raw: Any
) -> JsonDict:
    """Run a prompt against a saved config (or an override reusing its secrets)."""
    body = require_object(raw, "test request")
    messages = _messages(body)
    async with store.begin() as tx:
        doc = await must_get(tx, caller, config_id)
    stored: JsonDict = doc.body["config"]
    config = stored
    if body.get("config") is not None:
        config = restore_secrets(
            parse_config(body["config"]), stored, field="config", keep_missing=True
        )
    config = open_tree(config, secrets.key_for(store))  # keys are sealed at rest
    # A saved config without a key uses the team's credential, as a run would.
    llm, _ = team_ports(store, caller.team_id, runtime.llm, {})
    return await _exercise(llm, config, messages)


async def try_inline(runtime: Runtime, raw: Any) -> JsonDict:
    """Run a prompt against an unsaved config (it carries its own secrets)."""
    body = require_object(raw, "test request")
    messages = _messages(body)
    if body.get("config") is None:
        raise field_error("config", "an LLM config is required", "missing")
    return await _exercise(runtime.llm, parse_config(body["config"]), messages)
