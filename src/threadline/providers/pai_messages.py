"""Our chat types to pydantic-ai's message and request types, and back.

Pure functions, no I/O: ``to_model_messages`` (history), ``request_parameters``
(tools and output mode) and ``response_parts`` (the answer).
"""

import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelRequestPart,
    ModelResponse,
    ModelResponsePart,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.output import OutputObjectDefinition
from pydantic_ai.tools import ToolDefinition

from threadline.providers.base import ChatMessage, ChatRequest, LLMError, ToolCall

JsonDict = dict[str, Any]
OUTPUT_TOOL = "final_result"
"""The output tool's name when structured output is tool-based."""
_SCHEMA_NAME = re.compile(r"[^a-zA-Z0-9_-]")


def to_model_messages(messages: Sequence[ChatMessage]) -> list[ModelMessage]:
    """Our history as pydantic-ai messages.

    Consecutive system/user/tool messages share one ``ModelRequest``; each
    assistant message is a ``ModelResponse``. A tool result's tool name is taken
    from the assistant call it answers (``tool_call_id``).
    """
    out: list[ModelMessage] = []
    pending: list[ModelRequestPart] = []
    names: dict[str, str] = {}
    for message in messages:
        if message.role == "assistant":
            if pending:
                out.append(ModelRequest(parts=pending))
                pending = []
            out.append(_assistant(message, names))
        elif message.role == "system":
            pending.append(SystemPromptPart(content=message.content))
        elif message.role == "tool":
            call_id = message.tool_call_id or ""
            pending.append(
                ToolReturnPart(
                    tool_name=names.get(call_id) or message.name or "tool",
                    content=message.content,
                    tool_call_id=call_id,
                )
            )
        else:
            pending.append(UserPromptPart(content=message.content))
    if pending:
        out.append(ModelRequest(parts=pending))
    return out


def _assistant(message: ChatMessage, names: dict[str, str]) -> ModelResponse:
    parts: list[ModelResponsePart] = []
    if message.content:
        parts.append(TextPart(content=message.content))
    for call in message.tool_calls:
        names[call.id] = call.name
        parts.append(
            ToolCallPart(
                tool_name=call.name, args=dict(call.arguments), tool_call_id=call.id
            )
        )
    return ModelResponse(parts=parts)


def schema_name(schema: JsonDict) -> str:
    """An output name the providers accept, from the schema's ``title``."""
    raw = str(schema.get("title") or "structured_output")
    return (_SCHEMA_NAME.sub("_", raw) or "structured_output")[:64]


def request_parameters(
    request: ChatRequest, *, native_output: bool, strict: bool | None = False
) -> ModelRequestParameters:
    """Function tools plus the output mode (text, native schema, or output tool)."""
    tools = [
        ToolDefinition(
            name=t.name,
            description=t.description,
            parameters_json_schema=t.parameters,
        )
        for t in request.tools
    ]
    schema = request.response_schema
    if schema is None:
        return ModelRequestParameters(function_tools=tools)
    if native_output:
        return ModelRequestParameters(
            function_tools=tools,
            output_mode="native",
            output_object=OutputObjectDefinition(
                json_schema=schema,
                name=schema_name(schema),
                description=schema.get("description"),
                strict=strict,
            ),
            allow_text_output=False,
        )
    output_tool = ToolDefinition(
        name=OUTPUT_TOOL,
        description=str(
            schema.get("description") or "Give the final answer in this structure."
        ),
        parameters_json_schema=schema,
        kind="output",
    )
    return ModelRequestParameters(
        function_tools=tools,
        output_mode="tool",
        output_tools=[output_tool],
        allow_text_output=False,
    )


def response_parts(
    response: ModelResponse,
) -> tuple[str, tuple[ToolCall, ...], str | None]:
    """(text, function calls, structured JSON from the output tool or None)."""
    text: list[str] = []
    calls: list[ToolCall] = []
    structured: str | None = None
    for part in response.parts:
        if isinstance(part, TextPart):
            text.append(part.content)
        elif isinstance(part, ToolCallPart):
            arguments = _arguments(part)
            if part.tool_name == OUTPUT_TOOL:
                structured = json.dumps(arguments)
            else:
                calls.append(
                    ToolCall(
                        id=part.tool_call_id, name=part.tool_name, arguments=arguments
                    )
                )
    return "".join(text), tuple(calls), structured


def _arguments(part: ToolCallPart) -> JsonDict:
    try:
        return part.args_as_dict(raise_if_invalid=True)
    except (ValueError, AssertionError) as exc:
        raise LLMError(
            f"tool call {part.tool_name!r} has arguments that are not a JSON "
            f"object: {str(part.args)[:200]!r}"
        ) from exc
