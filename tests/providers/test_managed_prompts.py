"""Managed-prompt expansion: every string of a request, never the literal."""

from typing import Any

from threadline.providers.base import ChatMessage, ChatRequest, ToolSpec
from threadline.providers.fake import ScriptedLLM
from threadline.providers.managed_prompts import MARKER, ExpandingLLM, expand, names_in

TEXTS = {"persona": "You are Ada.", "filler": "Say 'one moment'."}


def test_names_are_found_in_order_and_stripped():
    text = "<<<managed_prompt:a>>> x <<<managed_prompt: b >>><<<managed_prompt:a>>>"
    assert names_in(text) == ["a", "b", "a"]


def test_known_names_are_replaced_and_unknown_ones_emptied():
    missing: set[str] = set()
    out = expand(
        "<<<managed_prompt:persona>>> Hi <<<managed_prompt:x>>>!", TEXTS, missing
    )
    assert out == "You are Ada. Hi !"
    assert missing == {"x"}


def test_a_marker_left_inside_a_text_or_never_closed_is_removed():
    texts = {"outer": "A <<<managed_prompt:inner>>> B"}
    assert expand("<<<managed_prompt:outer>>>", texts, set()) == "A  B"
    assert expand("x <<<managed_prompt:open", {}, set()) == "x open"


async def test_messages_tools_and_group_configs_are_expanded_before_the_call():
    inner = ScriptedLLM(["ok"])
    llm = ExpandingLLM(inner, TEXTS)
    group = {
        "type": "llm_group_with_backchannel",
        "backchannel_response_config": {"prompt": "<<<managed_prompt:filler>>>"},
        "llms": [{"type": "openai_llm", "model": "m"}],
    }
    request = ChatRequest(
        llm_config=group,
        messages=(
            ChatMessage(role="system", content="<<<managed_prompt:persona>>>"),
            ChatMessage(role="user", content="<<<managed_prompt:ghost>>>hello"),
        ),
        tools=(ToolSpec("t", "Use when <<<managed_prompt:persona>>>", {}),),
    )
    await llm.chat(request)
    sent = inner.requests[0]
    assert [m.content for m in sent.messages] == ["You are Ada.", "hello"]
    assert sent.tools[0].description == "Use when You are Ada."
    assert sent.llm_config["backchannel_response_config"]["prompt"] == TEXTS["filler"]
    assert request.messages[0].content == "<<<managed_prompt:persona>>>"  # unchanged
    warnings = llm.drain()
    assert [w["type"] for w in warnings] == ["workflow_warning"]
    assert "'ghost'" in warnings[0]["warning_message"]
    assert llm.drain() == []  # each unknown name is reported once


def _request(messages: list[ChatMessage]) -> ChatRequest:
    return ChatRequest(llm_config={"type": "openai_llm"}, messages=tuple(messages))


async def test_a_growing_conversation_is_expanded_once_per_message(monkeypatch):
    """Each call expands the system prompt, the new message and what was added
    since the last call, never the whole conversation again; the result and the
    names reported are those of expanding every message every call."""
    import threadline.providers.managed_prompts as managed

    expanded: list[str] = []
    real = managed.expand

    def counting(text: str, texts: Any, missing: set[str]) -> str:
        expanded.append(text)
        return real(text, texts, missing)

    monkeypatch.setattr(managed, "expand", counting)
    system = ChatMessage(role="system", content="<<<managed_prompt:persona>>> Help.")
    history: list[ChatMessage] = []
    per_call = []
    for n in range(120):
        marker = "<<<managed_prompt:filler>>>" if n % 7 == 0 else ""
        unknown = "<<<managed_prompt:gone>>>" if n == 30 else ""
        history.append(ChatMessage(role="user", content=f"q{n}{marker}{unknown}"))
        inner = ScriptedLLM(["ok"])
        llm = ExpandingLLM(inner, TEXTS)  # a new one per turn, as the driver does
        expanded.clear()
        await llm.chat(_request([system, *history]))
        per_call.append(len(expanded))
        want = [system, *history]
        sent = inner.requests[0].messages
        assert [m.content for m in sent] == [
            expand(m.content, TEXTS, set()) for m in want
        ]
        assert all(
            a is b
            for a, b in zip(sent[1:-1], want[1:-1], strict=True)
            if MARKER not in b.content
        )
        names = {w["warning_message"].split("'")[1] for w in llm.drain()}
        assert names == ({"gone"} if n >= 30 else set())
    # System prompt + the last message + the one added before it, + the config's
    # one string: the same at message 120 as at message 3.
    assert set(per_call[2:]) == {4}, per_call[:6]
