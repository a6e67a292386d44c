import json

import httpx

from tests.nodes.helpers import JsonDict, make_ports, make_task, mock_transport
from threadline.nodes.http_request import execute_http_request


def node(**fields: object) -> JsonDict:
    return {"type": "http_request", "url": "https://api.example.com/x", **fields}


async def test_renders_every_field_and_stores_the_response() -> None:
    seen, transport = mock_transport(lambda r: httpx.Response(200, json={"ok": 1}))
    task = make_task(
        node(
            url="https://api.example.com/p/[[pid]]",
            method="POST",
            headers={"X-Clinic": "{{clinic}}"},
            query_parameters='{"q": "{{clinic}}"}',
            body_parameters='{"name": "[[name]]", "n": "[[count]]"}',
        ),
        runtime={"pid": 7, "name": 'Ann "A"', "count": 3},
        dynamic={"clinic": "north"},
    )
    ports = make_ports(http_allow_private=True, http_transport=transport)
    result = await execute_http_request(task, ports)
    request = seen[0]
    assert str(request.url) == "https://api.example.com/p/7?q=north"
    assert request.headers["x-clinic"] == "north"
    assert json.loads(request.content) == {"name": 'Ann "A"', "n": "3"}
    assert result.variables == {
        "http_request_result": {"ok": 1},
        "http_request_result_success": True,
        "http_request_result_error": None,
    }
    event = result.events[0]
    assert event["type"] == "http_request"
    assert event["status_code"] == 200
    assert event["response_body"] == {"ok": 1}
    assert event["error"] is None
    assert event["curl_command"].startswith("curl -X POST")
    assert result.output["success"] is True
    assert result.output["http_status_code"] == 200


async def test_unquoted_placeholder_bodies_fall_back_to_text_rendering() -> None:
    seen, transport = mock_transport(lambda r: httpx.Response(200, json={}))
    task = make_task(
        node(method="POST", body_parameters='{"n": [[count]]}'), runtime={"count": 3}
    )
    ports = make_ports(http_allow_private=True, http_transport=transport)
    await execute_http_request(task, ports)
    assert json.loads(seen[0].content) == {"n": 3}


async def test_non_2xx_is_reported_without_failing_the_run() -> None:
    _, transport = mock_transport(lambda r: httpx.Response(404, json=["nope"]))
    task = make_task(node(result_runtime_variable_name="lookup"))
    ports = make_ports(http_allow_private=True, http_transport=transport)
    result = await execute_http_request(task, ports)
    assert result.error is None
    assert result.variables["lookup"] == ["nope"]
    assert result.variables["lookup_success"] is False
    assert "HTTP 404" in result.variables["lookup_error"]
    assert result.events[0]["response_body"] == {"data": ["nope"]}
    assert result.output["http_response"] == {"data": ["nope"]}


async def test_secrets_are_redacted_from_event_and_output() -> None:
    _, transport = mock_transport(
        lambda r: httpx.Response(200, json={"echo": "key-123"})
    )
    task = make_task(
        node(url="https://api.example.com/?k={{global.key}}"),
        globals_={"key": "key-123"},
    )
    ports = make_ports(
        http_allow_private=True, http_transport=transport, secret_values=("key-123",)
    )
    result = await execute_http_request(task, ports)
    event = result.events[0]
    assert "key-123" not in event["curl_command"]
    assert event["response_body"] == {"echo": "[REDACTED]"}
    assert result.output["http_response"] == {"echo": "[REDACTED]"}


async def test_private_addresses_are_refused_by_default() -> None:
    seen, transport = mock_transport(lambda r: httpx.Response(200))
    task = make_task(node(url="http://127.0.0.1:9/internal"))
    result = await execute_http_request(task, make_ports(http_transport=transport))
    assert seen == []
    assert result.variables["http_request_result_success"] is False
    assert result.events[0]["error"]


async def test_missing_url_and_bad_query_fail_softly() -> None:
    no_url = await execute_http_request(make_task(node(url="")), make_ports())
    assert "has no url" in no_url.variables["http_request_result_error"]
    bad = await execute_http_request(
        make_task(node(query_parameters="[1, 2]")), make_ports()
    )
    assert "query_parameters" in bad.variables["http_request_result_error"]
    assert bad.output["success"] is False
