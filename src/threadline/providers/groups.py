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
"""

import asyncio
from collections.abc import Awaitable, Callable
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


def _label(index: int, config: JsonDict) -> str:
    model = config.get("model") or config.get("type") or "?"
    return f"llms[{index}] ({model})"


def _patience(group: JsonDict) -> tuple[float, float | None]:
    raw_min = group.get("min_patience_time_ms", DEFAULT_MIN_PATIENCE_MS)
    raw_max = group.get("max_patience_time_ms")
    low = max(0.0, float(raw_min or 0)) / 1000.0
    high = None if raw_max is None else max(0.0, float(raw_max)) / 1000.0
    return low, high


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
        self.min_patience_s, self.max_patience_s = _patience(self.group)
        self.member_client = member_client
        self.sleep = sleep
        self.clock = clock or _loop_time

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
            response = await _Race(self, request).run()
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
            _Race(self, request).run(), filler, plan.patience_ms, sleep=self.sleep
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


class _Race:
    """One group call: the member tasks, the patience timers and the decision."""

    def __init__(self, group: GroupLLM, request: ChatRequest) -> None:
        self.group = group
        self.request = request
        self.tasks: dict[int, asyncio.Task[ChatResponse]] = {}
        self.started_at = group.clock()

    async def _call(self, index: int) -> ChatResponse:
        config = self.group.members[index]
        client = self.group.client(config)
        return await client.chat(replace(self.request, llm_config=config, on_text=None))

    def _start(self, indexes: range) -> None:
        for i in indexes:
            self.tasks[i] = asyncio.create_task(self._call(i), name=f"llm_group[{i}]")

    def _answered(self) -> list[int]:
        return sorted(
            i
            for i, t in self.tasks.items()
            if t.done() and not t.cancelled() and t.exception() is None
        )

    def _finished(self) -> bool:
        all_started = len(self.tasks) == len(self.group.members)
        return all_started and all(t.done() for t in self.tasks.values())

    def _raise_fatal(self) -> None:
        for task in self.tasks.values():
            if task.done() and not task.cancelled():
                exc = task.exception()
                if isinstance(exc, AssertionError):
                    raise exc

    async def run(self) -> ChatResponse:
        g = self.group
        grace = asyncio.create_task(_wait(g.sleep, g.min_patience_s))
        cap: asyncio.Task[None] | None = None
        if g.max_patience_s is not None:
            cap = asyncio.create_task(_wait(g.sleep, g.max_patience_s))
        parallel = g.mode == PARALLEL_SELECT_ONE
        try:
            self._start(range(len(g.members)) if parallel else range(1))
            while True:
                waiting = {t for t in self.tasks.values() if not t.done()}
                timers = {t for t in (grace, cap) if t is not None and not t.done()}
                if waiting:
                    await asyncio.wait(
                        waiting | timers, return_when=asyncio.FIRST_COMPLETED
                    )
                self._raise_fatal()
                winner = self._decide(parallel, grace)
                if winner is not None:
                    return await self._finish(winner)
                if cap is not None and cap.done():
                    raise self._error(timeout=True)
                if self._finished():
                    raise self._error(timeout=False)
        finally:
            await self._cancel_all(grace, cap)

    def _decide(self, parallel: bool, grace: asyncio.Task[Any]) -> int | None:
        answered = self._answered()
        if parallel:
            if answered and (grace.done() or self._finished()):
                return answered[0]
            return None
        if len(self.tasks) == 1:  # only llms[0] runs so far
            first = self.tasks[0]
            if answered:
                return 0
            if grace.done() or first.done():
                self._start(range(1, len(self.group.members)))
            return None
        return answered[0] if answered else None

    async def _finish(self, winner: int) -> ChatResponse:
        losers = [t for i, t in self.tasks.items() if i != winner and not t.done()]
        for loser in losers:
            loser.cancel()
        await asyncio.gather(*losers, return_exceptions=True)
        records: list[JsonDict] = []
        members: list[JsonDict] = []
        for i, config in enumerate(self.group.members):
            entry: JsonDict = {
                "index": i,
                "model": config.get("model"),
                "logical_id": config.get("logical_id"),
                "status": "not_started",
                "error": None,
            }
            task = self.tasks.get(i)
            if task is not None:
                if task.cancelled():
                    entry["status"] = "cancelled"
                elif task.exception() is not None:
                    entry["status"] = "failed"
                    entry["error"] = _reason(task.exception())
                else:  # answered (possibly despite a late cancel): it was paid for
                    records.extend(call_records(task.result()))
                    entry["status"] = "won" if i == winner else "lost"
            members.append(entry)
        response = self.tasks[winner].result()
        name = self.group.members[winner].get("logical_id") or f"llms[{winner}]"
        info = {
            "type": self.group.group.get("type") or "llm_group",
            "operation_mode": self.group.mode,
            "winner": name,
            "winner_index": winner,
            "elapsed_ms": round((self.group.clock() - self.started_at) * 1000, 3),
            "members": members,
        }
        extra = {**response.extra, "group": info, "group_calls": records}
        return replace(response, winner=str(name), extra=extra)

    def _error(self, *, timeout: bool) -> LLMError:
        parts: list[str] = []
        for i, config in enumerate(self.group.members):
            task = self.tasks.get(i)
            if task is None:
                why = "not started"
            elif not task.done():
                why = "no answer yet"
            elif task.cancelled():
                why = "cancelled"
            else:
                why = _reason(task.exception())
            parts.append(f"{_label(i, config)}: {why}")
        details = "; ".join(parts)
        if timeout:
            limit = round((self.group.max_patience_s or 0) * 1000)
            return LLMError(
                f"no member of the llm_group answered within max_patience_time_ms="
                f"{limit} ({details})",
                code="llm_group_timeout",
            )
        count = len(self.group.members)
        return LLMError(
            f"all {count} members of the llm_group failed ({details})",
            code="llm_group_failed",
        )

    async def _cancel_all(self, *timers: asyncio.Task[Any] | None) -> None:
        pending = [t for t in (*self.tasks.values(), *timers) if t and not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


async def _wait(sleep: Sleep, seconds: float) -> None:
    await sleep(seconds)


def _reason(exc: BaseException | None) -> str:
    if exc is None:
        return "ok"
    message = getattr(exc, "message", None) or str(exc)
    return f"{type(exc).__name__}: {message}"
