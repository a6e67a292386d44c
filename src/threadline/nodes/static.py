"""The ``say_static`` node: speak one pre-written message, no LLM.

Selection (``static_messages_config.static_messages_selection_mode``):

* ``random`` (default): a ``random.Random`` seeded with ``"<logical_id>:<node_run_id>"``
  picks the message, so a replayed turn speaks the same words while successive runs
  of the node still vary.
* ``sequence``: message ``(node_run_id - 1) % len(messages)``, cycling.

The chosen message is rendered (``{{dynamic}}``, ``[[runtime]]``, globals; unresolved
placeholders are kept verbatim) and produces the events ``say_static{message}`` and
``assistant_response{content, response_metadata.message_type="static"}`` plus an
``ai`` history entry. Run output: ``{}`` (SayStaticNodeRunOutput has no fields).

Errors: a node without messages speaks nothing and emits a ``workflow_warning``
saying so; the run continues (nothing is fatal here).
"""

import random

from threadline.engine.steps import NodeResult, NodeTask
from threadline.engine.templates import render
from threadline.nodes.base import Ports
from threadline.tools.runner import scope_vars

__all__ = ["choose_message", "execute_say_static", "speak"]


def choose_message(messages: list[str], mode: str | None, task: NodeTask) -> str:
    """The message this run speaks (before rendering)."""
    if mode == "sequence":
        return messages[(task.node_run_id - 1) % len(messages)]
    seed = f"{task.node.get('logical_id')}:{task.node_run_id}"
    return random.Random(seed).choice(messages)


def speak(result: NodeResult, text: str, message_type: str = "static") -> None:
    """Add an ``assistant_response`` event and the ``ai`` history entry."""
    result.events.append(
        {
            "type": "assistant_response",
            "content": text,
            "response_metadata": {"message_type": message_type},
            "llm_usage_info": None,
        }
    )
    result.history.append({"type": "ai", "content": text})


async def execute_say_static(task: NodeTask, ports: Ports) -> NodeResult:
    """Speak one of the node's static messages."""
    config = task.node.get("static_messages_config") or {}
    messages = [m for m in config.get("static_messages") or [] if isinstance(m, str)]
    result = NodeResult()
    if not messages:
        name = task.node.get("name") or task.node.get("logical_id")
        result.events.append(
            {
                "type": "workflow_warning",
                "warning_message": f"say_static node {name!r} has no static_messages;"
                " nothing was said",
            }
        )
        return result
    chosen = choose_message(
        messages, config.get("static_messages_selection_mode"), task
    )
    text = render(chosen, **scope_vars(task.scope))
    result.events.append({"type": "say_static", "message": text})
    speak(result, text)
    return result
