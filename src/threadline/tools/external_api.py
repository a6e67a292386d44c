"""The ``external_api`` tool: template the request, make one HTTP call.

Templating (endpoint, header values, string body values; one pass, so inserted
values are never re-scanned): ``{name}`` is the argument (missing -> the call
fails), ``{{ dyn }}``/``[[ rt ]]`` are workflow variables, and ``{{``/``}}`` that do
not form a resolvable placeholder are literal braces (``str.format`` escapes). A
body value that is exactly ``{name}`` becomes the argument's native value. A string
``api_body`` is parsed as JSON first when it is JSON.

The call goes through :func:`threadline.tools.http.send` (SSRF guard included); a
non-2xx answer fails the tool. ``integration_auth`` is unsupported: without an
``Authorization`` header it fails.
"""

import contextlib
import json
import re
from collections.abc import Collection, Mapping
from typing import Any

import httpx

from threadline.engine.filters import to_text
from threadline.engine.placeholders import PLACEHOLDER_RE
from threadline.engine.steps import Scope
from threadline.engine.templates import render
from threadline.tools.bindings import scope_vars
from threadline.tools.http import HttpCall, HttpPolicy, send
from threadline.tools.outcomes import JsonDict, ToolFailure

__all__ = ["api_call", "run_external_api"]

_TEMPLATE_RE = re.compile(
    rf"(?P<ph>{PLACEHOLDER_RE.pattern})|\{{(?P<arg>[A-Za-z_]\w*)\}}|(?P<esc>\{{\{{|\}}\}})"
)
_WHOLE_ARG_RE = re.compile(r"\{([A-Za-z_]\w*)\}")


def _fill(template: str, args: Mapping[str, Any], scope: Scope, where: str) -> str:
    def replace(m: re.Match[str]) -> str:
        if m.group("ph") is not None:
            raw = m.group("ph")
            rendered = render(raw, **scope_vars(scope))
            if rendered == raw and raw.startswith("{{"):
                return raw[1:-1]
            return rendered
        if m.group("esc") is not None:
            return m.group("esc")[0]
        name = m.group("arg")
        if name not in args:
            raise ToolFailure(
                f"no argument {name!r} for {{{name}}} in {where}", "invalid_arguments"
            )
        return to_text(args[name])

    return _TEMPLATE_RE.sub(replace, template)


def _fill_body(body: Any, args: Mapping[str, Any], scope: Scope) -> Any:
    if isinstance(body, str):
        whole = _WHOLE_ARG_RE.fullmatch(body)
        if whole and whole.group(1) in args:
            return args[whole.group(1)]
        return _fill(body, args, scope, "api_body")
    if isinstance(body, Mapping):
        return {k: _fill_body(v, args, scope) for k, v in body.items()}
    if isinstance(body, list):
        return [_fill_body(v, args, scope) for v in body]
    return body


def api_call(config: Mapping[str, Any], args: JsonDict, scope: Scope) -> HttpCall:
    """The templated request of an ``external_api`` tool config."""
    endpoint = config.get("api_endpoint")
    if not endpoint:
        raise ToolFailure("the external_api tool has no api_endpoint", "invalid_tool")
    headers = {
        str(k): _fill(str(v), args, scope, f"api_headers[{k!r}]")
        for k, v in (config.get("api_headers") or {}).items()
    }
    auth = config.get("integration_auth")
    if auth and not any(k.lower() == "authorization" for k in headers):
        raise ToolFailure(
            f"integration_auth ({auth.get('integration_id')}) is not supported by "
            "this server; set an Authorization header on the tool instead",
            "unsupported_tool",
        )
    body = config.get("api_body")
    if isinstance(body, str):
        with contextlib.suppress(ValueError):
            body = json.loads(body) if body.strip() else None
    timeout = config.get("timeout_seconds")
    return HttpCall(
        method=str(config.get("api_method") or "GET"),
        url=_fill(endpoint, args, scope, "api_endpoint"),
        headers=headers,
        body=_fill_body(body, args, scope),
        timeout_s=float(timeout) if timeout else 30.0,
    )


async def run_external_api(
    config: Mapping[str, Any],
    args: JsonDict,
    scope: Scope,
    *,
    secrets: Collection[str],
    allow_private: bool,
    transport: httpx.AsyncBaseTransport | None,
) -> Any:
    """Make the tool's HTTP call; its response data, or :class:`ToolFailure`."""
    out = await send(
        api_call(config, args, scope),
        policy=HttpPolicy(allow_private=allow_private),
        secret_values=secrets,
        transport=transport,
    )
    if not out.success:
        raise ToolFailure(out.error or f"HTTP {out.status_code}", "http_error")
    return out.data
