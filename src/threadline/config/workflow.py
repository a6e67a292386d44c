"""Workflow-level configuration (the fully hydrated workflow is in
``config.nodes.union``, with the nodes it embeds)."""

from enum import StrEnum
from typing import Any

from pydantic import Field

from threadline.config.base import WireModel
from threadline.config.evaluation import EvaluationConfig, GuardrailStrikesConfig
from threadline.config.llm import LLMOrGroupConfig, NoLLMConfig
from threadline.config.prompt import PromptConfig
from threadline.config.tool import MCPServerConfig, ToolsConfig
from threadline.ids import new_logical_id

_TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
_FALSE_WORDS = frozenset({"false", "0", "no", "off"})


class AccessControlLevel(StrEnum):
    """Who may see an entity."""

    PERSONAL = "personal"
    TEAM = "team"
    SYSTEM = "system"


class WorkflowAccessConfig(WireModel):
    """Access control of a workflow."""

    access_level: AccessControlLevel | None = None
    access_list: list[str] | None = None


class GlobalConditionEdgeEvaluationMethod(StrEnum):
    """How a workflow judges freeform conditions (nodes may also say
    ``workflow_default``; see ``nodes.base``)."""

    TOOL_CALL = "tool_call"
    INDEPENDENT_LLM_EVALUATIONS = "independent_llm_evaluations"


class WorkflowConfig(WireModel):
    """Workflow-wide settings; nodes and edges are referenced by DB id."""

    logical_id: str | None = Field(default_factory=lambda: new_logical_id("workflow"))
    name: str | None = None
    description: str | None = None
    category: str | None = "User Created"
    attachable_llm_config_id: str | None = None
    llms_config: LLMOrGroupConfig | None = Field(default_factory=NoLLMConfig)
    main_response_config: PromptConfig | None = None
    backchannel_response_config: PromptConfig | None = None
    default_prompt_prefix: str | None = None
    default_prompt_suffix: str | None = None
    ignore_content_received_during_llm_tool_call_specification: bool = False
    tools_config: ToolsConfig | None = None
    mcp_servers: list[MCPServerConfig] | None = None
    global_condition_evaluation_method: GlobalConditionEdgeEvaluationMethod | None = (
        GlobalConditionEdgeEvaluationMethod.TOOL_CALL
    )
    nodes: list[str] = []
    edges: list[str] = []
    miscellaneous: dict[str, Any] = {}
    access_config: WorkflowAccessConfig | None = Field(
        default_factory=WorkflowAccessConfig
    )
    evaluation_config: EvaluationConfig | None = None
    guardrail_strikes_config: GuardrailStrikesConfig | None = None

    def misc_flag(self, key: str, default: bool = False) -> bool:
        """Read a ``miscellaneous`` flag stored as a bool or a string like "true"."""
        raw = self.miscellaneous.get(key, default)
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            word = raw.strip().lower()
            if word in _TRUE_WORDS:
                return True
            if word in _FALSE_WORDS:
                return False
        return default
