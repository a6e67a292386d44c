"""Automatic evaluation and guardrail-strike settings."""

from threadline.config.base import WireModel


class EvaluationConfig(WireModel):
    """Which evaluator workflow scores this workflow's runs."""

    evaluator_workflow_id: str | None = None
    evaluator_workflow_version_number: int | None = None
    enable_turn_by_turn_evaluation: bool = False


class EvaluationRunInfo(WireModel):
    """Stored on a source run once its evaluation run has been triggered."""

    evaluation_workflow_run_id: str | None = None


class GuardrailStrikesConfig(WireModel):
    """Counts entries into guardrail nodes and escalates past a threshold."""

    max_guardrail_nodes_before_escalation: int | None = None
    escalation_node_logical_id: str | None = None
    escalation_message: str | None = None
