"""``threadline chat``: a terminal conversation with a workflow file or id."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from tests.factories import edge, say_node, static_node
from threadline.cli import chat as chat_module
from threadline.cli.chat import chat, compact_event
from threadline.providers.fake import ScriptedLLM
from threadline.service.runtime import Runtime

app = typer.Typer()


@app.callback()
def _root() -> None:
    """Stands in for ``threadline`` (``chat`` is wired into ``cli.main`` there)."""


app.command("chat")(chat)


def greeting_workflow(*extra_nodes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "Greeter",
        "workflow_config": {
            "miscellaneous": {"default_dynamic_variables": {"patient": "friend"}}
        },
        "node_configs": [
            static_node("node_greet", "Welcome, {{patient}}!", is_start=True),
            say_node("node_chat", prompt="Help the patient."),
            *extra_nodes,
        ],
        "edge_configs": [edge("edge_greet", "node_greet", "node_chat")],
        **extra,
    }


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The configured database (a file that only exists once something writes)."""
    path = tmp_path / "configured.db"
    monkeypatch.setenv("THREADLINE_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.delenv("THREADLINE_LLM_OVERRIDE_URL", raising=False)
    return path


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch) -> ScriptedLLM:
    """The scripted model the chat's runtime talks to."""
    model = ScriptedLLM()
    factory: Callable[[Any], Runtime] = lambda _settings: Runtime(llm=model)  # noqa: E731
    monkeypatch.setattr(chat_module, "runtime_factory", factory)
    return model


def write(tmp_path: Path, body: Any, name: str = "workflow.json") -> str:
    path = tmp_path / name
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return str(path)


def invoke(*args: str, input: str = "") -> Any:
    return CliRunner().invoke(app, ["chat", *args], input=input)


def test_a_config_file_greets_answers_and_quits(
    tmp_path: Path, db: Path, llm: ScriptedLLM
):
    llm.extend("Hi, how can I help?")
    result = invoke(write(tmp_path, greeting_workflow()), input="hello\n/quit\n")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "assistant> Welcome, friend!" in lines[1]
    assert "you> assistant> Hi, how can I help?" in lines
    assert lines[-1].endswith(" cancelled")
    assert llm.requests[0].messages[-1].content == "hello"
    assert not db.exists(), "a config file runs in a throwaway database"


def test_end_of_input_stops_the_run(tmp_path: Path, db: Path, llm: ScriptedLLM):
    llm.extend("Sure.")
    result = invoke(write(tmp_path, greeting_workflow()), input="hello\n\n")
    assert result.exit_code == 0, result.output
    assert "assistant> Sure." in result.output
    assert result.output.rstrip().endswith("cancelled")


def test_the_run_ends_by_itself_when_the_workflow_completes(
    tmp_path: Path, db: Path, llm: ScriptedLLM
):
    body = greeting_workflow(static_node("node_bye", "Goodbye!"))
    body["edge_configs"].append(edge("edge_bye", "node_chat", "node_bye"))
    llm.extend("Noted.")
    result = invoke(
        write(tmp_path, body), "--dynamic", "patient=Ann", input="book me\nnever read\n"
    )
    assert result.exit_code == 0, result.output
    spoken = [
        line.rsplit("> ", 1)[-1] for line in result.output.splitlines() if "> " in line
    ]
    assert spoken == ["Welcome, Ann!", "Noted.", "Goodbye!"]
    assert result.output.rstrip().endswith("completed")
    assert len(llm.requests) == 1


def test_events_are_printed_as_compact_json_lines(
    tmp_path: Path, db: Path, llm: ScriptedLLM
):
    llm.extend("Hello back.")
    result = invoke(
        write(tmp_path, greeting_workflow()), "--events", input="hello\n/quit\n"
    )
    assert result.exit_code == 0, result.output
    events = [
        json.loads(line.removeprefix("you> "))
        for line in result.output.splitlines()
        if line.removeprefix("you> ").startswith("{")
    ]
    types = [e["type"] for e in events]
    for expected in (
        "start_workflow",
        "assistant_response",
        "direct_edge",
        "workflow_ready_for_input",
        "user_messages",
        "end_workflow",
    ):
        assert expected in types
    greeting = events[types.index("assistant_response")]
    assert greeting == {
        "type": "assistant_response",
        "origin_node_logical_id": "node_greet",
        "content": "Welcome, friend!",
    }
    assert all("timestamp" not in e and "logical_id" not in e for e in events)
    assert "assistant> Hello back." in result.output


def test_a_saved_workflow_is_chatted_by_id_in_the_configured_database(
    tmp_path: Path, db: Path, llm: ScriptedLLM
):
    saved = invoke(write(tmp_path, greeting_workflow()), "--save", input="/quit\n")
    assert saved.exit_code == 0, saved.output
    assert db.exists()
    workflow_id = saved.output.split()[2]
    llm.extend("By id.")
    result = invoke(workflow_id, "--version", "0", input="hi\n/quit\n")
    assert result.exit_code == 0, result.output
    assert "assistant> Welcome, friend!" in result.output
    assert "assistant> By id." in result.output
    other = invoke(workflow_id, "--team-id", "bbbbbbbbbbbbbbbbbbbbbbbb")
    assert other.exit_code == 2
    assert "not found" in other.output


def test_a_looping_run_is_aborted_and_exits_1(
    tmp_path: Path, db: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(
        chat_module,
        "runtime_factory",
        lambda _s: Runtime(llm=ScriptedLLM(), max_node_runs_per_turn=2),
    )
    body = {
        "name": "Chain",
        "node_configs": [
            static_node("node_a", "a", is_start=True),
            static_node("node_b", "b"),
            static_node("node_c", "c"),
        ],
        "edge_configs": [
            edge("edge_ab", "node_a", "node_b"),
            edge("edge_bc", "node_b", "node_c"),
        ],
    }
    result = invoke(write(tmp_path, body))
    assert result.exit_code == 1, result.output
    assert "aborted_looping_risk" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        (json.dumps({"node_configs": []}), "non-empty 'name'"),
        (
            json.dumps({"name": "X", "node_configs": [{"type": "teleport"}]}),
            "unknown node type 'teleport'",
        ),
    ],
)
def test_a_bad_file_exits_2_with_a_message(
    tmp_path: Path, db: Path, llm: ScriptedLLM, content: str, message: str
):
    result = invoke(write(tmp_path, content))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["aaaaaaaaaaaaaaaaaaaaaaaa"], "workflow 'aaaaaaaaaaaaaaaaaaaaaaaa' not found"),
        (["nope.json"], "neither a readable workflow config file nor a 24-hex"),
        (["aaaaaaaaaaaaaaaaaaaaaaaa", "--dynamic", "novalue"], "KEY=VALUE"),
        (["aaaaaaaaaaaaaaaaaaaaaaaa", "--team-id", "t1"], "--team-id 't1'"),
    ],
)
def test_a_bad_target_or_option_exits_2_with_a_message(
    db: Path, llm: ScriptedLLM, args: list[str], message: str
):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert f"error: {message}" in result.output or message in result.output
    assert "Traceback" not in result.output


def test_compact_event_keeps_key_fields_only():
    event = {
        "type": "say_llm",
        "logical_id": "event_1",
        "timestamp": 1.0,
        "origin_thread_id": "0_companion_notes",
        "comments": [],
        "interrupted": False,
        "origin_node_logical_id": "node_chat",
        "origin_node_name": "Chat",
        "message": {"type": "ai", "content": "x" * 300},
        "llm_usage_info": {"total_tokens": 21, "model": "fake-model"},
        "stack_trace": "...",
    }
    compact = compact_event(event)
    assert compact["type"] == "say_llm" and compact["thread"] == "0_companion_notes"
    assert compact["tokens"] == 21 and len(compact["message"]) == 200
    assert set(compact) == {
        "type",
        "thread",
        "origin_node_logical_id",
        "message",
        "tokens",
    }
