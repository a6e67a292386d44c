"""say_llm with an ``llm_group_with_backchannel`` config, and groups behind nodes.

Runs on a virtual clock (``run_virtual``): the main and filler calls take exactly
the delays given, so which of filler / answer comes first is deterministic.
"""

from typing import Any

import pytest

from tests.nodes.helpers import make_ports, make_task
from threadline.engine.steps import NodeResult
from threadline.nodes.llm import run_say_llm, run_worker_llm
from threadline.providers.base import LLMError
from threadline.providers.fake import ScriptedLLM
from threadline.providers.groups import GroupDispatchLLM
from threadline.providers.groups_backchannel import (
    DEFAULT_BACKCHANNEL_PROMPT,
    Backchannel,
)
from threadline.providers.groups_fakes import DelayedLLM, run_virtual

JsonDict = dict[str, Any]


def single(name: str) -> JsonDict:
    return {"type": "llm_group", "llms": [{"type": "custom_llm", "model": name}]}


def backchannel_config(**fields: Any) -> JsonDict:
    return {
        "type": "llm_group_with_backchannel",
        "main_llm_config": single("main"),
        "backchannel_min_patience_time_ms": 2000,
        **fields,
    }


class Setup:
    """A main model and a filler model, each with a delay."""

    def __init__(
        self,
        main_ms: float,
        main_reply: Any = "[MAIN] Your deductible is $500.",
        filler_ms: float = 0.0,
        filler_reply: Any = "Let me check that for you...",
    ) -> None:
        self.main = DelayedLLM(ScriptedLLM([main_reply]), main_ms)
        self.filler = DelayedLLM(ScriptedLLM([filler_reply]), filler_ms)
        self.models = {"main": self.main, "filler": self.filler}

    def run(self, node: JsonDict, runner: Any = run_say_llm, **task: Any) -> NodeResult:
        llm = GroupDispatchLLM(lambda config: self.models[str(config["model"])])
        ports = make_ports(llm=llm)
        history = task.pop("history", ({"type": "human", "content": "my deductible?"},))
        result: NodeResult = run_virtual(
            runner(make_task(node, history=history, **task), ports)
        )
        return result

    def served_tokens(self) -> int:
        return sum(
            r.usage.total_tokens for m in self.models.values() for r in m.responses
        )


def node(llms_config: JsonDict, **fields: Any) -> JsonDict:
    return {
        "type": "say_llm",
        "main_response_config": {"prompt": "You are the benefits specialist."},
        "llms_config": llms_config,
        **fields,
    }


def kinds(result: NodeResult) -> list[tuple[str, str | None]]:
    return [
        (e["type"], (e.get("response_metadata") or {}).get("message_type"))
        for e in result.events
    ]


def test_a_slow_main_answer_gets_an_llm_filler_spoken_first():
    s = Setup(main_ms=3000, filler_ms=200)
    config = backchannel_config(
        backchannel_llm_config=single("filler"),
        non_backchannel_response_prefix="[MAIN]",
    )
    result = s.run(
        node(config, backchannel_response_config={"prompt": "Filler for {{name}}."}),
        dynamic={"name": "Ann"},
    )
    assert kinds(result) == [
        ("say_llm", None),
        ("assistant_response", "backchannel"),
        ("say_llm", None),
        ("assistant_response", "llm"),
    ]
    bc_llm, bc_say, main_llm, main_say = result.events
    assert bc_say["content"] == "Let me check that for you..."
    assert bc_llm["message"]["response_metadata"] == {"message_type": "backchannel"}
    assert bc_say["llm_usage_info"] == bc_llm["llm_usage_info"]
    assert bc_say["llm_usage_info"]["total_tokens"] > 0
    # After a filler only the text following the prefix is spoken.
    assert main_say["content"] == "Your deductible is $500."
    assert [h["content"] for h in result.history] == [
        "Let me check that for you...",
        "Your deductible is $500.",
    ]
    # Both calls are accounted, exactly what the two models served.
    assert len(result.llm_calls) == 2
    assert sum(c["total_tokens"] for c in result.llm_calls) == s.served_tokens()
    filler_request = s.filler.inner.requests[0]  # type: ignore[attr-defined]
    assert filler_request.purpose == "backchannel"
    assert filler_request.messages[0].content == "Filler for Ann."
    assert [m.content for m in filler_request.messages[1:]] == ["my deductible?"]
    assert main_llm["llm_usage_info"]["total_tokens"] > 0


def test_a_fast_main_answer_needs_no_filler_and_loses_the_prefix_marker():
    s = Setup(main_ms=500, main_reply="Sure! [MAIN] It is $500.")
    config = backchannel_config(
        backchannel_llm_config=single("filler"),
        non_backchannel_response_prefix="[MAIN]",
    )
    result = s.run(node(config))
    assert kinds(result) == [("say_llm", None), ("assistant_response", "llm")]
    assert result.events[1]["content"] == "Sure! It is $500."
    assert s.filler.log == []  # never asked: nothing spent
    assert len(result.llm_calls) == 1


def test_an_answer_arriving_before_the_filler_cancels_it():
    s = Setup(main_ms=2100, filler_ms=500)  # filler would be ready at 2500
    result = s.run(node(backchannel_config(backchannel_llm_config=single("filler"))))
    assert kinds(result) == [("say_llm", None), ("assistant_response", "llm")]
    assert s.filler.log == ["started", "cancelled"]
    assert len(result.llm_calls) == 1
    assert sum(c["total_tokens"] for c in result.llm_calls) == s.served_tokens()


def test_static_fillers_in_sequence_follow_the_conversation():
    s = Setup(main_ms=2500, main_reply="It is $500.")
    config = backchannel_config(
        backchannel_static_responses=["One moment...", "Still checking..."],
        backchannel_static_responses_selection_mode="sequence",
        # A filler LLM is ignored when static responses are set.
        backchannel_llm_config=single("filler"),
    )
    history = (
        {"type": "human", "content": "hi"},
        {
            "type": "ai",
            "content": "One moment...",
            "response_metadata": {"message_type": "backchannel"},
        },
        {"type": "ai", "content": "Hello!"},
        {"type": "human", "content": "my deductible?"},
    )
    result = s.run(node(config), history=history)
    assert kinds(result) == [
        ("assistant_response", "backchannel"),
        ("say_llm", None),
        ("assistant_response", "llm"),
    ]
    assert result.events[0]["content"] == "Still checking..."
    assert result.events[0]["llm_usage_info"] is None
    assert result.history[0]["response_metadata"] == {"message_type": "backchannel"}
    assert s.filler.log == []
    assert len(result.llm_calls) == 1


def test_a_failed_filler_is_only_a_warning():
    s = Setup(main_ms=3000, main_reply="It is $500.", filler_reply=LLMError("down"))
    result = s.run(node(backchannel_config(backchannel_llm_config=single("filler"))))
    assert kinds(result) == [
        ("workflow_warning", None),
        ("say_llm", None),
        ("assistant_response", "llm"),
    ]
    assert "backchannel filler failed" in result.events[0]["warning_message"]
    assert len(result.llm_calls) == 1


def test_a_spoken_filler_stays_when_the_main_call_then_fails():
    s = Setup(main_ms=3000, main_reply=LLMError("main down"), filler_ms=100)
    config = backchannel_config(backchannel_llm_config=single("filler"))
    result = s.run(node(config, default_error_message="Sorry, try again."))
    assert kinds(result) == [
        ("say_llm", None),
        ("assistant_response", "backchannel"),
        ("assistant_response", "error"),
    ]
    assert len(result.llm_calls) == 1  # the filler; the failed call cost nothing


def test_the_workflow_prompt_then_a_default_prompt_drive_the_filler():
    s = Setup(main_ms=3000, filler_ms=10)
    config = backchannel_config(backchannel_llm_config=single("filler"))
    s.run(
        node(config),
        workflow={"backchannel_response_config": {"prompt": "Workflow filler."}},
    )
    assert s.filler.inner.requests[0].messages[0].content == "Workflow filler."  # type: ignore[attr-defined]
    s2 = Setup(main_ms=3000, filler_ms=10)
    s2.run(node(config))
    first = s2.filler.inner.requests[0].messages[0]  # type: ignore[attr-defined]
    assert first.content == DEFAULT_BACKCHANNEL_PROMPT


def test_workers_never_speak_a_filler():
    s = Setup(main_ms=3000, main_reply="done")
    config = backchannel_config(backchannel_static_responses=["One moment..."])
    result = s.run({**node(config), "type": "worker_llm"}, runner=run_worker_llm)
    assert kinds(result) == [("worker_llm", None)]


def test_a_group_behind_a_say_node_accounts_every_member_call():
    main = DelayedLLM(ScriptedLLM(["slow but preferred"]), 900)
    fast = DelayedLLM(ScriptedLLM(["fast"]), 100)
    models = {"main": main, "fast": fast}
    config = {
        "type": "llm_group",
        "operation_mode": "parallel_select_one",
        "min_patience_time_ms": 1000,
        "llms": [
            {"type": "custom_llm", "model": "main"},
            {"type": "custom_llm", "model": "fast"},
        ],
    }
    ports = make_ports(llm=GroupDispatchLLM(lambda c: models[str(c["model"])]))
    result = run_virtual(run_say_llm(make_task(node(config)), ports))
    assert result.events[-1]["content"] == "slow but preferred"
    served = [r for m in models.values() for r in m.responses]
    assert len(result.llm_calls) == len(served) == 2
    assert sum(c["total_tokens"] for c in result.llm_calls) == sum(
        r.usage.total_tokens for r in served
    )


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"type": "llm_group"}, None),
        ({"type": "llm_group_with_backchannel"}, None),  # no filler source
        (
            {
                "type": "llm_group_with_backchannel",
                "backchannel_static_responses": ["a"],
                "backchannel_min_patience_time_ms": None,
            },
            2000,
        ),
    ],
)
def test_backchannel_settings(config, expected):
    plan = Backchannel.from_config(config)
    assert (plan.patience_ms if plan else None) == expected


def test_prefix_rules():
    plan = Backchannel(prefix="[MAIN]")
    assert plan.main_text("Ok. [MAIN] Answer.", after_filler=True) == "Answer."
    assert plan.main_text("Ok. [MAIN] Answer.", after_filler=False) == "Ok. Answer."
    assert plan.main_text("No marker.", after_filler=True) == "No marker."
    assert Backchannel().main_text("[MAIN] x", after_filler=True) == "[MAIN] x"
