"""No span attribute, metric label or JSON log line holds a secret or an API key;
JSON log lines say which run, turn, command and span they belong to."""

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from tests.api.conftest import Team
from tests.api.test_execute import START, execute, new_workflow, says
from tests.factories import edge, static_node
from threadline.providers.base import ChatRequest
from threadline.providers.fake import ScriptedLLM
from threadline.service.runtime import Runtime
from threadline.telemetry import context, logs

TOKEN = "tok-Live-9f8e7d6c5b4a3210"
log = logging.getLogger("threadline.test.telemetry")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Everything logged at DEBUG and above, as ``THREADLINE_LOG_FORMAT=json``."""
    out = io.StringIO()
    handler = logs.handler("json", out)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield out
    root.removeHandler(handler)
    root.setLevel(level)


def _workflow() -> dict[str, Any]:
    return {
        "name": "Secret user",
        "node_configs": [
            {
                "type": "http_request",
                "logical_id": "node_call",
                "name": "node_call",
                "is_start": True,
                "method": "POST",
                "url": "http://vendor.example.test/v1/orders?token={{global.api_token}}",
                "headers": {"Authorization": "Bearer {{global.api_token}}"},
                "body_parameters": '{"token": "{{global.api_token}}"}',
            },
            static_node("node_greet", "Hello."),
            {
                "type": "say_llm",
                "logical_id": "node_chat",
                "name": "node_chat",
                "main_response_config": {
                    "prompt": "The vendor token is {{global.api_token}}."
                },
            },
        ],
        "edge_configs": [
            edge("e1", "node_call", "node_greet"),
            edge("e2", "node_greet", "node_chat"),
        ],
    }


def _leaky(request: ChatRequest) -> str:
    # A careless log line quoting the prompt (which holds the secret).
    log.warning("model asked: %s", request.messages[0].content)
    return f"Your token is {TOKEN}"


async def test_spans_metrics_and_json_logs_never_hold_a_secret_or_api_key(
    spans: InMemorySpanExporter,
    json_lines: io.StringIO,
    team: Team,
    runtime: Runtime,
    llm: ScriptedLLM,
):
    runtime.http_transport = httpx.MockTransport(
        lambda request: httpx.Response(200, json={"echo": TOKEN})
    )
    runtime.http_allow_private = True
    made = await team.client.post(
        "/v1/global-variables",
        json={"name": "api_token", "value": TOKEN, "is_secret": True},
    )
    assert made.status_code == 200, made.text
    llm.extend(_leaky)
    wid = await new_workflow(team, _workflow())
    first = await execute(team, wid, {"run_input": START})
    second = await execute(
        team, wid, {"run_id": first["run_id"], "run_input": says("what is it?")}
    )
    await runtime.drain()
    assert second["turn_number"] == 2
    scraped = (await team.client.get("/metrics")).text

    finished = spans.get_finished_spans()
    assert finished
    values = [str(v) for s in finished for v in (s.attributes or {}).values()]
    values += [s.name for s in finished]
    values += [str(e.attributes) for s in finished for e in s.events]
    values += [s.status.description or "" for s in finished]
    # The prompt and completion were recorded, scrubbed.
    assert any("The vendor token is ***" in v for v in values)
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    leak = next(line for line in lines if line["message"].startswith("model asked"))
    assert "***" in leak["message"]
    for text in [*values, scraped, json_lines.getvalue()]:
        assert TOKEN not in text
        assert team.key not in text

    # The careless line still says where it came from.
    assert leak["run_id"] == first["run_id"]
    assert leak["turn"] == 2
    assert leak["command_id"]
    chat = next(s for s in finished if s.name == "chat")
    assert chat.context is not None
    assert leak["trace_id"] == format(chat.context.trace_id, "032x")
    assert leak["level"] == "WARNING" and leak["logger"] == log.name


def test_text_and_json_lines_scrub_keys_and_bound_secrets():
    out = io.StringIO()
    handler = logs.handler("text", out)
    record = logging.LogRecord(
        "x",
        logging.INFO,
        __file__,
        1,
        "key %s and %s",
        ("tl_abcdefghijk", "s3cr3t-v"),
        None,
    )
    with context.bind(run_id="r1", secrets=("s3cr3t-v",)):
        assert handler.filter(record)
        handler.emit(record)
    assert out.getvalue().strip().endswith("key tl_*** and ***")
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["message"] == "key tl_*** and ***" and line["run_id"] == "r1"
    assert "trace_id" not in line  # tracing off: no ids
