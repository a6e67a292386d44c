"""Tool configurations (discriminated by ``type``), tool bindings and MCP servers."""

import json
import keyword
import string
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Self, TypeAlias

from pydantic import Field, field_validator, model_validator

from threadline.config.auth import IntegrationAuthConfig
from threadline.config.base import KeepsOnlyGiven, WireModel, typed_union
from threadline.config.condition import StaticMessagesConfig
from threadline.ids import new_logical_id


class ToolType(StrEnum):
    """The four tool kinds."""

    INBUILT_FUNCTION = "inbuilt_function"
    INLINE_PYTHON = "inline_python"
    EXTERNAL_API = "external_api"
    KNOWLEDGE_BASE = "knowledge_base"


class ToolSideEffect(StrEnum):
    """What running a tool may do; decides direct run vs. dry run in "test tool"."""

    NONE = "none"
    READS = "reads"
    WRITES = "writes"
    SENDS = "sends"
    UNKNOWN = "unknown"


class ToolVariableSource(StrEnum):
    """Which variable namespace a bound tool argument is read from."""

    AUTO = "auto"
    RUNTIME = "runtime"
    DYNAMIC = "dynamic"
    LITERAL = "literal"


class ToolResultVariableScope(StrEnum):
    """Which variable store a mapped tool result is written to."""

    THREAD = "thread"
    WORKFLOW = "workflow"


class APIMethod(StrEnum):
    """HTTP methods an external-API tool may use."""

    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    DELETE = "DELETE"


class ToolVariableArgument(WireModel):
    """A tool argument supplied from workflow variables (or a literal) at call time."""

    argument_name: str
    source: ToolVariableSource = ToolVariableSource.AUTO
    variable_path: str | None = None
    literal_value: Any | None = None
    default: Any | None = None
    required: bool = False
    expose_to_llm: bool = False
    override_provided_value: bool = True

    @model_validator(mode="after")
    def _check_usable(self) -> Self:
        name = self.argument_name
        if not name.isidentifier() or keyword.iskeyword(name):
            raise ValueError(f"variable_arguments: {name!r} is not a usable identifier")
        if self.source != ToolVariableSource.LITERAL and not self.variable_path:
            raise ValueError(f"variable_arguments[{name!r}]: variable_path is required")
        if not self.expose_to_llm and not self.override_provided_value:
            raise ValueError(
                f"variable_arguments[{name!r}]: hidden from the model and not"
                " overriding, so it can never apply"
            )
        return self


class ToolResultVariableMapping(WireModel):
    """Writes (part of) a tool's return value into a named runtime variable."""

    target_variable_name: str
    result_path: str | None = None
    scope: ToolResultVariableScope = ToolResultVariableScope.THREAD
    default: Any | None = None
    required: bool = False

    @field_validator("target_variable_name")
    @classmethod
    def _check_target(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("target_variable_name must not be blank")
        if value.startswith("_"):
            raise ValueError(f"target_variable_name {value!r}: leading '_' is reserved")
        if not value.isidentifier():
            raise ValueError(f"target_variable_name {value!r} is not a plain name")
        return value


class BaseToolConfig(WireModel):
    """Fields shared by every tool type."""

    logical_id: str | None = Field(default_factory=lambda: new_logical_id("tool"))
    side_effect: ToolSideEffect | None = None
    tool_id: str | None = None
    name: str | None = None
    description: str | None = None
    category: str | None = None
    signature: str | None = None
    args_schema: dict[str, Any] | None = None
    static_messages_config: StaticMessagesConfig | None = None
    result_runtime_variable_name: str | None = "tool_result"
    ignore_content_received_during_llm_tool_call_specification: bool = False
    timeout_seconds: int | None = None
    variable_arguments: list[ToolVariableArgument] = []
    result_variable_mappings: list[ToolResultVariableMapping] = []
    expand_result_into_runtime_variables: bool = False

    @model_validator(mode="after")
    def _check_bindings_unambiguous(self) -> Self:
        names = [binding.argument_name for binding in self.variable_arguments]
        if len(names) != len(set(names)):
            raise ValueError("variable_arguments binds an argument more than once")
        base = self.result_runtime_variable_name or "tool_result"
        reserved = {f"{base}_success", f"{base}_error"}
        targets = [m.target_variable_name for m in self.result_variable_mappings]
        if len(targets) != len(set(targets)):
            raise ValueError(
                "result_variable_mappings writes a variable more than once"
            )
        if clash := sorted(reserved.intersection(targets)):
            raise ValueError(f"result_variable_mappings writes reserved {clash}")
        return self


class InbuiltFunctionToolConfig(BaseToolConfig):
    """A server-registered inbuilt function (``tool_id`` is its registry id)."""

    type: Literal["inbuilt_function"] = "inbuilt_function"
    configurable_key: str | None = None
    extra_config: dict[str, Any] | None = None


class InlinePythonToolConfig(BaseToolConfig):
    """A self-contained Python function given as source code."""

    type: Literal["inline_python"] = "inline_python"
    code: str | None = None
    allow_code_variable_substitution: bool = True


def _placeholders(template: Any) -> set[str]:
    """Names used as ``{name}`` (str.format syntax) anywhere in a template."""
    if isinstance(template, str):
        try:
            parsed = string.Formatter().parse(template)
            return {n.split(".")[0].split("[")[0] for _, n, _, _ in parsed if n}
        except ValueError:
            return set()
    if isinstance(template, dict):
        return set().union(*(_placeholders(v) for v in template.values()))
    if isinstance(template, list):
        return set().union(*(_placeholders(v) for v in template))
    return set()


class ExternalAPIToolConfig(BaseToolConfig):
    """An HTTP endpoint; model arguments fill ``{name}`` placeholders."""

    type: Literal["external_api"] = "external_api"
    api_endpoint: str | None = None
    api_method: APIMethod | None = APIMethod.GET
    api_headers: dict[str, str] = {}
    api_body: dict[str, Any] | str | None = None
    integration_auth: IntegrationAuthConfig | None = None

    @field_validator("api_body", mode="before")
    @classmethod
    def _parse_body(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"api_body must be valid JSON: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _check_bindings_used(self) -> Self:
        if not self.variable_arguments:
            return self
        if self.tool_id and not (
            self.api_endpoint or self.api_headers or self.api_body
        ):
            return self
        used = _placeholders(self.api_endpoint) | _placeholders(self.api_headers)
        used |= _placeholders(self.api_body)
        names = {b.argument_name for b in self.variable_arguments}
        if orphans := sorted(names - used):
            raise ValueError(
                f"variable_arguments {orphans} appear in no {{placeholder}}"
            )
        return self


class KnowledgeBaseToolConfig(BaseToolConfig):
    """Semantic search over knowledge bases."""

    type: Literal["knowledge_base"] = "knowledge_base"
    target_knowledge_base_ids: list[str] = []
    category: str | None = "Knowledge Base"
    signature: str | None = (
        "Searches the knowledge bases given a natural language query "
        "and retrieves relevant chunks of information matching the query."
    )
    result_runtime_variable_name: str | None = "kb_tool_result"

    @model_validator(mode="after")
    def _only_query_bindable(self) -> Self:
        names = {b.argument_name for b in self.variable_arguments}
        if extra := sorted(names - {"query"}):
            raise ValueError(f"knowledge_base tools can only bind 'query', not {extra}")
        return self


class UnknownToolConfig(BaseToolConfig, KeepsOnlyGiven):
    """A tool whose ``type`` is not known here; all its fields are kept."""

    type: str


if TYPE_CHECKING:
    ToolConfig: TypeAlias = (
        InlinePythonToolConfig
        | InbuiltFunctionToolConfig
        | ExternalAPIToolConfig
        | KnowledgeBaseToolConfig
        | UnknownToolConfig
    )
else:
    ToolConfig = typed_union(
        InlinePythonToolConfig,
        InbuiltFunctionToolConfig,
        ExternalAPIToolConfig,
        KnowledgeBaseToolConfig,
        fallback=UnknownToolConfig,
    )


class ToolsConfig(WireModel):
    """A list of tools."""

    tools: list[ToolConfig] = []


class MCPServerConfig(WireModel):
    """A Model Context Protocol server connection."""

    name: str | None = None
    server_url: str
    api_headers: dict[str, str] | None = None


CALL_FORWARD_CONFIGURABLE_KEY = "call_forward"


class CallForwardExtraConfig(WireModel):
    """``extra_config`` of the configurable ``call_forward`` inbuilt tool."""

    warm_transfer_conversation_workflow_id: str | None = None


CONFIGURABLE_INBUILT_TOOLS: dict[str, type[WireModel]] = {
    CALL_FORWARD_CONFIGURABLE_KEY: CallForwardExtraConfig,
}
