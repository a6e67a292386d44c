"""Managed-prompt expansion: every string of a request, never the literal."""

from threadline.providers.base import ChatMessage, ChatRequest, ToolSpec
from threadline.providers.fake import ScriptedLLM
from threadline.providers.managed_prompts import ExpandingLLM, expand, names_in

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
