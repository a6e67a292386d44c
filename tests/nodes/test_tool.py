import asyncio
import json

import httpx

from tests.nodes.helpers import (
    FakeRetriever,
    JsonDict,
    make_ports,
    make_task,
    mock_transport,
)
from threadline.engine.steps import Scope
from threadline.nodes.tool import execute_tool_node, result_variable_name
from threadline.tools.knowledge import NO_RETRIEVER_MESSAGE
from threadline.tools.runner import ToolRunner

ADD = {"type": "inbuilt_function", "tool_id": "math_add", "name": "add"}


def scope(runtime: JsonDict | None = None, dynamic: JsonDict | None = None) -> Scope:
    return Scope(dynamic=dynamic or {}, runtime=runtime or {}, threads={})


def echo(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "url": str(request.url),
            "auth": request.headers.get("authorization"),
            "body": json.loads(request.content) if request.content else None,
        },
    )


# ------------------------------------------------------------------ tool_node


async def test_tool_node_runs_the_tool_with_rendered_native_arguments() -> None:
    node = {
        "type": "tool_node",
        "tool_config": ADD,
        "tool_arguments": {"a": "[[x]]", "b": "{{y}}"},
        "preserve_argument_types": True,
    }
    task = make_task(node, runtime={"x": 2}, dynamic={"y": 3.5})
    result = await execute_tool_node(task, make_ports())
    assert result.variables == {
        "tool_result": 5.5,
        "tool_result_success": True,
        "tool_result_error": None,
    }
    assert result.output == {
        "success": True,
        "tool_result": 5.5,
        "error_message": None,
    }


async def test_result_name_prefers_a_changed_node_name_then_the_tools() -> None:
    tool = {**ADD, "result_runtime_variable_name": "sum"}
    assert result_variable_name({"tool_config": tool}) == "sum"
    assert (
        result_variable_name(
            {"tool_config": tool, "result_runtime_variable_name": "tool_result"}
        )
        == "sum"
    )
    assert (
        result_variable_name(
            {"tool_config": tool, "result_runtime_variable_name": "total"}
        )
        == "total"
    )
    assert result_variable_name({"tool_config": ADD}) == "tool_result"


async def test_tool_failure_writes_success_false_and_the_error() -> None:
    node = {
        "type": "tool_node",
        "tool_config": {**ADD, "tool_id": "no_such_tool"},
        "result_runtime_variable_name": "calc",
    }
    result = await execute_tool_node(make_task(node), make_ports())
    assert result.variables["calc"] is None
    assert result.variables["calc_success"] is False
    assert "unknown inbuilt tool 'no_such_tool'" in result.variables["calc_error"]
    assert result.output["success"] is False
    assert result.error is None


async def test_missing_argument_is_a_named_tool_failure() -> None:
    node = {"type": "tool_node", "tool_config": ADD, "tool_arguments": {"a": 1}}
    result = await execute_tool_node(make_task(node), make_ports())
    assert result.variables["tool_result_success"] is False
    assert "missing argument 'b'" in result.variables["tool_result_error"]


async def test_tool_node_without_tool_config_warns_and_fails_softly() -> None:
    result = await execute_tool_node(make_task({"type": "tool_node"}), make_ports())
    assert result.variables["tool_result_success"] is False
    assert result.events[0]["type"] == "workflow_warning"
    assert "has no tool_config" in result.events[0]["warning_message"]


async def test_mappings_and_expansion_become_variable_writes() -> None:
    tool = {
        "type": "inline_python",
        "name": "lookup",
        "code": "def lookup():\n    return {'patient': {'id': 7}, 'score': 3}",
        "expand_result_into_runtime_variables": True,
        "result_variable_mappings": [
            {"target_variable_name": "patient_id", "result_path": "patient.id"},
            {
                "target_variable_name": "score",
                "result_path": "score",
                "scope": "workflow",
            },
            {"target_variable_name": "missing", "result_path": "nope", "default": 0},
        ],
    }
    node = {"type": "tool_node", "tool_config": tool}
    result = await execute_tool_node(make_task(node), make_ports())
    assert result.variables["tool_result_success"] is True
    assert result.variables["patient_id"] == 7
    assert result.variables["patient"] == {"id": 7}
    assert result.variables["missing"] == 0
    assert "score" not in result.variables
    assert result.workflow_variables == {"score": 3}


# ------------------------------------------------------------------ bindings


async def test_variable_arguments_bind_native_values_by_source() -> None:
    tool = {
        "type": "inline_python",
        "code": "def f(**kw):\n    return kw",
        "variable_arguments": [
            {"argument_name": "rec", "source": "runtime", "variable_path": "rec"},
            {"argument_name": "dob", "variable_path": "Intake.dob"},
            {"argument_name": "clinic", "source": "dynamic", "variable_path": "c"},
            {"argument_name": "n", "source": "literal", "literal_value": 3},
            {"argument_name": "d", "variable_path": "absent", "default": "x"},
            {"argument_name": "skip", "variable_path": "absent"},
        ],
    }
    runtime = {"rec": {"a": [1, 2]}, "Intake.dob": "1990-01-01"}
    out = await ToolRunner().run(tool, {"n": 99}, scope(runtime, {"c": {"id": 5}}))
    assert out.success, out.error
    assert out.result == {
        "rec": {"a": [1, 2]},
        "dob": "1990-01-01",
        "clinic": {"id": 5},
        "n": 3,
        "d": "x",
    }


async def test_non_overriding_binding_only_fills_an_omitted_argument() -> None:
    binding = {
        "argument_name": "a",
        "variable_path": "x",
        "expose_to_llm": True,
        "override_provided_value": False,
    }
    tool = {**ADD, "variable_arguments": [binding]}
    given = await ToolRunner().run(tool, {"a": 1, "b": 1}, scope({"x": 10}))
    omitted = await ToolRunner().run(tool, {"b": 1}, scope({"x": 10}))
    assert (given.result, omitted.result) == (2.0, 11.0)


async def test_required_binding_without_value_fails_naming_it() -> None:
    binding = {"argument_name": "a", "variable_path": "pid", "required": True}
    out = await ToolRunner().run({**ADD, "variable_arguments": [binding]}, {}, scope())
    assert not out.success
    assert out.error_type == "missing_variable"
    assert "variable_arguments['a']" in (out.error or "")


async def test_required_mapping_missing_marks_the_call_failed() -> None:
    mapping = {"target_variable_name": "x", "result_path": "nope", "required": True}
    tool = {**ADD, "result_variable_mappings": [mapping]}
    out = await ToolRunner().run(tool, {"a": 1, "b": 2}, scope())
    assert not out.success
    assert out.result == 3.0
    assert "'nope' is not in the result" in (out.error or "")


# ------------------------------------------------------------------ tool types


async def test_inline_python_runs_in_the_sandbox_with_code_substitution() -> None:
    tool = {
        "type": "inline_python",
        "name": "greet",
        "code": "def helper():\n    return 0\n\n"
        "def greet(who):\n    return '{{hello}} ' + who + '!'",
    }
    out = await ToolRunner().run(tool, {"who": "Bo"}, scope(dynamic={"hello": "Hi"}))
    assert out.success, out.error
    assert out.result == "Hi Bo!"


async def test_inline_python_errors_are_reported() -> None:
    tool = {"type": "inline_python", "code": "def f():\n    return 1 / 0"}
    out = await ToolRunner().run(tool, {}, scope())
    assert not out.success
    assert "ZeroDivisionError" in (out.error or "")


async def test_external_api_fills_placeholders_and_keeps_native_body_values() -> None:
    seen, transport = mock_transport(echo)
    tool = {
        "type": "external_api",
        "api_method": "POST",
        "api_endpoint": "{{base}}/patients/{pid}?literal={{{{x}}}}",
        "api_headers": {"Authorization": "Bearer {token}"},
        "api_body": {"items": "{items}", "note": "pid={pid} rt=[[rt]]"},
    }
    args = {"pid": 7, "token": "tok", "items": [1, {"a": 2}]}
    out = await ToolRunner(transport=transport).run(
        tool,
        args,
        scope({"rt": "R"}, {"base": "https://api.example.com"}),
        http_allow_private=True,
    )
    assert out.success, out.error
    assert out.result["url"] == "https://api.example.com/patients/7?literal={{x}}"
    assert out.result["auth"] == "Bearer tok"
    assert out.result["body"] == {"items": [1, {"a": 2}], "note": "pid=7 rt=R"}
    assert len(seen) == 1


async def test_external_api_missing_placeholder_argument_fails() -> None:
    _, transport = mock_transport(echo)
    tool = {"type": "external_api", "api_endpoint": "https://x.example/{id}"}
    out = await ToolRunner(transport=transport).run(tool, {}, scope())
    assert not out.success
    assert "no argument 'id'" in (out.error or "")


async def test_external_api_http_error_is_a_failure_with_secrets_redacted() -> None:
    _, transport = mock_transport(lambda r: httpx.Response(503))
    tool = {"type": "external_api", "api_endpoint": "https://x.example/s3cr3t"}
    out = await ToolRunner(transport=transport).run(
        tool, {}, scope(), secret_values=("s3cr3t",), http_allow_private=True
    )
    assert not out.success
    assert "503" in (out.error or "")
    assert "s3cr3t" not in (out.error or "")


async def test_timeout_seconds_is_honoured() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    tool = {
        "type": "external_api",
        "api_endpoint": "https://x.example/slow",
        "timeout_seconds": 1,
    }
    runner = ToolRunner(transport=httpx.MockTransport(slow))
    out = await runner.run(tool, {}, scope(), http_allow_private=True)
    assert not out.success
    assert "timed out" in (out.error or "")
    assert out.latency_ms < 3000


async def test_knowledge_base_without_retriever_fails_clearly() -> None:
    tool = {"type": "knowledge_base", "target_knowledge_base_ids": ["kb1"]}
    out = await ToolRunner().run(tool, {"query": "hours?"}, scope())
    assert not out.success
    assert out.error == NO_RETRIEVER_MESSAGE


async def test_knowledge_base_searches_with_only_the_query() -> None:
    retriever = FakeRetriever(chunks=[{"text": "9-5"}])
    tool = {
        "type": "knowledge_base",
        "target_knowledge_base_ids": ["kb1"],
        "timeout_seconds": 2,
    }
    out = await ToolRunner(retriever=retriever).run(
        tool, {"query": "hours?", "justification": "asked"}, scope()
    )
    assert out.success
    assert out.result == [{"text": "9-5"}]
    assert retriever.searches == [("hours?", ["kb1"], 2000)]


async def test_unknown_tool_type_fails() -> None:
    out = await ToolRunner().run({"type": "mcp_magic"}, {}, scope())
    assert not out.success
    assert out.error_type == "unsupported_tool"


async def test_tool_node_uses_the_ports_retriever_and_the_tools_result_name() -> None:
    retriever = FakeRetriever(chunks=[{"text": "Open 9-5"}])
    node = {
        "type": "tool_node",
        "tool_config": {
            "type": "knowledge_base",
            "target_knowledge_base_ids": ["kb1"],
            "result_runtime_variable_name": "kb_tool_result",
        },
        "tool_arguments": {"query": "hours for {{clinic}}"},
    }
    task = make_task(node, dynamic={"clinic": "North"})
    result = await execute_tool_node(task, make_ports(retriever=retriever))
    # No timeout asked: the server's ceiling bounds the search (60 s by default).
    assert retriever.searches == [("hours for North", ["kb1"], 60_000)]
    assert result.variables["kb_tool_result"] == [{"text": "Open 9-5"}]
    assert result.variables["kb_tool_result_success"] is True
