"""The ``knowledge_base`` tool end to end: a workflow like the SDK's example 23
(member services with a policy PDF and a Markdown FAQ), on the fake model server,
with its deterministic embeddings: the fact only the PDF holds reaches the model
in the tool result."""

import json
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.api.conftest import Team
from tests.api.test_knowledge_bases import KB, settle
from tests.fakes.openai_server import (
    FakeOpenAIServer,
    running_openai_server,
    text_reply,
    tool_calls_reply,
)
from tests.fakes.pdf import make_pdf
from threadline.providers.embeddings import Embeddings
from threadline.service.processes import runtime_from_settings
from threadline.service.runtime import Runtime
from threadline.settings import Settings
from threadline.store import Store

POLICY_PDF = make_pdf(
    [
        ["Cigna Member Policy 2026", "Section 1: Definitions of covered services."],
        [
            "Section 7: Out-of-network emergency care.",
            "Emergency room visits outside the network carry a flat copay of",
            "185 dollars, waived when the member is admitted.",
        ],
    ]
)
FAQ = """# Member FAQ

## How do I find a doctor?
Use the provider directory on the member portal.

## How do I get a new ID card?
Order one from the portal; it arrives in 7 to 10 days.
"""
QUESTION = "What is the copay for an out-of-network emergency room visit?"
TOOL = "search_policy_knowledge_base"


def member_services_workflow() -> dict[str, Any]:
    """The assistant of example 23, cut to its knowledge-base part."""
    return {
        "name": "Cigna Member Services",
        "workflow_config": {"name": "Cigna Member Services"},
        "node_configs": [
            {
                "type": "say_llm",
                "logical_id": "node_main",
                "name": "Main Assistant",
                "is_start": True,
                "main_response_config": {
                    "prompt": "You are Cigna's member services assistant. Search "
                    "the policy documentation before answering policy questions."
                },
                "tools_config": {
                    "tools": [
                        {
                            "type": "knowledge_base",
                            "name": TOOL,
                            "description": "Search Cigna's policy and coverage "
                            "documentation.",
                            "target_knowledge_base_ids": [
                                "kb_cigna_policies_001",
                                "kb_cigna_faq_002",
                            ],
                            "result_runtime_variable_name": "policy_kb_results",
                        }
                    ]
                },
            }
        ],
        "edge_configs": [],
    }


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with running_openai_server() as s:
        yield s


@pytest.fixture
async def runtime(
    server: FakeOpenAIServer, settings: Settings, store: Store
) -> AsyncIterator[Runtime]:
    """The production runtime, every model call (and embedding) on the fake."""
    configured = settings.model_copy(
        update={
            "llm_override_url": server.base_url,
            "llm_override_model": "fake-chat",
            "embeddings_model": "text-embedding-3-small",
        }
    )
    runtime = runtime_from_settings(configured)
    runtime.rng = random.Random(7)
    yield runtime
    await runtime.drain()


async def upload_documents(team: Team, store: Store, runtime: Runtime) -> None:
    for kb_id, name in [
        ("kb_cigna_policies_001", "Cigna Policies"),
        ("kb_cigna_faq_002", "Cigna FAQ"),
    ]:
        got = await team.client.post(KB, json={"id": kb_id, "name": name})
        assert got.status_code == 200, got.text
    pdf = await team.client.post(
        f"{KB}/kb_cigna_policies_001/documents/upload?name=member-policy.pdf",
        content=POLICY_PDF,
        headers={"Content-Type": "application/pdf"},
    )
    assert pdf.status_code == 202, pdf.text
    faq = await team.client.post(
        f"{KB}/kb_cigna_faq_002/documents",
        json={"type": "markdown", "name": "faq.md", "content": FAQ},
    )
    assert faq.status_code == 202, faq.text
    await settle(store, runtime)
    for kb_id in ("kb_cigna_policies_001", "kb_cigna_faq_002"):
        docs = (await team.client.get(f"{KB}/{kb_id}/documents")).json()["documents"]
        assert [d["status"] for d in docs] == ["ready"], docs
        assert docs[0]["embeddings"]["model"] == "text-embedding-3-small"
        assert docs[0]["embeddings"]["input_tokens"] > 0


def tool_messages(server: FakeOpenAIServer) -> list[str]:
    chats = [r for r in server.requests if r.path.endswith("/chat/completions")]
    return [
        str(m.get("content"))
        for r in chats
        for m in (r.body or {}).get("messages", [])
        if m.get("role") == "tool"
    ]


async def test_the_fact_only_the_pdf_holds_reaches_the_model_in_the_tool_result(
    team: Team, store: Store, runtime: Runtime, server: FakeOpenAIServer
):
    await upload_documents(team, store, runtime)
    created = await team.client.post("/v1/workflows", json=member_services_workflow())
    assert created.status_code == 200, created.text
    assert created.json()["warnings"] == []
    wid = created.json()["workflow"]["_id"]
    server.queue(
        tool_calls_reply([(TOOL, {"query": "out-of-network emergency room copay"})]),
        text_reply("The copay is 185 dollars, waived if you are admitted."),
    )
    turn = await team.client.post(
        f"/v1/workflows/{wid}/execute",
        json={
            "run_input": {
                "command": "start",
                "thread_to_node_inputs": {
                    "0": {
                        "node_run_inputs": [
                            {
                                "type": "llm",
                                "messages": [{"type": "human", "content": QUESTION}],
                            }
                        ]
                    }
                },
            }
        },
    )
    assert turn.status_code == 200, turn.text
    [result] = tool_messages(server)
    assert "185 dollars" in result
    sent = json.loads(result)
    top = sent["results"][0]
    assert "185 dollars" in top["text"]
    assert top["source"]["document_name"] == "member-policy.pdf"
    assert top["source"]["page"] == 2
    assert top["source"]["knowledge_base_id"] == "kb_cigna_policies_001"
    # the query went through the embeddings endpoint too
    embedded = [r for r in server.requests if r.path.endswith("/embeddings")]
    assert embedded[-1].body["input"] == ["out-of-network emergency room copay"]
    spoken = [
        e["content"] for e in turn.json()["events"] if e["type"] == "assistant_response"
    ]
    assert spoken == ["The copay is 185 dollars, waived if you are admitted."]
    run = await team.client.get(f"/v1/workflow-runs/{turn.json()['run_id']}")
    events = run.json()["workflow_run"]["workflow_run"]["input_output_pairs"][0][
        "run_output"
    ]["events"]
    written = [
        e["runtime_variables"]["policy_kb_results"]
        for e in events
        if "policy_kb_results" in (e.get("runtime_variables") or {})
    ]
    assert written == [sent]


async def test_search_is_hybrid_with_an_embeddings_model_and_counts_its_usage(
    team: Team, store: Store, runtime: Runtime, server: FakeOpenAIServer
):
    await upload_documents(team, store, runtime)
    found = await team.client.post(
        f"{KB}/kb_cigna_policies_001/search", json={"query": QUESTION, "top_k": 2}
    )
    out = found.json()
    assert out["retrieval"]["mode"] == "hybrid"
    assert out["retrieval"]["notice"] is None
    assert out["retrieval"]["embeddings_model"] == "text-embedding-3-small"
    assert out["retrieval"]["vector"] in ("exact", "sqlite-vec", "pgvector")
    assert out["retrieval"]["usage"]["input_tokens"] > 0
    assert "185 dollars" in out["results"][0]["text"]
    assert out["results"][0]["ranks"]["vector"] == 1


async def test_the_tool_test_endpoint_searches_too(
    team: Team, store: Store, runtime: Runtime
):
    await upload_documents(team, store, runtime)
    tool = member_services_workflow()["node_configs"][0]["tools_config"]["tools"][0]
    got = await team.client.post(
        "/v1/tools/execute",
        json={"tool_config": tool, "args": {"query": "new ID card"}},
    )
    assert got.status_code == 200, got.text
    out = got.json()
    assert out["success"] is True, out
    assert "7 to 10 days" in out["result"]["results"][0]["text"]
    assert out["result"]["results"][0]["source"]["document_name"] == "faq.md"
    assert out["side_effect"] == "reads" and out["dry_run"] is False


async def test_unknown_knowledge_bases_warn_at_save_and_fail_clearly_when_called(
    team: Team, store: Store, runtime: Runtime
):
    workflow = member_services_workflow()
    created = await team.client.post("/v1/workflows", json=workflow)
    warnings = created.json()["warnings"]
    assert [w["code"] for w in warnings] == ["unknown_knowledge_base"] * 2
    first = warnings[0]
    assert first["node_logical_id"] == "node_main"
    assert first["field"] == "tools_config.tools[0].target_knowledge_base_ids[0]"
    assert "Main Assistant" in first["message"]
    assert "kb_cigna_policies_001" in first["message"]
    tool = workflow["node_configs"][0]["tools_config"]["tools"][0]
    got = await team.client.post(
        "/v1/tools/execute", json={"tool_config": tool, "args": {"query": "copay"}}
    )
    out = got.json()
    assert out["success"] is False
    assert "kb_cigna_policies_001" in out["error"]
    # one of the two known: it is searched, the other reported
    await team.client.post(KB, json={"id": "kb_cigna_faq_002", "name": "FAQ"})
    got = await team.client.post(
        "/v1/tools/execute", json={"tool_config": tool, "args": {"query": "copay"}}
    )
    out = got.json()
    assert out["success"] is True
    assert out["result"]["unknown_knowledge_base_ids"] == ["kb_cigna_policies_001"]


async def test_embeddings_use_the_teams_openai_credential(
    team: Team, store: Store, runtime: Runtime, server: FakeOpenAIServer
):
    # the operator's own embeddings endpoint (not the override): keys apply
    runtime.embeddings = Embeddings(
        model="text-embedding-3-small",
        base_url=server.base_url,
        server_key="sk-server-fallback",
    )
    put = await team.client.put(
        "/v1/teams/current/credentials/openai", json={"api_key": "sk-team-own-123456"}
    )
    assert put.status_code == 201, put.text
    await team.client.post(KB, json={"id": "kb_keys", "name": "Keys"})
    await team.client.post(
        f"{KB}/kb_keys/documents", json={"type": "text", "content": "keys matter"}
    )
    await settle(store, runtime)
    found = await team.client.post(f"{KB}/kb_keys/search", json={"query": "keys"})
    assert found.json()["retrieval"]["mode"] == "hybrid"
    sent = [
        r.headers["authorization"]
        for r in server.requests
        if r.path.endswith("/embeddings")
    ]
    assert sent == ["Bearer sk-team-own-123456"] * 2
