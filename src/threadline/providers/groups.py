"""LLM groups (§11.1): race several member LLMs and answer with one of them.

``GroupLLM(group_config, member_client)`` is an ``LLM`` for an ``llm_group`` config
(or an ``llm_group_with_backchannel`` one, which it serves with its
``main_llm_config``; the filler itself is spoken by the say node, see
``groups_backchannel``). ``member_client(config)`` builds the client of one member
(``ConfigurableLLM.client_for``); a member that is itself a group gets a nested
``GroupLLM``. Each member is called with ``llm_config`` = its own config.

Timing (``min_patience_time_ms``: missing → 1500, null → 0;
``max_patience_time_ms``: missing or null → no cap), both counted from the start:

- ``sequential_with_proactive`` (the default): call ``llms[0]`` only. If it answers
  within min patience it wins (no other member is ever called). When min patience
  ends first, fire all the other members in parallel; the first answer (of any
  member, ``llms[0]`` included) wins. ``llms[0]`` failing before min patience fires
  the others at once (waiting longer cannot help).
- ``parallel_select_one``: fire every member at once; wait until min patience has
  passed or every member has finished, then pick the most preferred member (lowest
  index) that has answered; if none has yet, the first answer after that wins.

In both modes: answers arriving in the same loop tick are ranked by preference;
members still running when a winner is picked are cancelled; a failing member only
fails the group when no member can answer any more (``LLMError`` code
``llm_group_failed`` listing each member's error); at max patience without any
answer the group fails with code ``llm_group_timeout`` (the SDK "returns None"; an
error lets the node's failure policy speak its ``default_error_message``).
``AssertionError`` from a member (a test fake out of script) is re-raised at once.

Result: the winner's ``ChatResponse`` with ``winner`` = the member's ``logical_id``
(else ``"llms[<i>]"``), ``extra["group"]`` = ``{type, operation_mode, winner,
winner_index, elapsed_ms, members: [{index, model, logical_id, status, error}]}``
(status ``won``/``lost``/``failed``/``cancelled``/``not_started``) and
``extra["group_calls"]`` = the accounting records of every member call that
returned a response, losers included (they were paid for), nested groups
flattened. A call cancelled before its response costs nothing here: no usage was
ever reported for it. Use :func:`call_records` to account a response.

Backchannel at this level (a caller passing a whole ``llm_group_with_backchannel``
config, e.g. the llm-config ``/test`` endpoint; LLM nodes instead call
``main_llm_config`` and speak the filler themselves, see ``nodes.llm_loop``): when
the main group outlasts ``backchannel_min_patience_time_ms`` a filler is produced
(static, or one call of ``backchannel_llm_config`` with a built-in filler prompt
and the request's non-system messages) unless the main answer comes first (then it
is cancelled). The answer's ``extra`` gains ``backchannel_response``,
``backchannel_member``, ``backchannel_{prompt,completion,total}_tokens`` and
``backchannel_error``, and the filler call's records join ``group_calls``. The
content is the main answer as returned (no prefix handling here).

Streaming: members are called without ``on_text`` (interleaved deltas of racing
members would be garbage); the winner's whole text is passed to ``on_text`` once.

The configs' rules are ``groups_config``'; one call's race is ``groups_race``'.
"""

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from threadline.providers.base import (
    LLM,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    LLMError,
)
from threadline.providers.groups_backchannel import (
    DEFAULT_BACKCHANNEL_PROMPT,
    Backchannel,
    race,
)
from threadline.providers.groups_config import (
    GROUP_TYPES,
    PARALLEL_SELECT_ONE,
    SEQUENTIAL_WITH_PROACTIVE,
    Sleep,
    call_records,
    group_of,
    is_group,
    most_calls,
    patience,
)
from threadline.providers.groups_race import Race, loop_time

__all__ = [
    "GROUP_TYPES",
    "PARALLEL_SELECT_ONE",
    "SEQUENTIAL_WITH_PROACTIVE",
    "GroupDispatchLLM",
    "GroupLLM",
    "call_records",
    "group_of",
    "is_group",
    "most_calls",
]

JsonDict = dict[str, Any]


class GroupLLM:
    """An ``LLM`` answering through the members of one LLM group."""

    def __init__(
        self,
        group_config: JsonDict,
        member_client: Callable[[JsonDict], LLM],
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = dict(group_config)
        self.group = group_of(self.config)
        self.members: list[JsonDict] = [dict(m) for m in self.group.get("llms") or []]
        self.mode = str(self.group.get("operation_mode") or SEQUENTIAL_WITH_PROACTIVE)
        if self.mode not in (PARALLEL_SELECT_ONE, SEQUENTIAL_WITH_PROACTIVE):
            raise LLMError(
                f"unknown llm_group operation_mode {self.mode!r}",
                code="llm_not_configured",
            )
        self.min_patience_s, self.max_patience_s = patience(self.group)
        self.member_client = member_client
        self.sleep = sleep
        self.clock = clock or loop_time

    def client(self, config: JsonDict) -> LLM:
        """The client of one member (a nested ``GroupLLM`` for a group member)."""
        if is_group(config):
            return GroupLLM(
                config, self.member_client, sleep=self.sleep, clock=self.clock
            )
        return self.member_client(config)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        if not self.members:
            raise LLMError("llm_group has no llms", code="llm_not_configured")
        plan = Backchannel.from_config(self.config)
        if plan is None:
            response = await Race(self, request).run()
        else:
            response = await self._with_backchannel(request, plan)
        if request.on_text is not None and response.content:
            await request.on_text(response.content)
        return response

    async def _with_backchannel(
        self, request: ChatRequest, plan: Backchannel
    ) -> ChatResponse:
        """The main group's answer, plus a filler if it outlasted the window."""
        found: JsonDict = {}

        async def filler() -> None:
            if plan.static_responses:
                found["text"] = plan.pick_static(0)
                found["member"] = {"static": True}
                return
            config = plan.llm_config or {}
            messages = (
                ChatMessage(role="system", content=DEFAULT_BACKCHANNEL_PROMPT),
                *(m for m in request.messages if m.role != "system"),
            )
            asked = replace(
                request,
                llm_config=config,
                messages=messages,
                tools=(),
                tool_choice=None,
                response_schema=None,
                purpose="backchannel",
                on_text=None,
            )
            try:
                found["response"] = await self.client(config).chat(asked)
            except LLMError as exc:
                found["error"] = exc.message

        main = await race(
            Race(self, request).run(), filler, plan.patience_ms, sleep=self.sleep
        )
        if not found:
            return main
        extra: JsonDict = {**main.extra, "group_calls": call_records(main)}
        extra["backchannel_error"] = found.get("error")
        extra["backchannel_response"] = found.get("text")
        extra["backchannel_member"] = found.get("member")
        filled: ChatResponse | None = found.get("response")
        if filled is not None:
            extra["group_calls"] += call_records(filled)
            extra["backchannel_response"] = filled.content
            info = filled.extra.get("group") or {}
            extra["backchannel_member"] = {
                "index": info.get("winner_index"),
                "logical_id": info.get("winner"),
                "provider": filled.provider,
                "model": filled.model,
            }
            extra["backchannel_prompt_tokens"] = filled.usage.input_tokens
            extra["backchannel_completion_tokens"] = filled.usage.output_tokens
            extra["backchannel_total_tokens"] = filled.usage.total_tokens
        return replace(main, extra=extra)


class GroupDispatchLLM:
    """An ``LLM`` routing group configs to ``GroupLLM``, others to ``member_client``.

    What ``ConfigurableLLM.chat`` does once wired (and what tests drive executors
    with): ``llm_group`` / ``llm_group_with_backchannel`` → a ``GroupLLM`` over
    ``member_client``; any other config → ``member_client(config)``.
    """

    def __init__(
        self,
        member_client: Callable[[JsonDict], LLM],
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.member_client = member_client
        self.sleep = sleep
        self.clock = clock

    async def chat(self, request: ChatRequest) -> ChatResponse:
        config = request.llm_config
        if is_group(config):
            group = GroupLLM(
                config, self.member_client, sleep=self.sleep, clock=self.clock
            )
            return await group.chat(request)
        return await self.member_client(config).chat(request)
