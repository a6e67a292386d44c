"""LLM node executors (say_llm, worker_llm, workflow_run_evaluator) with ScriptedLLM."""

import json
from dataclasses import dataclass, field
from typing import Any

from threadline.config.base import dump
from threadline.config.nodes.llm import (
    SayLLMNodeConfig,
    WorkerLLMNodeConfig,
    WorkflowRunEvaluatorNodeConfig,
)
from threadline.config.workflow import WorkflowConfig
from threadline.engine.steps import Destination, NodeTask, Scope
from threadline.nodes.base import Ports
from threadline.nodes.llm import LLM_EXECUTORS, ToolOutcome
from threadline.providers.base import ChatResponse, LLMError, Usage
from threadline.providers.fake import ScriptedLLM, tool_call

HI = {"type": "human", "content": "Hi, I'm Ann."}
CUSTOM = {"type": "custom_llm", "base_url": "http://x/v1", "model": "m"}


@dataclass
class ToolPorts(Ports):
    tools: Any = None


@dataclass
class FakeRunner:
    result: Any = "42"
    fail: bool = False
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def run(
        self, tool: dict[str, Any], args: dict[str, Any], task: NodeTask
    ) -> ToolOutcome:
        self.calls.append((tool["name"], args))
        if self.fail:
            return ToolOutcome(success=False, error="backend down")
        return ToolOutcome(success=True, result=self.result, variables={"mapped": 1})


def say(**fields: Any) -> dict[str, Any]:
    fields.setdefault("logical_id", "node_say")
    fields.setdefault("name", "Assistant")
    fields.setdefault(
        "main_response_config", {"prompt": "Help {{patient}} with [[topic]]."}
    )
    return dump(SayLLMNodeConfig.model_validate(fields))


def worker(**fields: Any) -> dict[str, Any]:
    fields.setdefault("logical_id", "node_worker")
    return dump(WorkerLLMNodeConfig.model_validate(fields))


def workflow(**fields: Any) -> dict[str, Any]:
    fields.setdefault("llms_config", CUSTOM)
    return dump(WorkflowConfig.model_validate(fields))


def task(node: dict[str, Any], **kwargs: Any) -> NodeTask:
    return NodeTask(
        thread_id="0",
        node=node,
        node_run_id=kwargs.pop("node_run_id", 1),
        messages=(HI,),
        history=kwargs.pop("history", (HI,)),
        scope=Scope(
            dynamic=kwargs.pop("dynamic", {"patient": "Ann"}),
            runtime=kwargs.pop("runtime", {"topic": "billing"}),
            threads={},
        ),
        workflow=kwargs.pop("workflow", workflow()),
        **kwargs,
    )


def ports(llm: ScriptedLLM, runner: Any = None) -> ToolPorts:
    return ToolPorts(llm=llm, clock=lambda: 1234.5, tools=runner)


def dest(
    node_id: str, condition: str, kind: str = "conditional", **kw: Any
) -> Destination:
    return Destination(
        edge={"logical_id": f"edge_{node_id}"},
        node_logical_id=node_id,
        condition=condition,
        args_schema=kw.get("args_schema"),
        kind=kind,
    )


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


# --- prompt assembly -------------------------------------------------------------


async def test_prompt_is_prefix_node_prompt_suffix_with_substitution():
    llm = ScriptedLLM(["Sure."])
    wf = workflow(
        default_prompt_prefix="Clinic {{clinic}}.", default_prompt_suffix="Be kind."
    )
    await LLM_EXECUTORS["say_llm"](
        task(say(), workflow=wf, dynamic={"patient": "Ann", "clinic": "North"}),
        ports(llm),
    )
    system, user = llm.requests[0].messages
    assert system.role == "system"
    assert system.content == "Clinic North.\n\nHelp Ann with billing.\n\nBe kind."
    assert (user.role, user.content) == ("user", "Hi, I'm Ann.")


async def test_nodes_can_opt_out_and_fall_back_to_the_workflow_prompt():
    llm = ScriptedLLM(["a", "b"])
    wf = workflow(
        default_prompt_prefix="PRE",
        default_prompt_suffix="SUF",
        main_response_config={"prompt": "Workflow prompt for [[topic]]."},
    )
    node = say(ignore_default_prompt_prefix=True, main_response_config=None)
    await LLM_EXECUTORS["say_llm"](task(node, workflow=wf), ports(llm))
    node = say(ignore_default_prompt_suffix=True)
    await LLM_EXECUTORS["say_llm"](task(node, workflow=wf), ports(llm))
    assert llm.requests[0].messages[0].content == "Workflow prompt for billing.\n\nSUF"
    assert llm.requests[1].messages[0].content == "PRE\n\nHelp Ann with billing."


async def test_llm_config_is_the_nodes_unless_it_uses_the_workflow_default():
    llm = ScriptedLLM(["a", "b"])
    await LLM_EXECUTORS["say_llm"](task(say()), ports(llm))
    own = {"type": "custom_llm", "base_url": "http://own/v1", "model": "own"}
    await LLM_EXECUTORS["say_llm"](task(say(llms_config=own)), ports(llm))
    assert llm.requests[0].llm_config["base_url"] == "http://x/v1"
    assert llm.requests[1].llm_config["base_url"] == "http://own/v1"


async def test_history_is_converted_repaired_and_truncated():
    history = (
        {"type": "tool", "content": "orphan", "tool_call_id": "gone"},
        {"type": "human", "content": "first"},
        {
            "type": "ai",
            "content": "[Internal-only memo]: navigated",
            "response_metadata": {"navigation_message": "true"},
        },
        {
            "type": "ai",
            "content": "",
            "tool_calls": [{"id": "c1", "name": "f", "args": {}}],
        },
        {"type": "tool", "content": "done", "tool_call_id": "c1"},
        {
            "type": "ai",
            "content": "routing",
            "tool_calls": [{"id": "d", "name": "D", "args": {}}],
        },
        HI,
    )
    llm = ScriptedLLM(["a", "b"])
    await LLM_EXECUTORS["say_llm"](task(say(), history=history), ports(llm))
    roles = [(m.role, m.content) for m in llm.requests[0].messages[1:]]
    assert roles == [
        ("user", "first"),
        ("assistant", "[Internal-only memo]: navigated"),
        ("assistant", ""),
        ("tool", "done"),
        ("assistant", "routing"),  # its unanswered tool call was dropped
        ("user", "Hi, I'm Ann."),
    ]
    assert llm.requests[0].messages[3].tool_calls[0].id == "c1"
    assert llm.requests[0].messages[5].tool_calls == ()

    limited = {**CUSTOM, "truncated_max_recent_messages": 3}
    await LLM_EXECUTORS["say_llm"](
        task(say(llms_config=limited), history=history), ports(llm)
    )
    assert [m.content for m in llm.requests[1].messages[1:]] == [
        "routing",
        "Hi, I'm Ann.",
    ]


# --- say_llm speaks ----------------------------------------------------------------


async def test_say_llm_speaks_and_appends_history():
    llm = ScriptedLLM(["Hello Ann, how can I help?"])
    result = await LLM_EXECUTORS["say_llm"](task(say()), ports(llm))
    assert types(result.events) == ["say_llm", "assistant_response"]
    say_event, spoken = result.events
    assert say_event["message"] == {
        "type": "ai",
        "content": "Hello Ann, how can I help?",
    }
    assert spoken["content"] == "Hello Ann, how can I help?"
    assert spoken["response_metadata"] == {"message_type": "llm"}
    usage = spoken["llm_usage_info"]
    assert {
        k: usage[k] for k in ("model", "provider", "input_tokens", "output_tokens")
    } == {
        "model": "fake-model",
        "provider": "fake",
        "input_tokens": 4 + 3,  # "Help Ann with billing." + "Hi, I'm Ann."
        "output_tokens": 6,
    }
    assert usage["total_tokens"] == 13
    assert usage["latency_ms"] == 5.0
    assert result.history == [{"type": "ai", "content": "Hello Ann, how can I help?"}]
    assert result.output == {"structured_output": {}}
    assert result.destination is None
    assert result.error is None
    assert result.finished_at == 1234.5
    assert len(result.llm_calls) == 1
    assert result.llm_calls[0]["total_tokens"] == 13


async def test_worker_llm_is_silent():
    llm = ScriptedLLM(["internal note"])
    result = await LLM_EXECUTORS["worker_llm"](task(worker()), ports(llm))
    assert types(result.events) == ["worker_llm"]
    assert result.history == []
    assert result.output == {
        "structured_output": {},
        "free_form_output": "internal note",
    }


# --- routing through destination tools -------------------------------------------


async def test_destination_tool_call_returns_destination_and_args():
    llm = ScriptedLLM(
        [
            ChatResponse(
                content="Transferring you now.",
                tool_calls=(
                    tool_call(
                        "Destination_Node__node_bill", {"justification": "billing"}
                    ),
                ),
            )
        ]
    )
    destinations = (
        dest("node_bill", "The user asks about billing"),
        dest(
            "node_vip",
            "User is VIP",
            args_schema={"type": "object", "properties": {"tier": {"type": "string"}}},
        ),
    )
    result = await LLM_EXECUTORS["say_llm"](
        task(say(), destinations=destinations), ports(llm)
    )
    tools = {t.name: t for t in llm.requests[0].tools}
    assert set(tools) == {"Destination_Node__node_bill", "Destination_Node__node_vip"}
    bill = tools["Destination_Node__node_bill"]
    assert bill.description == "The user asks about billing"
    assert bill.parameters["required"] == ["justification"]
    assert tools["Destination_Node__node_vip"].parameters["properties"] == {
        "tier": {"type": "string"}
    }
    assert llm.requests[0].tool_choice == "auto"
    assert result.destination == "node_bill"
    assert result.destination_args == {"justification": "billing"}
    assert types(result.events) == ["say_llm", "assistant_response"]
    assert result.history == [{"type": "ai", "content": "Transferring you now."}]


async def test_ignore_content_flag_drops_text_sent_with_a_tool_call():
    llm = ScriptedLLM(
        [
            ChatResponse(
                content="Transferring.", tool_calls=(tool_call("Destination_Node__b"),)
            )
        ]
    )
    node = say(ignore_content_received_during_llm_tool_call_specification=True)
    result = await LLM_EXECUTORS["say_llm"](
        task(node, destinations=(dest("b", "c"),)), ports(llm)
    )
    assert types(result.events) == ["say_llm"]
    assert result.events[0]["message"]["content"] == ""
    assert result.history == []
    assert result.destination == "b"


async def test_tools_disabled_offers_no_functions():
    llm = ScriptedLLM(["No routing now."])
    tool = {"type": "inline_python", "name": "f", "code": "def f(): pass"}
    node = say(tools_config={"tools": [tool]})
    result = await LLM_EXECUTORS["say_llm"](
        task(node, destinations=(dest("b", "c"),), tools_disabled=True),
        ports(llm, FakeRunner()),
    )
    assert llm.requests[0].tools == ()
    assert llm.requests[0].tool_choice is None
    assert result.destination is None


# --- the react loop ------------------------------------------------------------


def lookup_tool(**extra: Any) -> dict[str, Any]:
    return {
        "type": "inline_python",
        "code": "def lookup(claim_id, team):\n    return {}",
        "name": "lookup claim",
        "signature": "Look up claim for {{patient}}.",
        "args_schema": {
            "type": "object",
            "properties": {"claim_id": {"type": "string"}, "team": {"type": "string"}},
            "required": ["claim_id", "team"],
        },
        "variable_arguments": [
            {"argument_name": "team", "variable_path": "team_id", "source": "dynamic"}
        ],
        "result_runtime_variable_name": "claim",
        **extra,
    }


async def test_react_loop_runs_tools_and_is_bounded():
    call = tool_call("lookup_claim", {"claim_id": "C1"})
    llm = ScriptedLLM(
        [
            ChatResponse(content="Let me check.", tool_calls=(call,)),
            [tool_call("lookup_claim", {"claim_id": "C2"}, id="c2")],
            "Your claim is approved.",
        ]
    )
    runner = FakeRunner(result={"status": "approved"})
    wf_tool = {"type": "inbuilt_function", "tool_id": "math_add"}
    node = say(tools_config={"tools": [lookup_tool()]}, max_consecutive_tool_calls=2)
    result = await LLM_EXECUTORS["say_llm"](
        task(node, workflow=workflow(tools_config={"tools": [wf_tool]})),
        ports(llm, runner),
    )
    first_tools = {t.name: t for t in llm.requests[0].tools}
    assert set(first_tools) == {"lookup_claim", "math_add"}
    spec = first_tools["lookup_claim"]
    assert spec.description == "Look up claim for Ann."
    assert spec.parameters["properties"] == {"claim_id": {"type": "string"}}
    assert spec.parameters["required"] == ["claim_id"]
    assert first_tools["math_add"].parameters["required"] == ["a", "b"]
    assert [t.name for t in llm.requests[2].tools] == []  # budget spent: no user tools
    assert runner.calls == [
        ("lookup claim", {"claim_id": "C1"}),
        ("lookup claim", {"claim_id": "C2"}),
    ]
    assert len(llm.requests) == 3
    assert [m.role for m in llm.requests[2].messages] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
    ]
    assert llm.requests[2].messages[3].content == '{"status": "approved"}'
    assert types(result.events) == [
        "say_llm",
        "assistant_response",
        "say_llm",
        "say_llm",
        "assistant_response",
    ]
    assert result.events[-1]["content"] == "Your claim is approved."
    assert [h["type"] for h in result.history] == ["ai", "tool", "ai", "tool", "ai"]
    assert result.history[0]["tool_calls"][0]["args"] == {"claim_id": "C1"}
    assert result.variables == {"claim": {"status": "approved"}, "mapped": 1}
    assert len(result.llm_calls) == 3


async def test_calls_past_the_budget_are_refused_and_failures_reported():
    llm = ScriptedLLM(
        [
            [
                tool_call("lookup_claim", {"claim_id": "1"}, id="a"),
                tool_call("lookup_claim", {"claim_id": "2"}, id="b"),
            ],
            "Sorry, the lookup failed.",
        ]
    )
    runner = FakeRunner(fail=True)
    node = say(tools_config={"tools": [lookup_tool()]})
    result = await LLM_EXECUTORS["say_llm"](task(node), ports(llm, runner))
    assert len(runner.calls) == 1
    tool_messages = [m.content for m in llm.requests[1].messages if m.role == "tool"]
    assert tool_messages[0] == "Error: backend down"
    assert "limit" in tool_messages[1]
    assert "claim" not in result.variables
    assert result.events[-1]["content"] == "Sorry, the lookup failed."


async def test_tool_static_message_is_spoken_while_it_runs():
    llm = ScriptedLLM([[tool_call("lookup_claim", {"claim_id": "1"})], "Done."])
    tool = lookup_tool(
        static_messages_config={"static_messages": ["One moment, [[topic]]..."]}
    )
    result = await LLM_EXECUTORS["say_llm"](
        task(say(tools_config={"tools": [tool]})), ports(llm, FakeRunner())
    )
    spoken = [e["content"] for e in result.events if e["type"] == "assistant_response"]
    assert spoken == ["One moment, billing...", "Done."]
    assert [h["type"] for h in result.history] == ["ai", "tool", "ai", "ai"]


async def test_the_standard_tool_runner_is_used_without_ports_tools():
    llm = ScriptedLLM([[tool_call("math_add", {"a": 2, "b": 3})], "It is 5."])
    node = say(
        tools_config={"tools": [{"type": "inbuilt_function", "tool_id": "math_add"}]}
    )
    result = await LLM_EXECUTORS["say_llm"](task(node), ports(llm))
    assert llm.requests[1].messages[-1].content == "5.0"
    assert result.variables["tool_result"] == 5.0


# --- independent evaluations ---------------------------------------------------


def verdict(met: bool, why: str = "because") -> str:
    return json.dumps({"is_condition_met": met, "message": why})


async def test_independent_evaluations_judge_each_destination():
    llm = ScriptedLLM(
        ["Happy to help with billing."],
        by_purpose={
            "condition": [
                verdict(False, "not urgent"),
                verdict(True, "asks about bills"),
            ]
        },
    )
    destinations = (
        dest("node_urgent", "It is urgent"),
        dest("node_bill", "About billing"),
    )
    result = await LLM_EXECUTORS["say_llm"](
        task(
            say(),
            destinations=destinations,
            routing_method="independent_llm_evaluations",
        ),
        ports(llm),
    )
    main = llm.requests_for("node")[0]
    assert main.tools == ()  # no destination functions in this mode
    judges = llm.requests_for("condition")
    assert len(judges) == 2
    assert "Condition: It is urgent" in judges[0].messages[0].content
    assert "Hi, I'm Ann." in judges[0].messages[1].content
    assert judges[0].response_schema is not None
    assert types(result.events) == [
        "say_llm",
        "assistant_response",
        "condition_evaluator_llm",
        "condition_evaluator_llm",
    ]
    urgent, bill = result.events[2:]
    assert urgent["destination_node_logical_id"] == "node_urgent"
    assert urgent["is_condition_met"] is False
    assert bill["is_condition_met"] is True
    assert bill["message"]["type"] == "ai"
    assert bill["llm_usage_info"]["provider"] == "fake"
    assert result.destination == "node_bill"
    assert result.destination_args == {"justification": "asks about bills"}
    assert len(result.llm_calls) == 3
    assert sum(c["total_tokens"] for c in result.llm_calls) == sum(
        e["llm_usage_info"]["total_tokens"]
        for e in result.events
        if e["type"] != "assistant_response"
    )


async def test_global_condition_discards_the_main_reply():
    llm = ScriptedLLM(
        ["Let me answer that."], by_purpose={"condition": ["yes, it matches"]}
    )
    result = await LLM_EXECUTORS["say_llm"](
        task(
            say(),
            destinations=(dest("node_emergency", "Medical emergency", kind="global"),),
            routing_method="independent_llm_evaluations",
        ),
        ports(llm),
    )
    assert types(result.events) == ["condition_evaluator_llm", "discarded_main_llm"]
    discarded = result.events[1]
    assert discarded["reason"] == "global_condition_matched"
    assert discarded["message"]["content"] == "Let me answer that."
    assert result.history == []
    assert result.destination == "node_emergency"
    assert len(result.llm_calls) == 2


async def test_no_judges_when_tools_are_disabled():
    llm = ScriptedLLM(["ok"])
    result = await LLM_EXECUTORS["say_llm"](
        task(
            say(),
            destinations=(dest("b", "c"),),
            routing_method="independent_llm_evaluations",
            tools_disabled=True,
        ),
        ports(llm),
    )
    assert len(llm.requests) == 1
    assert result.destination is None


# --- structured output -----------------------------------------------------------

ENVELOPE = {
    "name": "intake",
    "description": "Extract the intake form.",
    "input_schema": {
        "type": "object",
        "properties": {"full_name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["full_name"],
    },
}


async def test_worker_structured_output_retries_and_accounts_every_call():
    llm = ScriptedLLM(
        [
            "not json at all",
            '{"age": 30}',
            '```json\n{"full_name": "Ann Lee", "age": 30}\n```',
        ]
    )
    result = await LLM_EXECUTORS["worker_llm"](
        task(worker(structured_output_schema=ENVELOPE, llms_config=CUSTOM)), ports(llm)
    )
    assert all(r.response_schema == ENVELOPE["input_schema"] for r in llm.requests)
    assert [r.purpose for r in llm.requests] == [
        "node",
        "structured_output_retry",
        "structured_output_retry",
    ]
    assert "not valid JSON" in llm.requests[1].messages[-1].content
    assert "full_name" in llm.requests[2].messages[-1].content
    assert result.variables == {"full_name": "Ann Lee", "age": 30}
    assert result.output["structured_output"] == {"full_name": "Ann Lee", "age": 30}
    assert len(result.llm_calls) == 3
    assert types(result.events) == ["worker_llm"] * 3
    meta = result.events[-1]["llm_usage_info"]["structured_output_retry_metadata"]
    assert meta["retry_count"] == 2
    assert [a["attempt_number"] for a in meta["failed_attempts"]] == [1, 2]
    assert result.error is None


async def test_say_structured_output_is_a_second_call_after_the_reply():
    llm = ScriptedLLM(["Nice to meet you, Ann.", '{"full_name": "Ann"}'])
    result = await LLM_EXECUTORS["say_llm"](
        task(say(structured_output_schema=ENVELOPE)), ports(llm)
    )
    first, second = llm.requests
    assert first.response_schema is None
    assert second.purpose == "structured_output"
    assert second.response_schema == ENVELOPE["input_schema"]
    assert second.messages[-2].content == "Nice to meet you, Ann."
    assert "intake" in second.messages[-1].content
    assert types(result.events) == ["say_llm", "assistant_response", "say_llm"]
    assert result.output == {"structured_output": {"full_name": "Ann"}}
    assert result.variables == {"full_name": "Ann"}
    assert len(result.llm_calls) == 2


async def test_exhausted_parse_retries():
    config = {**CUSTOM, "max_parse_retries": 1}
    llm = ScriptedLLM(["nope", "still nope"])
    result = await LLM_EXECUTORS["worker_llm"](
        task(worker(structured_output_schema=ENVELOPE, llms_config=config)), ports(llm)
    )
    assert len(result.llm_calls) == 2
    assert result.error is None  # the worker has a default message: go on
    assert types(result.events) == ["worker_llm", "worker_llm", "workflow_warning"]
    assert "structured output" in result.output["error"]
    meta = result.events[1]["llm_usage_info"]["structured_output_retry_metadata"]
    assert meta["retry_count"] == 1
    assert len(meta["failed_attempts"]) == 2


# --- failures --------------------------------------------------------------------


async def test_llm_failure_speaks_the_default_error_message():
    llm = ScriptedLLM([LLMError("provider down")])
    node = say(default_error_message="Sorry {{patient}}, please repeat.")
    result = await LLM_EXECUTORS["say_llm"](task(node), ports(llm))
    assert types(result.events) == ["assistant_response"]
    event = result.events[0]
    assert event["content"] == "Sorry Ann, please repeat."
    assert event["response_metadata"] == {
        "message_type": "error",
        "error": "provider down",
    }
    assert result.history == [{"type": "ai", "content": "Sorry Ann, please repeat."}]
    assert result.error is None
    assert result.llm_calls == []


async def test_any_provider_exception_counts_as_a_failure():
    llm = ScriptedLLM([RuntimeError("socket closed")])
    result = await LLM_EXECUTORS["say_llm"](task(say()), ports(llm))
    assert "socket closed" in result.events[0]["response_metadata"]["error"]


async def test_worker_failures_warn_and_evaluator_failures_fail_the_run():
    llm = ScriptedLLM([LLMError("down"), LLMError("down")])
    worker_result = await LLM_EXECUTORS["worker_llm"](task(worker()), ports(llm))
    assert types(worker_result.events) == ["workflow_warning"]
    assert worker_result.error is None
    evaluator = dump(
        WorkflowRunEvaluatorNodeConfig.model_validate({"logical_id": "node_eval"})
    )
    eval_result = await LLM_EXECUTORS["workflow_run_evaluator"](
        task(evaluator, runtime={"workflow_run_object": {"id": "r1"}}), ports(llm)
    )
    assert eval_result.error is not None
    assert "node_eval" in eval_result.error


async def test_failure_after_a_tool_turn_keeps_what_happened():
    llm = ScriptedLLM(
        [[tool_call("lookup_claim", {"claim_id": "1"})], LLMError("down")]
    )
    node = say(tools_config={"tools": [lookup_tool()]})
    result = await LLM_EXECUTORS["say_llm"](task(node), ports(llm, FakeRunner()))
    assert types(result.events) == ["say_llm", "assistant_response"]
    assert result.events[-1]["response_metadata"]["message_type"] == "error"
    assert [h["type"] for h in result.history] == ["ai", "tool", "ai"]
    assert result.variables["claim"] == "42"
    assert len(result.llm_calls) == 1


# --- workflow_run_evaluator --------------------------------------------------------


async def test_evaluator_reads_its_input_and_writes_its_output():
    schema = {
        "name": "score",
        "input_schema": {
            "type": "object",
            "properties": {"score": {"type": "number"}, "passed": {"type": "boolean"}},
            "required": ["score", "passed"],
        },
    }
    node = dump(
        WorkflowRunEvaluatorNodeConfig.model_validate(
            {
                "logical_id": "node_eval",
                "main_response_config": {"prompt": "Score the run."},
                "structured_output_schema": schema,
                "output_runtime_variable_name": "evaluation",
            }
        )
    )
    assert node["wait_for_user_message"] is False
    llm = ScriptedLLM(
        [ChatResponse(content='{"score": 0.9, "passed": true}', usage=Usage(10, 5, 15))]
    )
    run = {"run_id": "r1", "events": [{"type": "assistant_response", "content": "Hi"}]}
    result = await LLM_EXECUTORS["workflow_run_evaluator"](
        task(node, history=(), runtime={"workflow_run_object": run}), ports(llm)
    )
    messages = llm.requests[0].messages
    assert messages[0].content == "Score the run."
    assert messages[-1].content.startswith("Workflow run to evaluate:\n")
    assert json.loads(messages[-1].content.split("\n", 1)[1]) == run
    assert result.variables == {
        "score": 0.9,
        "passed": True,
        "evaluation": {"score": 0.9, "passed": True},
    }
    assert result.output == {
        "structured_output": {"score": 0.9, "passed": True},
        "free_form_output": '{"score": 0.9, "passed": true}',
    }
    assert types(result.events) == ["worker_llm"]
    assert result.llm_calls[0]["total_tokens"] == 15


async def test_free_form_evaluator_writes_text_and_warns_on_missing_input():
    node = dump(
        WorkflowRunEvaluatorNodeConfig.model_validate(
            {"logical_id": "node_eval", "output_runtime_variable_name": "verdict"}
        )
    )
    llm = ScriptedLLM(["Looks fine."])
    result = await LLM_EXECUTORS["workflow_run_evaluator"](
        task(node, runtime={}), ports(llm)
    )
    assert types(result.events) == ["workflow_warning", "worker_llm"]
    assert result.variables == {"verdict": "Looks fine."}


# --- over HTTP -------------------------------------------------------------------


async def test_say_llm_over_http_through_the_router():
    from tests.fakes.openai_server import running_openai_server, tool_calls_reply
    from threadline.providers.router import ConfigurableLLM

    async with running_openai_server() as server:
        server.queue(
            tool_calls_reply(
                [("Destination_Node__node_bye", {"justification": "said bye"})],
                content="Goodbye!",
                prompt_tokens=30,
                completion_tokens=4,
            )
        )
        llm = ConfigurableLLM(override_url=server.base_url, override_model="served")
        result = await LLM_EXECUTORS["say_llm"](
            task(say(), destinations=(dest("node_bye", "User says goodbye"),)),
            Ports(llm=llm, clock=lambda: 0.0),
        )
    body = server.requests[0].body
    assert body["tools"][0]["function"]["name"] == "Destination_Node__node_bye"
    assert body["messages"][0] == {
        "role": "system",
        "content": "Help Ann with billing.",
    }
    assert result.destination == "node_bye"
    assert result.destination_args == {"justification": "said bye"}
    assert result.events[1]["content"] == "Goodbye!"
    assert result.llm_calls[0]["input_tokens"] == 30
    assert result.llm_calls[0]["response_model"] == "gpt-fake-2026"
