"""Run any tool config (wire-form dict) with arguments; tool failures never raise.

:meth:`ToolRunner.run` in three steps:

1. **Bind** ``variable_arguments`` (§4.5): ``literal`` -> ``literal_value``;
   ``runtime`` / ``dynamic`` read ``variable_path`` (dots, indexes, node-qualified
   names, ``global.x``, ``thread_<id>.x``); ``auto`` tries runtime, then dynamic. An
   absent or None value falls back to ``default``; ``required`` fails the call naming
   the binding. Nothing resolved and no default: the argument is left out (the
   function's own default applies). ``override_provided_value`` replaces a caller
   value; otherwise the binding only fills an omitted (or None) argument.
2. **Dispatch** by ``type`` under ``timeout_seconds`` (when set): ``inbuilt_function``
   (``INBUILT_TOOLS[tool_id or configurable_key]``); ``inline_python`` (the sandbox;
   ``allow_code_variable_substitution`` renders ``{{ }}``/``[[ ]]`` in the code first;
   calls the function named like the tool if defined, else the first; the timeout is
   the sandbox wall/CPU limit); ``external_api`` (one HTTP call, non-2xx fails);
   ``knowledge_base`` (the :class:`~threadline.tools.knowledge.Retriever`, ``query``).
3. **Map** a successful result: ``expand_result_into_runtime_variables`` writes each
   top-level key of a dict result (not ``_``-prefixed) to thread scope, then
   ``result_variable_mappings`` write ``result_path`` (whole result when empty) to
   thread or workflow scope, winning on collisions. A ``required`` mapping whose path
   is absent fails the call (the result is kept).

external_api templating (endpoint, header values, string body values; one pass, so
inserted values are never re-scanned): ``{name}`` is the argument (missing -> the
call fails), ``{{ dyn }}``/``[[ rt ]]`` are workflow variables, and ``{{``/``}}`` that
do not form a resolvable placeholder are literal braces (``str.format`` escapes). A
body value that is exactly ``{name}`` becomes the argument's native value.
``integration_auth`` is unsupported: without an ``Authorization`` header it fails.
"""

import asyncio
import contextlib
import dataclasses
import json
import re
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from threadline.engine.filters import to_text
from threadline.engine.placeholders import PLACEHOLDER_RE
from threadline.engine.steps import Scope
from threadline.engine.templates import (
    MISSING,
    find_placeholders,
    render,
    resolve_placeholder,
)
from threadline.tools.http import HttpCall, HttpPolicy, send
from threadline.tools.inbuilt import INBUILT_TOOLS
from threadline.tools.knowledge import NO_RETRIEVER_MESSAGE, Retriever
from threadline.tools.sandbox import SandboxLimits, run_inline_python

__all__ = [
    "ToolFailure",
    "ToolOutcome",
    "ToolRunner",
    "bind_arguments",
    "map_result",
    "redact",
    "scope_vars",
]

JsonDict = dict[str, Any]
REDACTED = "[REDACTED]"
_TEMPLATE_RE = re.compile(
    rf"(?P<ph>{PLACEHOLDER_RE.pattern})|\{{(?P<arg>[A-Za-z_]\w*)\}}|(?P<esc>\{{\{{|\}}\}})"
)
_WHOLE_ARG_RE = re.compile(r"\{([A-Za-z_]\w*)\}")


class ToolFailure(Exception):
    """An expected failure, reported through ``ToolOutcome.error``."""

    def __init__(self, message: str, error_type: str = "tool_error") -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True)
class ToolOutcome:
    """What one tool call did; ``variables`` holds the mapped/expanded writes."""

    success: bool
    result: Any
    error: str | None
    latency_ms: float
    variables: JsonDict = field(default_factory=dict)
    workflow_variables: JsonDict = field(default_factory=dict)
    error_type: str | None = None

    def result_variables(self, name: str, *, with_status: bool = True) -> JsonDict:
        """Thread writes: mappings/expansion, ``name`` and (tool nodes) its status."""
        writes = {**self.variables, name: self.result}
        if with_status:
            writes[f"{name}_success"] = self.success
            writes[f"{name}_error"] = self.error
        return writes


def redact(text: str, secret_values: Collection[str]) -> str:
    """``text`` with every non-empty secret (longest first) replaced."""
    for secret in sorted((s for s in secret_values if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def scope_vars(scope: Scope) -> JsonDict:
    """The scope as keyword arguments of ``render`` / ``render_value``."""
    return {
        "dynamic": scope.dynamic,
        "runtime": scope.runtime,
        "threads": scope.threads,
        "globals_": scope.globals_,
    }


def _lookup(text: str, scope: Scope | None, runtime: JsonDict | None = None) -> Any:
    found = find_placeholders(text)
    if len(found) != 1 or found[0].raw != text:
        return MISSING
    if scope is None:
        return resolve_placeholder(found[0], runtime=runtime)
    return resolve_placeholder(found[0], **scope_vars(scope))


def _bound_value(spec: Mapping[str, Any], scope: Scope) -> Any:
    source = str(spec.get("source") or "auto")
    if source == "literal":
        return spec.get("literal_value")
    path = str(spec.get("variable_path") or "")
    order = ("runtime", "dynamic") if source == "auto" else (source,)
    for kind in order:
        text = f"[[{path}]]" if kind == "runtime" else f"{{{{{path}}}}}"
        value = _lookup(text, scope)
        if value is not MISSING and value is not None:
            return value
    return MISSING


def bind_arguments(config: Mapping[str, Any], args: JsonDict, scope: Scope) -> JsonDict:
    """``args`` with the tool's ``variable_arguments`` applied (step 1 above)."""
    bound = dict(args)
    for spec in config.get("variable_arguments") or []:
        name = spec["argument_name"]
        value = _bound_value(spec, scope)
        if value is MISSING or value is None:
            if spec.get("required"):
                where = spec.get("variable_path") or "literal_value"
                raise ToolFailure(
                    f"variable_arguments[{name!r}]: required variable {where!r} "
                    f"({spec.get('source') or 'auto'}) has no value",
                    "missing_variable",
                )
            value = spec.get("default")
            if value is None:
                continue
        if spec.get("override_provided_value", True) or bound.get(name) is None:
            bound[name] = value
    return bound


def map_result(
    config: Mapping[str, Any], result: Any
) -> tuple[JsonDict, JsonDict, str | None]:
    """Thread writes, workflow writes and the error of a missing required path."""
    thread: JsonDict = {}
    workflow: JsonDict = {}
    errors: list[str] = []
    if config.get("expand_result_into_runtime_variables") and isinstance(result, dict):
        thread.update(
            {k: v for k, v in result.items() if isinstance(k, str) and k[:1] not in "_"}
        )
    for mapping in config.get("result_variable_mappings") or []:
        target = mapping["target_variable_name"]
        path = str(mapping.get("result_path") or "")
        value = result
        if path:
            value = _lookup(
                f"[[_r{'' if path.startswith('[') else '.'}{path}]]",
                None,
                {"_r": result},
            )
        if value is MISSING:
            if mapping.get("required"):
                errors.append(f"{path!r} is not in the result ({target!r} mapping)")
                continue
            value = mapping.get("default")
        if mapping.get("scope") == "workflow":
            workflow[target] = value
            thread.pop(target, None)
        else:
            thread[target] = value
    return thread, workflow, "; ".join(errors) or None


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


class ToolRunner:
    """Executes tool configs; holds the deployment's seams (KB, HTTP transport)."""

    def __init__(
        self,
        *,
        retriever: Retriever | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sandbox_limits: SandboxLimits = SandboxLimits(),
    ) -> None:
        self.retriever = retriever
        self.transport = transport
        self.sandbox_limits = sandbox_limits

    async def run(
        self,
        tool_config: Mapping[str, Any],
        args: JsonDict,
        scope: Scope,
        *,
        secret_values: Collection[str] = (),
        http_allow_private: bool = False,
    ) -> ToolOutcome:
        """Bind, dispatch and map one call (see the module docstring)."""
        started = time.perf_counter()
        timeout = tool_config.get("timeout_seconds")

        def failed(message: str, kind: str) -> ToolOutcome:
            ms = (time.perf_counter() - started) * 1000
            return ToolOutcome(
                False, None, redact(message, secret_values), ms, error_type=kind
            )

        try:
            bound = bind_arguments(tool_config, args, scope)
            async with asyncio.timeout(float(timeout) + 1 if timeout else None):
                result = await self._dispatch(
                    tool_config, bound, scope, secret_values, http_allow_private
                )
        except ToolFailure as exc:
            return failed(str(exc), exc.error_type)
        except TimeoutError:
            return failed(f"the tool timed out after {timeout} s", "timeout")
        except Exception as exc:  # a tool must never take the run down
            return failed(
                f"the tool failed: {type(exc).__name__}: {exc}", "internal_error"
            )
        thread, workflow, error = map_result(tool_config, result)
        return ToolOutcome(
            success=error is None,
            result=result,
            error=redact(error, secret_values) if error else None,
            latency_ms=(time.perf_counter() - started) * 1000,
            variables=thread,
            workflow_variables=workflow,
            error_type="missing_result_path" if error else None,
        )

    async def _dispatch(
        self,
        config: Mapping[str, Any],
        args: JsonDict,
        scope: Scope,
        secrets: Collection[str],
        allow_private: bool,
    ) -> Any:
        kind = config.get("type")
        if kind == "inbuilt_function":
            return _run_inbuilt(config, args)
        if kind == "inline_python":
            return await self._run_python(config, args, scope)
        if kind == "external_api":
            return await self._run_api(config, args, scope, secrets, allow_private)
        if kind == "knowledge_base":
            return await self._run_kb(config, args)
        raise ToolFailure(f"unsupported tool type {kind!r}", "unsupported_tool")

    async def _run_python(
        self, config: Mapping[str, Any], args: JsonDict, scope: Scope
    ) -> Any:
        code = config.get("code")
        if not code:
            raise ToolFailure("the inline_python tool has no code", "invalid_tool")
        if config.get("allow_code_variable_substitution", True):
            code = render(code, **scope_vars(scope))
        name = config.get("name")
        defines = name and re.search(
            rf"^(async\s+)?def\s+{re.escape(name)}\s*\(", code, re.M
        )
        limits = self.sandbox_limits
        if timeout := config.get("timeout_seconds"):
            limits = dataclasses.replace(
                limits, wall_seconds=float(timeout), cpu_seconds=float(timeout)
            )
        out = await run_inline_python(
            code, args, limits=limits, function_name=name if defines else None
        )
        if not out.success:
            raise ToolFailure(
                out.error or "inline_python failed", out.error_type or "runtime_error"
            )
        return out.result

    async def _run_api(
        self,
        config: Mapping[str, Any],
        args: JsonDict,
        scope: Scope,
        secrets: Collection[str],
        allow_private: bool,
    ) -> Any:
        endpoint = config.get("api_endpoint")
        if not endpoint:
            raise ToolFailure(
                "the external_api tool has no api_endpoint", "invalid_tool"
            )
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
        call = HttpCall(
            method=str(config.get("api_method") or "GET"),
            url=_fill(endpoint, args, scope, "api_endpoint"),
            headers=headers,
            body=_fill_body(body, args, scope),
            timeout_s=float(timeout) if timeout else 30.0,
        )
        out = await send(
            call,
            policy=HttpPolicy(allow_private=allow_private),
            secret_values=secrets,
            transport=self.transport,
        )
        if not out.success:
            raise ToolFailure(out.error or f"HTTP {out.status_code}", "http_error")
        return out.data

    async def _run_kb(self, config: Mapping[str, Any], args: JsonDict) -> Any:
        if self.retriever is None:
            raise ToolFailure(NO_RETRIEVER_MESSAGE, "not_configured")
        query = args.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ToolFailure(
                "the knowledge_base tool needs a 'query' argument", "invalid_arguments"
            )
        timeout = config.get("timeout_seconds")
        return await self.retriever.search(
            query,
            list(config.get("target_knowledge_base_ids") or []),
            timeout_ms=int(timeout * 1000) if timeout else None,
        )


def _run_inbuilt(config: Mapping[str, Any], args: JsonDict) -> Any:
    tool_id = config.get("tool_id") or config.get("configurable_key")
    tool = INBUILT_TOOLS.get(str(tool_id))
    if tool is None:
        known = ", ".join(sorted(INBUILT_TOOLS))
        raise ToolFailure(
            f"unknown inbuilt tool {tool_id!r} (known: {known})", "tool_not_found"
        )
    try:
        return tool.run(args)
    except KeyError as exc:
        raise ToolFailure(
            f"{tool.tool_id}: missing argument {exc}", "invalid_arguments"
        ) from exc
    except Exception as exc:
        raise ToolFailure(f"{tool.tool_id}: {exc}", "runtime_error") from exc
