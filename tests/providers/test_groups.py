"""LLM groups: patience windows, winners, cancellation, failures and accounting.

Every race runs on a virtual clock (``run_virtual``): member delays and patience
windows are exact, so the outcomes below are deterministic.
"""

import asyncio
from typing import Any

import pytest

from threadline.engine import usage
from threadline.nodes.llm_calls import CallLog
from threadline.providers.base import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    LLMError,
    Usage,
)
from threadline.providers.fake import ScriptedLLM
from threadline.providers.groups import (
    GroupDispatchLLM,
    GroupLLM,
    call_records,
    is_group,
)
from threadline.providers.groups_fakes import DelayedLLM, run_virtual

JsonDict = dict[str, Any]
MESSAGES = (ChatMessage("system", "be brief"), ChatMessage("user", "hello there"))


def member(name: str, **extra: Any) -> JsonDict:
    return {"type": "custom_llm", "model": name, "logical_id": f"llm_{name}", **extra}


def group(mode: str, names: list[str], **timing: Any) -> JsonDict:
    return {
        "type": "llm_group",
        "operation_mode": mode,
        "llms": [member(n) for n in names],
        **timing,
    }


class Members(dict[str, DelayedLLM]):
    """The fake member clients, by model name."""

    def add(self, name: str, delay_ms: float, *replies: Any) -> DelayedLLM:
        reply = replies or (f"answer from {name}",)
        self[name] = DelayedLLM(ScriptedLLM(list(reply)), delay_ms)
        return self[name]

    def client(self, config: JsonDict) -> DelayedLLM:
        return self[str(config["model"])]

    def served(self) -> list[ChatResponse]:
        return [r for m in self.values() for r in m.responses]


def ask(llm: Any, config: JsonDict, **kwargs: Any) -> Any:
    """Run one request on a virtual clock; returns (response, elapsed ms)."""

    async def go() -> tuple[ChatResponse, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        request = ChatRequest(llm_config=config, messages=MESSAGES, **kwargs)
        response = await llm.chat(request)
        return response, round((loop.time() - start) * 1000, 3)

    return run_virtual(go())


def fails(llm: Any, config: JsonDict) -> tuple[LLMError, float]:
    async def go() -> tuple[LLMError, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(LLMError) as info:
            await llm.chat(ChatRequest(llm_config=config, messages=MESSAGES))
        return info.value, round((loop.time() - start) * 1000, 3)

    return run_virtual(go())


def statuses(response: ChatResponse) -> list[str]:
    return [m["status"] for m in response.extra["group"]["members"]]


def assert_exact_accounting(response: ChatResponse, members: Members) -> None:
    """The group's records are exactly the responses the members served."""
    served = members.served()
    records = call_records(response)
    assert len(records) == len(served)
    assert sorted(r["response_model"] for r in records) == sorted(
        s.model for s in served
    )
    assert sum(r["total_tokens"] for r in records) == sum(
        s.usage.total_tokens for s in served
    )
    assert sum(r["input_tokens"] for r in records) == sum(
        s.usage.input_tokens for s in served
    )


# --- parallel_select_one -------------------------------------------------------


def test_parallel_takes_the_only_answer_at_min_patience_and_cancels_the_rest():
    m = Members()
    m.add("a", 2000)
    m.add("b", 300)
    m.add("c", 2500)
    cfg = group("parallel_select_one", ["a", "b", "c"], min_patience_time_ms=1000)
    response, elapsed = ask(GroupLLM(cfg, m.client), cfg)
    assert response.content == "answer from b"
    assert response.winner == "llm_b"
    assert elapsed == 1000  # waited out min patience although b answered at 300
    assert response.extra["group"]["winner_index"] == 1
    assert response.extra["group"]["elapsed_ms"] == 1000
    assert statuses(response) == ["cancelled", "won", "cancelled"]
    assert m["a"].log == ["started", "cancelled"]
    assert m["c"].log == ["started", "cancelled"]
    assert_exact_accounting(response, m)
    assert len(call_records(response)) == 1


def test_parallel_prefers_the_first_member_answering_within_min_patience():
    m = Members()
    m.add("a", 800)
    m.add("b", 100)
    cfg = group("parallel_select_one", ["a", "b"], min_patience_time_ms=1000)
    response, elapsed = ask(GroupLLM(cfg, m.client), cfg)
    assert (response.content, elapsed) == ("answer from a", 800)  # all answered
    assert statuses(response) == ["won", "lost"]
    # The loser answered, so it was paid for: both calls are accounted.
    assert [r["response_model"] for r in call_records(response)] == [
        "fake-model",
        "fake-model",
    ]
    assert_exact_accounting(response, m)


def test_parallel_stops_waiting_when_every_member_has_answered():
    m = Members()
    m.add("a", 200)
    m.add("b", 100)
    cfg = group("parallel_select_one", ["a", "b"])  # min patience 1500 by default
    response, elapsed = ask(GroupLLM(cfg, m.client), cfg)
    assert (response.content, elapsed) == ("answer from a", 200)


def test_parallel_takes_the_first_answer_after_min_patience():
    m = Members()
    m.add("a", 2000)
    m.add("b", 3000)
    m.add("c", 1200)
    cfg = group(
        "parallel_select_one",
        ["a", "b", "c"],
        min_patience_time_ms=1000,
        max_patience_time_ms=5000,
    )
    response, elapsed = ask(GroupLLM(cfg, m.client), cfg)
    assert (response.content, elapsed) == ("answer from c", 1200)
    assert statuses(response) == ["cancelled", "cancelled", "won"]


def test_parallel_gives_up_at_max_patience():
    m = Members()
    m.add("a", 5000)
    m.add("b", 6000)
    cfg = group(
        "parallel_select_one",
        ["a", "b"],
        min_patience_time_ms=500,
        max_patience_time_ms=3000,
    )
    error, elapsed = fails(GroupLLM(cfg, m.client), cfg)
    assert error.code == "llm_group_timeout"
    assert elapsed == 3000
    assert "max_patience_time_ms=3000" in error.message
    assert "llms[0] (a): no answer yet" in error.message
    assert m["a"].log == m["b"].log == ["started", "cancelled"]
    assert m.served() == []


def test_a_failing_member_does_not_fail_the_group():
    m = Members()
    m.add("a", 100, LLMError("rate limited"))
    m.add("b", 900)
    cfg = group("parallel_select_one", ["a", "b"], min_patience_time_ms=500)
    response, elapsed = ask(GroupLLM(cfg, m.client), cfg)
    assert (response.content, elapsed) == ("answer from b", 900)
    members = response.extra["group"]["members"]
    assert [x["status"] for x in members] == ["failed", "won"]
    assert members[0]["error"] == "LLMError: rate limited"
    assert_exact_accounting(response, m)


@pytest.mark.parametrize("mode", ["parallel_select_one", "sequential_with_proactive"])
def test_all_members_failing_fails_the_group_with_each_error(mode):
    m = Members()
    m.add("a", 100, LLMError("quota exceeded"))
    m.add("b", 200, RuntimeError("connection reset"))
    cfg = group(mode, ["a", "b"])
    error, elapsed = fails(GroupLLM(cfg, m.client), cfg)
    assert error.code == "llm_group_failed"
    assert "all 2 members of the llm_group failed" in error.message
    assert "llms[0] (a): LLMError: quota exceeded" in error.message
    assert "llms[1] (b): RuntimeError: connection reset" in error.message
    # Sequential: a's failure fires b at once instead of waiting out min patience.
    assert elapsed == (200 if mode == "parallel_select_one" else 300)


def test_a_member_that_cannot_be_built_counts_as_failed():
    m = Members()
    m.add("b", 50)

    def client(config: JsonDict) -> DelayedLLM:
        if config["model"] == "a":
            raise LLMError("provider 'anthropic' is not supported yet")
        return m.client(config)

    cfg = group("sequential_with_proactive", ["a", "b"])
    response, elapsed = ask(GroupLLM(cfg, client), cfg)
    assert (response.content, elapsed) == ("answer from b", 50)
    assert statuses(response) == ["failed", "won"]


# --- sequential_with_proactive -------------------------------------------------


def test_sequential_first_member_in_time_never_calls_the_others():
    m = Members()
    m.add("a", 900)
    m.add("b", 10)
    cfg = group("sequential_with_proactive", ["a", "b"], min_patience_time_ms=1500)
    response, elapsed = ask(GroupLLM(cfg, m.client), cfg)
    assert (response.content, elapsed) == ("answer from a", 900)
    assert statuses(response) == ["won", "not_started"]
    assert m["b"].log == []
    assert_exact_accounting(response, m)


def test_sequential_fires_the_rest_after_min_patience_and_the_first_answer_wins():
    m = Members()
    m.add("a", 3000)
    m.add("b", 400)
    m.add("c", 900)
    cfg = group("sequential_with_proactive", ["a", "b", "c"])  # min 1500
    response, elapsed = ask(GroupLLM(cfg, m.client), cfg)
    assert (response.content, elapsed) == ("answer from b", 1900)  # 1500 + 400
    assert statuses(response) == ["cancelled", "won", "cancelled"]
    assert m["a"].log == ["started", "cancelled"]
    assert_exact_accounting(response, m)


def test_sequential_first_member_can_still_win_after_the_others_started():
    m = Members()
    m.add("a", 1700)
    m.add("b", 500)
    cfg = group("sequential_with_proactive", ["a", "b"], min_patience_time_ms=1500)
    response, elapsed = ask(GroupLLM(cfg, m.client), cfg)
    assert (response.content, elapsed) == ("answer from a", 1700)
    assert statuses(response) == ["won", "cancelled"]
    assert m["b"].log == ["started", "cancelled"]


def test_sequential_respects_max_patience():
    m = Members()
    m.add("a", 9000)
    cfg = group(
        "sequential_with_proactive",
        ["a"],
        min_patience_time_ms=1000,
        max_patience_time_ms=2000,
    )
    error, elapsed = fails(GroupLLM(cfg, m.client), cfg)
    assert (error.code, elapsed) == ("llm_group_timeout", 2000)


def test_the_default_mode_is_sequential_with_proactive():
    m = Members()
    m.add("a", 100)
    m.add("b", 10)
    cfg = {"type": "llm_group", "llms": [member("a"), member("b")]}
    response, _ = ask(GroupLLM(cfg, m.client), cfg)
    assert response.content == "answer from a"
    assert response.extra["group"]["operation_mode"] == "sequential_with_proactive"
    assert m["b"].log == []


# --- requests, nesting, streaming, configuration --------------------------------


def test_members_get_their_own_config_and_the_winner_text_is_streamed_once():
    m = Members()
    a = m.add("a", 10)
    chunks: list[str] = []

    async def on_text(text: str) -> None:
        chunks.append(text)

    cfg = group("sequential_with_proactive", ["a"])
    response, _ = ask(GroupLLM(cfg, m.client), cfg, on_text=on_text)
    inner = a.inner
    assert isinstance(inner, ScriptedLLM)
    assert inner.requests[0].llm_config == member("a")
    assert inner.requests[0].on_text is None
    assert chunks == [response.content]


def test_a_backchannel_config_is_served_by_its_main_group():
    m = Members()
    m.add("a", 10)
    main = group("sequential_with_proactive", ["a"])
    cfg = {
        "type": "llm_group_with_backchannel",
        "main_llm_config": main,
        "backchannel_static_responses": ["One moment..."],
    }
    response, _ = ask(GroupLLM(cfg, m.client), cfg)
    assert response.content == "answer from a"
    with pytest.raises(LLMError, match="no main_llm_config"):
        GroupLLM({"type": "llm_group_with_backchannel"}, m.client)


def test_nested_group_calls_are_flattened_into_the_accounting():
    m = Members()
    m.add("a", 100)
    m.add("b", 50)
    m.add("c", 2000)
    inner = group("parallel_select_one", ["a", "b"], min_patience_time_ms=0)
    cfg = {
        "type": "llm_group",
        "operation_mode": "parallel_select_one",
        "min_patience_time_ms": 0,
        "llms": [inner, member("c")],
    }
    response, elapsed = ask(GroupLLM(cfg, m.client), cfg)
    # Inner group: b answers at 50 (min patience 0) and wins; a is cancelled.
    assert (response.content, elapsed) == ("answer from b", 50)
    assert_exact_accounting(response, m)


def test_bad_group_configs_are_llm_errors():
    m = Members()
    with pytest.raises(LLMError, match="operation_mode") as info:
        GroupLLM({"type": "llm_group", "operation_mode": "round_robin"}, m.client)
    assert info.value.code == "llm_not_configured"
    empty = {"type": "llm_group", "llms": []}
    error, _ = fails(GroupLLM(empty, m.client), empty)
    assert error.code == "llm_not_configured"


def test_assertion_errors_from_members_are_not_swallowed():
    m = Members()
    m.add("a", 10, AssertionError("script exhausted"))
    m.add("b", 500)
    cfg = group("parallel_select_one", ["a", "b"])

    async def go() -> None:
        with pytest.raises(AssertionError, match="script exhausted"):
            await GroupLLM(cfg, m.client).chat(
                ChatRequest(llm_config=cfg, messages=MESSAGES)
            )

    run_virtual(go())
    assert m["b"].log == ["started", "cancelled"]


def test_an_injected_sleep_drives_the_patience_windows():
    m = Members()
    m.add("a", 10_000)
    m.add("b", 20)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(0 if seconds < 5 else 3600)

    cfg = group("sequential_with_proactive", ["a", "b"], max_patience_time_ms=9000)
    response, elapsed = ask(GroupLLM(cfg, m.client, sleep=sleep), cfg)
    assert sorted(slept) == [1.5, 9.0]
    assert (response.content, elapsed) == ("answer from b", 20)  # grace was instant


# --- accounting ---------------------------------------------------------------


def test_call_records_of_a_plain_response_is_its_own_record():
    response = ChatResponse("hi", usage=Usage(1, 2, 3), model="m", provider="p")
    assert call_records(response) == [response.call_record()]


def test_the_call_log_records_every_member_call_and_totals_add_up():
    m = Members()
    m.add("a", 800, ChatResponse("a says hi", usage=Usage(11, 3, 14), model="m-a"))
    m.add("b", 100, ChatResponse("b", usage=Usage(13, 1, 14), model="m-b"))
    m.add("c", 5000, ChatResponse("never", usage=Usage(99, 99, 198), model="m-c"))
    m.add("d", 50, LLMError("boom"))
    cfg = group("parallel_select_one", ["a", "b", "c", "d"], min_patience_time_ms=1000)
    plain = ScriptedLLM([ChatResponse("x", usage=Usage(5, 1, 6), model="m-x")])

    def client(config: JsonDict) -> Any:
        return plain if config["model"] == "x" else m.client(config)

    log = CallLog(GroupDispatchLLM(client), cfg)

    async def go() -> None:
        first = await log.call(MESSAGES)
        assert first.content == "a says hi"
        await log.call(MESSAGES, llm_config=member("x"))

    run_virtual(go())
    assert [c["response_model"] for c in log.calls] == ["m-a", "m-b", "m-x"]
    totals: JsonDict = {}
    usage.add_calls(totals, log.calls)
    summary = usage.token_usage(totals)
    assert summary["total_input_tokens"] == 11 + 13 + 5
    assert summary["total_output_tokens"] == 3 + 1 + 1
    assert summary["total_tokens"] == 14 + 14 + 6
    assert summary["call_count"] == 3


def test_dispatch_sends_only_groups_to_group_llm():
    m = Members()
    m.add("a", 10)
    dispatch = GroupDispatchLLM(m.client)
    plain, _ = ask(dispatch, member("a"))
    assert plain.winner is None and "group_calls" not in plain.extra
    assert is_group(group("parallel_select_one", ["a"]))
    assert not is_group(member("a")) and not is_group(None)


# --- a whole backchannel config at the LLM level (e.g. the /test endpoint) ------


def backchannel(**fields: Any) -> JsonDict:
    return {
        "type": "llm_group_with_backchannel",
        "main_llm_config": group("sequential_with_proactive", ["main"]),
        "backchannel_min_patience_time_ms": 2000,
        **fields,
    }


def test_llm_level_backchannel_reports_the_filler_and_accounts_its_call():
    m = Members()
    m.add("main", 3000)
    m.add("filler", 300, "One moment...")
    cfg = backchannel(backchannel_llm_config=group("parallel_select_one", ["filler"]))
    response, elapsed = ask(GroupLLM(cfg, m.client), cfg)
    assert (response.content, elapsed) == ("answer from main", 3000)
    extra = response.extra
    assert extra["backchannel_response"] == "One moment..."
    assert extra["backchannel_member"] == {
        "index": 0,
        "logical_id": "llm_filler",
        "provider": "fake",
        "model": "fake-model",
    }
    served = m["filler"].responses[0].usage
    assert extra["backchannel_total_tokens"] == served.total_tokens
    assert extra["backchannel_error"] is None
    filler_request = m["filler"].inner.requests[0]  # type: ignore[attr-defined]
    assert filler_request.purpose == "backchannel"
    assert filler_request.messages[0].role == "system"
    assert [x.content for x in filler_request.messages[1:]] == ["hello there"]
    assert_exact_accounting(response, m)
    assert len(call_records(response)) == 2


def test_llm_level_backchannel_static_fast_and_failing_fillers():
    m = Members()
    m.add("main", 2500)
    static = backchannel(backchannel_static_responses=["Hold on..."])
    response, _ = ask(GroupLLM(static, m.client), static)
    assert response.extra["backchannel_response"] == "Hold on..."
    assert response.extra["backchannel_member"] == {"static": True}
    assert len(call_records(response)) == 1

    m.add("main", 1000)
    m.add("filler", 10, "unused")
    fast = backchannel(backchannel_llm_config=group("parallel_select_one", ["filler"]))
    response, _ = ask(GroupLLM(fast, m.client), fast)
    assert "backchannel_response" not in response.extra
    assert m["filler"].log == []

    m.add("main", 2500)
    m.add("filler", 10, LLMError("filler down"))
    response, _ = ask(GroupLLM(fast, m.client), fast)
    assert response.content == "answer from main"
    assert "filler down" in response.extra["backchannel_error"]
    assert response.extra["backchannel_response"] is None
    assert_exact_accounting(response, m)
