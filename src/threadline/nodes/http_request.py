"""The ``http_request`` node: call any REST endpoint and store the response.

Templating (``{{dynamic}}``, ``[[runtime]]``, globals): ``url`` and header values
are rendered as text. ``query_parameters`` and ``body_parameters`` are strings holding
a JSON object: they are parsed first and their string values rendered (so values with
quotes cannot break the JSON); if the raw text is not JSON (e.g. an unquoted
``[[count]]``) it is rendered as text and then parsed. A body that is still not JSON
is sent as text with ``text/plain``; query parameters that are not a JSON object fail
the node.

The call goes through :func:`threadline.tools.http.send` with the SSRF guard unless
``ports.http_allow_private`` (``THREADLINE_HTTP_ALLOW_PRIVATE``); ``timeout`` 0 means
the platform maximum. The transport override is ``ports.http_transport`` (tests).

Writes ``<result_runtime_variable_name>`` (default ``http_request_result``: the
response data, None when no response arrived), ``<name>_success`` and ``<name>_error``.
Event ``http_request{curl_command, status_code, response_body, error}`` and run output
``{curl_command, success, http_status_code, http_response}``; the curl command, the
body and the error have ``ports.secret_values`` redacted. A non-object response is
wrapped as ``{"data": ...}`` in the event and output (their schema wants an object).

Errors (refused address, timeout, non-2xx, bad config) never stop the run: they are
reported through ``_success``/``_error``, the event's ``error`` and ``success=False``.
The ``override_url`` run input is not supported (no run input reaches executors).
"""

import json
from typing import Any

from threadline.engine.steps import NodeResult, NodeTask
from threadline.engine.templates import render, render_value
from threadline.nodes.base import Ports
from threadline.nodes.tool import http_transport
from threadline.nodes.vendors import redact_value
from threadline.tools.http import HttpCall, HttpOutcome, HttpPolicy, send
from threadline.tools.runner import redact, scope_vars

__all__ = ["execute_http_request", "parse_templated_json"]

JsonDict = dict[str, Any]


def parse_templated_json(raw: str | None, task: NodeTask) -> Any:
    """The rendered value of a JSON template string, or the rendered text."""
    if raw is None or not raw.strip():
        return None
    variables = scope_vars(task.scope)
    try:
        return render_value(json.loads(raw), **variables)
    except ValueError:
        pass
    text = render(raw, **variables)
    try:
        return json.loads(text)
    except ValueError:
        return text


def _as_object(data: Any) -> JsonDict | None:
    if data is None or isinstance(data, dict):
        return data
    return {"data": data}


def _call(task: NodeTask) -> HttpCall:
    node = task.node
    variables = scope_vars(task.scope)
    query = parse_templated_json(node.get("query_parameters"), task)
    if query is not None and not isinstance(query, dict):
        raise ValueError("query_parameters must be a JSON object")
    body = parse_templated_json(node.get("body_parameters"), task)
    content_type = str(node.get("body_content_type") or "application/json")
    if isinstance(body, str):
        content_type = "text/plain"
    headers = {
        str(k): render(str(v), **variables)
        for k, v in (node.get("headers") or {}).items()
    }
    timeout = node.get("timeout")
    return HttpCall(
        method=str(node.get("method") or "GET").upper(),
        url=render(str(node.get("url") or ""), **variables).strip(),
        headers=headers,
        query=query or {},
        body=body,
        content_type=content_type,
        timeout_s=30.0 if timeout is None else float(timeout),
        response_format=str(node.get("response_format") or "json"),
    )


async def execute_http_request(task: NodeTask, ports: Ports) -> NodeResult:
    """Perform the node's request."""
    secrets = ports.secret_values
    name = str(task.node.get("result_runtime_variable_name") or "http_request_result")
    outcome: HttpOutcome
    try:
        call = _call(task)
        if not call.url:
            raise ValueError("the http_request node has no url")
    except ValueError as exc:
        outcome = HttpOutcome(False, None, None, {}, str(exc), 0.0, "")
    else:
        outcome = await send(
            call,
            policy=HttpPolicy(allow_private=ports.http_allow_private),
            secret_values=secrets,
            transport=http_transport(ports),
        )
    error = redact(outcome.error, secrets) if outcome.error else None
    shown = redact_value(_as_object(outcome.data), secrets)
    result = NodeResult()
    result.events.append(
        {
            "type": "http_request",
            "curl_command": outcome.curl_command,
            "status_code": outcome.status_code,
            "response_body": shown,
            "error": error,
        }
    )
    result.variables = {
        name: outcome.data,
        f"{name}_success": outcome.success,
        f"{name}_error": error,
    }
    result.output = {
        "curl_command": outcome.curl_command,
        "success": outcome.success,
        "http_status_code": outcome.status_code,
        "http_response": shown,
    }
    return result
