"""The workflow_run_fetch node (evaluation workflows)."""

from typing import Literal

from threadline.config.nodes.base import BaseNodeConfig, NodeCategory


class WorkflowRunFetchNodeConfig(BaseNodeConfig):
    """Loads a previous workflow run into a runtime variable."""

    type: Literal["workflow_run_fetch"] = "workflow_run_fetch"
    primary_category: str | None = NodeCategory.SYSTEM.value
    secondary_category: str | None = NodeCategory.EVALUATION.value
    workflow_run_id: str | None = "{{workflow_run_id}}"
    result_runtime_variable_name: str | None = "workflow_run_object"
