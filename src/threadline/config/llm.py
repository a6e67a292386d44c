"""LLM configurations (discriminated by ``type``) and LLM groups.

``model`` is typed as a free string: provider catalogues change monthly and a
stored workflow naming a newer model must still load. ``KNOWN_MODELS`` lists the
names the reference SDK accepts, for callers that want to warn early.
"""

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import AliasChoices, Field, SecretStr, field_serializer

from threadline.config.auth import IntegrationAuthConfig
from threadline.config.base import UnknownTyped, WireModel, typed_union
from threadline.config.prompt import SelectionMode
from threadline.ids import new_logical_id


class LLMProvider(StrEnum):
    """LLM vendor behind a config."""

    DEFAULT_PROVIDER = "default_provider"
    AZURE_OPENAI = "azure_openai"
    OPENAI = "openai"
    GOOGLE = "google"
    ANTHROPIC = "anthropic"
    BEDROCK = "bedrock"
    CUSTOM = "custom"


KNOWN_MODELS: dict[LLMProvider, frozenset[str]] = {
    LLMProvider.AZURE_OPENAI: frozenset(
        [
            "gpt-5-chat",
            "gpt-5-mini",
            "gpt-5-nano",
            "gpt-4.1-nano",
            "gpt-4.1-mini",
            "gpt-4.1",
        ]
    ),
    LLMProvider.OPENAI: frozenset(
        [
            "gpt-5.4",
            "gpt-5.4-mini",
            "gpt-5.4-nano",
            "gpt-5.2",
            "gpt-5.1",
            "gpt-5-nano",
            "gpt-5-mini",
            "gpt-5",
            "gpt-5.4-pro",
            "gpt-5.2-pro",
            "gpt-5.2-chat-latest",
            "gpt-5.3-chat-latest",
            "gpt-4.1-nano",
            "gpt-4.1-mini",
            "gpt-4.1",
            "gpt-4",
            "gpt-4o-mini",
            "gpt-4o",
            "gpt-3.5-turbo",
        ]
    ),
    LLMProvider.GOOGLE: frozenset(
        [
            "gemini-flash-latest",
            "gemini-flash-lite-latest",
            "gemini-3.6-flash",
            "gemini-3.1-pro-preview",
            "gemini-3.5-flash",
            "gemini-3.5-flash-lite",
            "gemini-3.1-flash-lite",
            "gemini-3-flash-preview",
            "gemini-2.5-pro",
            "gemini-2.5-flash",
            "gemini-2.5-flash-lite",
        ]
    ),
    LLMProvider.ANTHROPIC: frozenset(
        [
            "claude-opus-5",
            "claude-sonnet-5",
            "claude-fable-5",
            "claude-opus-4-8",
            "claude-opus-4-7",
            "claude-opus-4-6",
            "claude-opus-4-5-20251101",
            "claude-opus-4-1-20250805",
            "claude-sonnet-4-6",
            "claude-sonnet-4-5-20250929",
            "claude-haiku-4-5",
            "claude-haiku-4-5-20251001",
        ]
    ),
    LLMProvider.BEDROCK: frozenset(
        [
            "zai.glm-5",
            "zai.glm-4.7",
            "zai.glm-4.7-flash",
            "moonshotai.kimi-k2.5",
            "moonshot.kimi-k2-thinking",
            "qwen.qwen3-vl-235b-a22b",
            "qwen.qwen3-32b-v1:0",
        ]
    ),
}


class BaseLLMConfig(WireModel):
    """Fields shared by every single-LLM config."""

    logical_id: str | None = Field(default_factory=lambda: new_logical_id("llm"))
    named_llm_config_id: str | None = None
    named_llm_config_name: str | None = None
    provider: LLMProvider | None = LLMProvider.DEFAULT_PROVIDER
    streaming: bool = False
    max_retries: int | None = 3
    max_parse_retries: int | None = 3
    max_tokens: int | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    request_timeout_ms: int | None = None
    seed: int | None = None
    model_kwargs: dict[str, Any] = {}
    api_key: SecretStr | None = Field(default=None, repr=False)
    do_not_split_sentences: bool = False
    truncated_max_recent_messages: int | None = None

    @field_serializer("api_key")
    def _reveal_api_key(self, value: SecretStr | None) -> str | None:
        # Masked in repr/str, but stored configs must round-trip the real key.
        return value.get_secret_value() if value is not None else None


class AzureOpenAILLMConfig(BaseLLMConfig):
    """Azure OpenAI (``model`` is a deployment name)."""

    type: Literal["azure_openai_llm"] = "azure_openai_llm"
    provider: LLMProvider | None = LLMProvider.AZURE_OPENAI
    model: str | None = "gpt-5-mini"
    endpoint: str | None = None
    api_version: str | None = None
    reasoning_effort: str | None = "low"


class OpenAILLMConfig(BaseLLMConfig):
    """OpenAI."""

    type: Literal["openai_llm"] = "openai_llm"
    provider: LLMProvider | None = LLMProvider.OPENAI
    model: str | None = "gpt-5.4-mini"
    base_url: str | None = None
    organization: str | None = None
    reasoning_effort: str | None = "low"


class GoogleLLMConfig(BaseLLMConfig):
    """Google Gemini."""

    type: Literal["google_llm"] = "google_llm"
    provider: LLMProvider | None = LLMProvider.GOOGLE
    model: str | None = "gemini-3-flash-preview"
    thinking_budget: int | None = 0


class AnthropicLLMConfig(BaseLLMConfig):
    """Anthropic Claude."""

    type: Literal["anthropic_llm"] = "anthropic_llm"
    provider: LLMProvider | None = LLMProvider.ANTHROPIC
    model: str | None = "claude-sonnet-4-6"
    thinking_budget: int | None = 0


class BedrockLLMConfig(BaseLLMConfig):
    """Amazon Bedrock (api_key is a bearer token; else access keys or IAM)."""

    type: Literal["bedrock_llm"] = "bedrock_llm"
    provider: LLMProvider | None = LLMProvider.BEDROCK
    model: str | None = "zai.glm-4.7-flash"
    region: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None


class CustomLLMConfig(BaseLLMConfig):
    """An OpenAI-compatible gateway."""

    type: Literal["custom_llm"] = "custom_llm"
    provider: LLMProvider | None = LLMProvider.CUSTOM
    model: str | None = None
    reasoning_effort: str | None = None
    base_url: str | None = None
    default_headers: dict[str, Any] | None = None
    rewrite_base_url: bool = False
    verify_ssl: bool = True
    response_unwrap_key: str | None = None
    integration_auth: IntegrationAuthConfig | None = Field(
        default=None, validation_alias=AliasChoices("integration_auth", "okta_auth")
    )
    use_responses_api: bool = False


class WorkflowDefaultLLMConfig(BaseLLMConfig):
    """Use the workflow's LLM config (and in turn the team/platform default)."""

    type: Literal["global_default_llm"] = "global_default_llm"


class NoLLMConfig(BaseLLMConfig):
    """Explicitly no LLM; the workflow-level default."""

    type: Literal["no_llm"] = "no_llm"


class OperationMode(StrEnum):
    """How an LLM group queries its members."""

    PARALLEL_SELECT_ONE = "parallel_select_one"
    SEQUENTIAL_WITH_PROACTIVE = "sequential_with_proactive"


_LLM_MODELS = (
    AzureOpenAILLMConfig,
    OpenAILLMConfig,
    GoogleLLMConfig,
    AnthropicLLMConfig,
    BedrockLLMConfig,
    CustomLLMConfig,
    WorkflowDefaultLLMConfig,
    NoLLMConfig,
)

if TYPE_CHECKING:
    LLMConfig: TypeAlias = (
        AzureOpenAILLMConfig
        | OpenAILLMConfig
        | GoogleLLMConfig
        | AnthropicLLMConfig
        | BedrockLLMConfig
        | CustomLLMConfig
        | WorkflowDefaultLLMConfig
        | NoLLMConfig
        | UnknownTyped
    )
else:
    LLMConfig = typed_union(*_LLM_MODELS)


class LLMGroupConfig(WireModel):
    """Several LLMs in preferred order, queried per ``operation_mode``."""

    type: Literal["llm_group"] = "llm_group"
    named_llm_config_id: str | None = None
    named_llm_config_name: str | None = None
    logical_id: str | None = Field(default_factory=lambda: new_logical_id("llm_group"))
    llms: list[LLMConfig] = []
    operation_mode: OperationMode | None = OperationMode.SEQUENTIAL_WITH_PROACTIVE
    min_patience_time_ms: int | None = 1500
    max_patience_time_ms: int | None = None


class LLMGroupWithBackchannelConfig(WireModel):
    """A main LLM group plus a backchannel (filler) LLM group or static fillers."""

    type: Literal["llm_group_with_backchannel"] = "llm_group_with_backchannel"
    named_llm_config_id: str | None = None
    named_llm_config_name: str | None = None
    id: str | None = Field(
        default_factory=lambda: new_logical_id("llm_group_with_backchannel")
    )
    main_llm_config: LLMGroupConfig | None = None
    non_backchannel_response_prefix: str | None = None
    backchannel_llm_config: LLMGroupConfig | None = None
    backchannel_static_responses: list[str] = []
    backchannel_static_responses_selection_mode: SelectionMode | None = (
        SelectionMode.RANDOM
    )
    backchannel_min_patience_time_ms: int | None = 2000


if TYPE_CHECKING:
    LLMOrGroupConfig: TypeAlias = (
        LLMConfig | LLMGroupConfig | LLMGroupWithBackchannelConfig
    )
else:
    LLMOrGroupConfig = typed_union(
        *_LLM_MODELS, LLMGroupConfig, LLMGroupWithBackchannelConfig
    )
