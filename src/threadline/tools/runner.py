"""Run any tool config (wire-form dict) with arguments; tool failures never raise.

:meth:`ToolRunner.run` in three steps:

1. **Bind** ``variable_arguments`` (§4.5): see
   :func:`threadline.tools.bindings.bind_arguments`.
2. **Dispatch** by ``type``, in a slot of :class:`~threadline.tools.limits.ToolSlots`
   (every type but ``inbuilt_function``) and under ``timeout_seconds`` clamped to the
   operator's :class:`~threadline.tools.limits.ToolCeilings` (the ceiling itself when
   unset): ``inbuilt_function`` (``INBUILT_TOOLS[tool_id or configurable_key]``);
   ``inline_python`` (the sandbox; ``allow_code_variable_substitution`` fills
   ``{{ }}``/``[[ ]]`` in the code first, as Python literals
   (:mod:`threadline.tools.code_substitution`); calls the function named like the
   tool if defined, else the first; the timeout is the sandbox wall/CPU limit, the
   platform default 5 s wall / 2 s CPU when unset; memory is the ceiling's);
   ``external_api`` (one HTTP call, non-2xx fails; see
   :mod:`threadline.tools.external_api` for its templating); ``knowledge_base``
   (the :class:`~threadline.tools.knowledge.Retriever`, ``query``).
3. **Map** a successful result to thread / workflow variables: see
   :func:`threadline.tools.bindings.map_result`.

A failure at any step (including an unexpected exception or the timeout) is a
:class:`ToolOutcome` with ``success=False``, its ``error`` redacted of secrets.
"""

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Collection, Mapping
from typing import Any

import httpx

from threadline.engine.steps import Scope
from threadline.engine.templates import RenderLimitExceeded, make_resolver
from threadline.telemetry import tracing
from threadline.tools.bindings import bind_arguments, map_result, scope_vars
from threadline.tools.code_substitution import substitute_code
from threadline.tools.external_api import run_external_api
from threadline.tools.inbuilt import INBUILT_TOOLS
from threadline.tools.knowledge import NO_RETRIEVER_MESSAGE, Retriever
from threadline.tools.limits import (
    TEMPLATE_LIMIT,
    ToolCeilings,
    ToolSlots,
    asked_seconds,
)
from threadline.tools.outcomes import JsonDict, ToolFailure, ToolOutcome
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

REDACTED = "[REDACTED]"


def redact(text: str, secret_values: Collection[str]) -> str:
    """``text`` with every non-empty secret (longest first) replaced."""
    for secret in sorted((s for s in secret_values if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


class ToolRunner:
    """Executes tool configs; holds the deployment's seams (KB, HTTP transport) and
    the operator's ceilings (``slots`` shared by every runner of the process)."""

    def __init__(
        self,
        *,
        retriever: Retriever | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        ceilings: ToolCeilings = ToolCeilings(),
        slots: ToolSlots | None = None,
        team_id: str = "",
        vendors: Mapping[str, Any] | None = None,
    ) -> None:
        self.retriever = retriever
        self.transport = transport
        self.ceilings = ceilings
        self.slots = slots
        self.team_id = team_id
        self.vendors = vendors or {}
        """Vendors by name (each with ``async call(operation, payload)``), for the
        vendor inbuilt functions; the run's are wrapped with the team's credentials."""

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
        asked = tool_config.get("timeout_seconds")
        seconds = self.ceilings.seconds_for(asked)

        def failed(message: str, kind: str) -> ToolOutcome:
            ms = (time.perf_counter() - started) * 1000
            return ToolOutcome(
                False, None, redact(message, secret_values), ms, error_type=kind
            )

        try:
            bound = bind_arguments(tool_config, args, scope)
            async with self._slot(tool_config):
                async with asyncio.timeout(seconds + 1):
                    with tracing.span(
                        f"tool {tool_config.get('name') or ''}".strip(),
                        {
                            "threadline.tool.type": tool_config.get("type"),
                            "threadline.tool.name": tool_config.get("name"),
                        },
                    ):
                        result = await self._dispatch(
                            tool_config,
                            bound,
                            scope,
                            secret_values,
                            http_allow_private,
                        )
        except ToolFailure as exc:
            return failed(
                self._explained(str(exc), exc.error_type, asked), exc.error_type
            )
        except RenderLimitExceeded as exc:
            return failed(str(exc), TEMPLATE_LIMIT)
        except TimeoutError:
            message = self._explained(
                f"the tool timed out after {seconds:g} s", "timeout", asked
            )
            return failed(message, "timeout")
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

    @contextlib.asynccontextmanager
    async def _slot(self, config: Mapping[str, Any]) -> AsyncIterator[None]:
        """A concurrency slot; inbuilt functions are pure and instant: none."""
        if self.slots is None or config.get("type") == "inbuilt_function":
            yield
            return
        async with self.slots.hold(self.team_id):
            yield

    def _explained(self, message: str, kind: str, asked: Any) -> str:
        """A timeout of a call clamped to the ceiling says so."""
        if kind != "timeout" or not self.ceilings.over(asked):
            return message
        return (
            f"{message} (it asked for {asked} s; the server allows at most "
            f"{self.ceilings.max_seconds} s, THREADLINE_TOOL_MAX_SECONDS)"
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
            return await _run_inbuilt(config, args, self.vendors)
        if kind == "inline_python":
            return await self._run_python(config, args, scope)
        if kind == "external_api":
            return await run_external_api(
                config,
                args,
                scope,
                secrets=secrets,
                allow_private=allow_private,
                transport=self.transport,
            )
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
            # Values as literals: an end user's text never becomes code.
            code = substitute_code(code, make_resolver(**scope_vars(scope)))
        name = config.get("name")
        defines = name and re.search(
            rf"^(async\s+)?def\s+{re.escape(name)}\s*\(", code, re.M
        )
        limits = self._sandbox_limits(config.get("timeout_seconds"))
        out = await run_inline_python(
            code, args, limits=limits, function_name=name if defines else None
        )
        if not out.success:
            raise ToolFailure(
                out.error or "inline_python failed", out.error_type or "runtime_error"
            )
        return out.result

    def _sandbox_limits(self, asked: Any) -> SandboxLimits:
        """The asked time (clamped) as wall and CPU limit, else the platform
        default; the operator's memory."""
        memory = self.ceilings.memory_mb
        if asked_seconds(asked) is not None:
            seconds = self.ceilings.seconds_for(asked)
            return SandboxLimits(
                cpu_seconds=seconds, wall_seconds=seconds, memory_mb=memory
            )
        default = SandboxLimits()
        return SandboxLimits(
            cpu_seconds=min(default.cpu_seconds, self.ceilings.max_seconds),
            wall_seconds=min(default.wall_seconds, self.ceilings.max_seconds),
            memory_mb=memory,
        )

    async def _run_kb(self, config: Mapping[str, Any], args: JsonDict) -> Any:
        if self.retriever is None:
            raise ToolFailure(NO_RETRIEVER_MESSAGE, "not_configured")
        query = args.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ToolFailure(
                "the knowledge_base tool needs a 'query' argument", "invalid_arguments"
            )
        seconds = self.ceilings.seconds_for(config.get("timeout_seconds"))
        return await self.retriever.search(
            query,
            list(config.get("target_knowledge_base_ids") or []),
            timeout_ms=int(seconds * 1000),
            team_id=self.team_id,
        )


async def _run_inbuilt(
    config: Mapping[str, Any], args: JsonDict, vendors: Mapping[str, Any]
) -> Any:
    tool_id = config.get("tool_id") or config.get("configurable_key")
    tool = INBUILT_TOOLS.get(str(tool_id))
    if tool is None:
        known = ", ".join(sorted(INBUILT_TOOLS))
        raise ToolFailure(
            f"unknown inbuilt tool {tool_id!r} (known: {known})", "tool_not_found"
        )
    if tool.vendor is not None:
        return await _run_vendor_inbuilt(tool.tool_id, tool.vendor, tool, args, vendors)
    assert tool.run is not None
    try:
        return tool.run(args)
    except KeyError as exc:
        raise ToolFailure(
            f"{tool.tool_id}: missing argument {exc}", "invalid_arguments"
        ) from exc
    except Exception as exc:
        raise ToolFailure(f"{tool.tool_id}: {exc}", "runtime_error") from exc


async def _run_vendor_inbuilt(
    tool_id: str,
    vendor_name: str,
    tool: Any,
    args: JsonDict,
    vendors: Mapping[str, Any],
) -> Any:
    vendor = vendors.get(vendor_name)
    if vendor is None:
        raise ToolFailure(
            f"{tool_id} needs a {vendor_name!r} vendor, and none is configured: "
            f"store the team's credential with PUT /v1/teams/current/credentials/"
            f"{vendor_name} on a server with that vendor integration",
            "not_configured",
        )
    missing = [n for n in tool.args_schema.get("required", []) if n not in args]
    if missing:
        raise ToolFailure(
            f"{tool_id}: missing argument {missing[0]!r}", "invalid_arguments"
        )
    reply = await vendor.call(str(tool.operation), dict(args))
    if isinstance(reply, dict) and (
        reply.get("success") is False or reply.get("error")
    ):
        raise ToolFailure(
            f"{tool_id}: {reply.get('error') or 'the vendor refused the call'}",
            "vendor_error",
        )
    return reply
