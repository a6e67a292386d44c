"""Workflows, inputs and the instant model the scenarios share.

Workflow bodies are hydrated create bodies (``POST /v1/workflows``); the in-memory
scenarios validate them the same way the service does (``service.definitions.graph``) so
the engine sees the same defaulted node configs as on the full path.
"""

import asyncio
import itertools
from typing import Any

from threadline.engine.graph import Graph, compile_graph
from threadline.providers.base import ChatRequest, ChatResponse, Usage
from threadline.service.definitions import graph as graphs

JsonDict = dict[str, Any]

START: JsonDict = {
    "command": "start",
    "thread_to_node_inputs": {"0": {"node_run_inputs": []}},
}


def user_says(text: str, **extra: Any) -> JsonDict:
    """A ``data`` turn carrying one user message to the main thread."""
    return {
        "command": "data",
        "thread_to_node_inputs": {
            "0": {
                "node_run_inputs": [
                    {"type": "llm", "messages": [{"type": "human", "content": text}]}
                ]
            }
        },
        **extra,
    }


class InstantLLM:
    """An ``LLM`` that answers every request at once with the same short reply.

    Unlike ``ScriptedLLM`` it keeps no request log, so memory stays flat however
    many calls a benchmark makes.
    """

    def __init__(self, reply: str = "Sure, happy to help with that.") -> None:
        self.calls = 0
        self._response = ChatResponse(
            content=reply,
            usage=Usage(input_tokens=20, output_tokens=6, total_tokens=26),
            model="instant",
            provider="bench",
            latency_ms=0.0,
        )

    async def chat(self, request: ChatRequest) -> ChatResponse:
        self.calls += 1
        return self._response


class SlowLLM(InstantLLM):
    """``InstantLLM`` that waits ``latency_s`` (an ``asyncio.sleep``) before answering.

    Stands in for a provider with a fixed latency in the throughput scenarios; it
    is in-process, so no HTTP client or provider code is measured.
    """

    def __init__(self, latency_s: float, reply: str = "Sure, happy to help.") -> None:
        super().__init__(reply)
        self.latency_s = latency_s

    async def chat(self, request: ChatRequest) -> ChatResponse:
        self.calls += 1
        await asyncio.sleep(self.latency_s)
        return self._response


def _edge(source: str, destination: str, **extra: Any) -> JsonDict:
    return {
        "logical_id": f"edge_{source}_{destination}",
        "name": f"{source} to {destination}",
        "type": "direct",
        "source_node_logical_id": source,
        "destination_node_logical_id": destination,
        **extra,
    }


def _chain(name: str, nodes: list[JsonDict]) -> JsonDict:
    nodes[0]["is_start"] = True
    ids = [n["logical_id"] for n in nodes]
    return {
        "name": name,
        "workflow_config": {"name": name},
        "node_configs": nodes,
        "edge_configs": [_edge(a, b) for a, b in itertools.pairwise(ids)],
    }


def linear_no_op(count: int) -> JsonDict:
    """``count`` ``no_op`` nodes joined by direct edges; the last ends the run."""
    nodes = [
        {"type": "no_op", "logical_id": f"node_{i}", "name": f"Step {i}"}
        for i in range(count)
    ]
    return _chain(f"Linear no_op x{count}", nodes)


def say_llm_chain(count: int) -> JsonDict:
    """``count`` ``say_llm`` nodes that speak one after the other in one turn."""
    nodes = [
        {
            "type": "say_llm",
            "logical_id": f"node_{i}",
            "name": f"Speaker {i}",
            "self_loop": False,
            "wait_for_user_message": False,
            "main_response_config": {
                "prompt": f"You are speaker {i} of " + "{{clinic}}."
            },
        }
        for i in range(count)
    ]
    body = _chain(f"say_llm chain x{count}", nodes)
    body["workflow_config"]["miscellaneous"] = {
        "default_dynamic_variables": {"clinic": "Northside"}
    }
    return body


def conversation() -> JsonDict:
    """Greeting -> chat (say_llm, self loop) -> goodbye when ``[[done]] == true``."""
    return {
        "name": "Conversation",
        "workflow_config": {
            "name": "Conversation",
            "miscellaneous": {"default_dynamic_variables": {"clinic": "Northside"}},
        },
        "node_configs": [
            {
                "type": "say_static",
                "logical_id": "node_greet",
                "name": "Greeting",
                "is_start": True,
                "static_messages_config": {
                    "static_messages": ["Welcome to {{clinic}}! How can I help?"]
                },
            },
            {
                "type": "say_llm",
                "logical_id": "node_chat",
                "name": "Assistant",
                "self_loop": True,
                "wait_for_user_message": True,
                "main_response_config": {
                    "prompt": "You help the patients of {{clinic}} book visits."
                },
            },
            {
                "type": "say_static",
                "logical_id": "node_bye",
                "name": "Goodbye",
                "static_messages_config": {"static_messages": ["Goodbye!"]},
            },
        ],
        "edge_configs": [
            _edge("node_greet", "node_chat"),
            _edge(
                "node_chat",
                "node_bye",
                type="conditional",
                condition={"condition_expression": "[[done]] == true"},
            ),
        ],
    }


def hydrate(body: JsonDict) -> JsonDict:
    """Validate a create body as the service does and return the run snapshot."""
    return graphs.parse_hydrated(body).hydrated()


def compiled(body: JsonDict) -> Graph:
    return compile_graph(hydrate(body))


LINEAR_SIZES = (1, 5, 20)
