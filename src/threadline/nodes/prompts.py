"""Prompt assembly for LLM nodes: system prompt, chat history, judge and parse prompts.

System prompt (§6.5): the workflow's ``default_prompt_prefix``, the node's
``main_response_config.prompt`` (else the workflow's), then the workflow's
``default_prompt_suffix``; a node opts out with ``ignore_default_prompt_prefix`` /
``ignore_default_prompt_suffix``. Non-empty parts are joined with a blank line and
rendered with the task scope (``{{dynamic}}``, ``[[runtime]]``, ``{{global.x}}``;
unresolved placeholders are kept verbatim).

History: ``nodes.chat_history`` turns a thread's chat history into model messages.
"""

import json
from typing import Any

from threadline.engine.steps import Destination, NodeTask
from threadline.engine.templates import render
from threadline.nodes.chat_history import history_messages
from threadline.providers.base import ChatMessage

JsonDict = dict[str, Any]


def render_text(text: str, task: NodeTask) -> str:
    """``text`` with the task's variables substituted."""
    s = task.scope
    return render(
        text,
        dynamic=s.dynamic,
        runtime=s.runtime,
        threads=s.threads,
        globals_=s.globals_,
        limits=s.limits,
    )


def node_prompt(node: JsonDict, workflow: JsonDict) -> str:
    """The node's own prompt, else the workflow's ``main_response_config.prompt``."""
    own = (node.get("main_response_config") or {}).get("prompt")
    if own:
        return str(own)
    return str((workflow.get("main_response_config") or {}).get("prompt") or "")


def system_prompt(task: NodeTask) -> str:
    """prefix + node prompt + suffix (respecting the opt-outs), rendered."""
    node, workflow = task.node, task.workflow
    parts: list[str] = []
    if not node.get("ignore_default_prompt_prefix"):
        parts.append(str(workflow.get("default_prompt_prefix") or ""))
    parts.append(node_prompt(node, workflow))
    if not node.get("ignore_default_prompt_suffix"):
        parts.append(str(workflow.get("default_prompt_suffix") or ""))
    text = "\n\n".join(p.strip("\n") for p in parts if p and p.strip())
    return render_text(text, task)


def judge_messages(
    task: NodeTask, destination: Destination, max_recent: int | None
) -> list[ChatMessage]:
    """The messages of one independent condition evaluation."""
    lines = [
        "You judge whether a routing condition holds for the conversation below.",
        f"Condition: {destination.condition}",
        'Reply with JSON only: {"is_condition_met": true or false, "message": '
        '"<one short sentence explaining why>"'
        + (
            ', "args": {<the arguments described below>}}'
            if destination.args_schema
            else "}"
        ),
    ]
    if destination.args_schema:
        lines.append(
            "When the condition holds, fill args per this JSON schema: "
            + json.dumps(destination.args_schema)
        )
    transcript = [
        f"{m.role}: {m.content}"
        for m in history_messages(task.history, max_recent)
        if m.role in ("user", "assistant") and m.content
    ]
    body = "\n".join(transcript) or "(the conversation is empty)"
    return [
        ChatMessage(role="system", content="\n".join(lines)),
        ChatMessage(role="user", content=f"Conversation:\n{body}"),
    ]


def judge_schema(destination: Destination) -> JsonDict:
    """The JSON schema a judge answer follows."""
    props: JsonDict = {
        "is_condition_met": {"type": "boolean"},
        "message": {"type": "string"},
    }
    if destination.args_schema:
        props["args"] = destination.args_schema
    return {
        "title": "condition_evaluation",
        "type": "object",
        "properties": props,
        "required": ["is_condition_met", "message"],
    }


def structured_instruction(envelope: JsonDict) -> str:
    """The user message that asks for structured output after a say reply."""
    name = envelope.get("name") or "structured_output"
    description = envelope.get("description") or ""
    schema = envelope.get("input_schema") or {}
    return (
        f"Produce the structured output '{name}' for the conversation so far."
        + (f" {description}" if description else "")
        + " Reply with a single JSON object only, following this JSON schema: "
        + json.dumps(schema)
    )


def parse_retry_instruction(error: str) -> str:
    """The user message sent after an answer that failed to parse."""
    return (
        f"Your previous answer could not be used: {error}. "
        "Reply again with a single valid JSON object only, no other text."
    )
