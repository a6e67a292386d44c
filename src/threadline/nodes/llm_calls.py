"""LLM calls for nodes: accounting, usage info, and structured-output parsing.

Every call goes through ``CallLog.call``, which records ``ChatResponse.call_record()``
(so judge and parse-retry calls are counted exactly) and turns any provider
exception into ``LLMError``. ``AssertionError`` is let through untouched so a test
fake that runs out of script fails the test instead of looking like an outage. An
LLM group's answer carries the records of every member call it made
(``extra["group_calls"]``, losers included): those are recorded instead
(``providers.groups.call_records``).

Structured output is validated with a small built-in checker (no jsonschema
dependency): the answer must be a JSON object; ``required`` keys must be present;
``type`` (incl. lists of types), ``enum``, nested ``properties`` and array ``items``
are checked. Other keywords are ignored.
"""

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from threadline.providers.base import (
    LLM,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    LLMError,
    ToolSpec,
)
from threadline.providers.groups import call_records

JsonDict = dict[str, Any]
ToolChoice = Literal["auto", "required", "none"] | None
_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n?(.*?)\n?```\s*$", re.DOTALL)


def usage_info(response: ChatResponse) -> JsonDict:
    """``llm_usage_info`` of one call (our short names plus the SDK's names)."""
    u = response.usage
    return {
        "model": response.model,
        "provider": response.provider,
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "total_tokens": u.total_tokens,
        "latency_ms": response.latency_ms,
        "response_model": response.model,
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "response_latency_milliseconds": round(response.latency_ms),
        "used_user_api_key": response.user_key,
        "structured_output_retry_metadata": None,
    }


@dataclass
class CallLog:
    """Makes the calls of one node run and keeps their accounting records."""

    llm: LLM
    llm_config: JsonDict
    calls: list[JsonDict] = field(default_factory=list)
    on_text: Callable[[str], Awaitable[None]] | None = None
    """Streams the text of the node's own replies (not judges or parse retries)."""

    async def call(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolSpec] = (),
        tool_choice: ToolChoice = None,
        response_schema: JsonDict | None = None,
        purpose: str = "node",
        llm_config: JsonDict | None = None,
    ) -> ChatResponse:
        """One call with this log's config (or ``llm_config``), recorded."""
        request = ChatRequest(
            llm_config=self.llm_config if llm_config is None else llm_config,
            messages=tuple(messages),
            tools=tuple(tools),
            tool_choice=tool_choice if tools else None,
            response_schema=response_schema,
            purpose=purpose,
            on_text=self.on_text if purpose == "node" else None,
        )
        try:
            response = await self.llm.chat(request)
        except (LLMError, AssertionError):
            raise
        except Exception as exc:
            raise LLMError(f"LLM call failed: {type(exc).__name__}: {exc}") from exc
        self.calls.extend(call_records(response))
        return response


def extract_json(text: str) -> Any:
    """Parse a JSON answer, tolerating code fences and prose around one object."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1).strip()
    try:
        return json.loads(stripped)
    except ValueError:
        start, end = stripped.find("{"), stripped.rfind("}")
        if 0 <= start < end:
            return json.loads(stripped[start : end + 1])
        raise


_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def _type_error(value: Any, schema: JsonDict, path: str) -> str | None:
    expected = schema.get("type")
    if expected is None:
        return None
    names = expected if isinstance(expected, list) else [expected]
    if any(_TYPES.get(str(n), lambda _v: True)(value) for n in names):
        return None
    return (
        f"{path} should be {' or '.join(map(str, names))}, got {type(value).__name__}"
    )


def validate(value: Any, schema: JsonDict, path: str = "$") -> str | None:
    """The first problem of ``value`` against ``schema``, or None."""
    problem = _type_error(value, schema, path)
    if problem:
        return problem
    if "enum" in schema and value not in schema["enum"]:
        return f"{path} must be one of {schema['enum']}"
    if isinstance(value, dict):
        for key in schema.get("required") or []:
            if key not in value:
                return f"{path} is missing the required key {key!r}"
        for key, sub in (schema.get("properties") or {}).items():
            if key in value and isinstance(sub, dict):
                problem = validate(value[key], sub, f"{path}.{key}")
                if problem:
                    return problem
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            problem = validate(item, schema["items"], f"{path}[{i}]")
            if problem:
                return problem
    return None


def parse_object(text: str, schema: JsonDict) -> tuple[JsonDict | None, str | None]:
    """``(object, None)`` when ``text`` is a valid answer, else ``(None, error)``."""
    try:
        value = extract_json(text)
    except ValueError as exc:
        return None, f"the answer is not valid JSON ({exc})"
    if not isinstance(value, dict):
        return None, f"the answer must be a JSON object, got {type(value).__name__}"
    problem = validate(value, schema)
    return (None, problem) if problem else (value, None)


def retry_metadata(retries: int, failed: list[JsonDict]) -> JsonDict:
    """``StructuredOutputRetryMetadata``: re-invocations made and failed attempts."""
    return {"retry_count": retries, "failed_attempts": failed}
