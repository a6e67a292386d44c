"""LLM nodes: say_llm, worker_llm and workflow_run_evaluator."""

from typing import Any, Literal
from uuid import uuid4

from pydantic import Field

from threadline.config.llm import LLMOrGroupConfig, WorkflowDefaultLLMConfig
from threadline.config.nodes.base import BaseNodeConfig, NodeCategory
from threadline.config.prompt import PromptConfig
from threadline.config.tool import ToolsConfig

DEFAULT_LLM_NODE_ERROR_MESSAGE = (
    "I am sorry, there seems to be an issue. Could you please repeat?"
)


class BaseLLMNodeConfig(BaseNodeConfig):
    """Fields shared by the LLM-backed node types."""

    primary_category: str | None = NodeCategory.SYSTEM.value
    secondary_category: str | None = NodeCategory.LLM.value
    main_response_config: PromptConfig | None = None
    attachable_llm_config_id: str | None = None
    llms_config: LLMOrGroupConfig | None = Field(
        default_factory=WorkflowDefaultLLMConfig
    )
    tools_config: ToolsConfig | None = None
    self_loop: bool = False
    wait_for_user_message: bool = True
    max_consecutive_tool_calls: int = 1
    default_error_message: str | None = DEFAULT_LLM_NODE_ERROR_MESSAGE
    use_mcp_tools: bool = False
    ignore_default_prompt_prefix: bool = False
    ignore_default_prompt_suffix: bool = False
    ignore_content_received_during_llm_tool_call_specification: bool = False
    structured_output_schema: dict[str, Any] | None = None
    backchannel_response_config: PromptConfig | None = None


class SayLLMNodeConfig(BaseLLMNodeConfig):
    """Conversational node: speaks the LLM reply, then waits and loops."""

    type: Literal["say_llm"] = "say_llm"
    self_loop: bool = True


class WorkerLLMNodeConfig(BaseLLMNodeConfig):
    """Background LLM node; its output is not spoken."""

    type: Literal["worker_llm"] = "worker_llm"


class WorkflowRunEvaluatorNodeConfig(BaseLLMNodeConfig):
    """Worker-style LLM node that scores a fetched workflow run."""

    type: Literal["workflow_run_evaluator"] = "workflow_run_evaluator"
    secondary_category: str | None = NodeCategory.EVALUATION.value
    input_runtime_variable_name: str | None = "workflow_run_object"
    output_runtime_variable_name: str | None = Field(
        default_factory=lambda: f"evaluator_output_{uuid4().hex}"
    )
    is_turn_by_turn_evaluator: bool = False
    wait_for_user_message: bool = False
    default_error_message: str | None = None
