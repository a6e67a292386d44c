"""Knowledge bases over HTTP: the resource, documents and their ingestion, search."""

import base64
import ipaddress
from typing import Any

import httpx
import pytest

from tests.api.conftest import Team
from tests.fakes.pdf import make_pdf
from threadline.service.knowledge import ingest
from threadline.service.runtime import Runtime
from threadline.store import Store
from threadline.tools import http as http_mod

KB = "/v1/knowledge-bases"
FAQ = """# Shipping FAQ

## How long does delivery take?
Standard delivery takes three to five working days.

## Can I change my address?
Yes, until the parcel is dispatched.
"""


async def settle(store: Store, runtime: Runtime) -> None:
    """Let every queued ingestion finish (the worker loop's work)."""
    await runtime.drain()
    await ingest.run_pending(store, runtime)


async def make_kb(team: Team, **body: Any) -> dict[str, Any]:
    got = await team.client.post(KB, json={"name": "Policies", **body})
    assert got.status_code == 200, got.text
    kb: dict[str, Any] = got.json()["knowledge_base"]
    return kb


async def test_a_knowledge_base_is_created_listed_read_renamed_and_deleted(
    team: Team, store: Store, runtime: Runtime
):
    kb = await make_kb(team, id="kb_policies_001", description="Plan rules")
    assert kb["id"] == "kb_policies_001"
    assert kb["name"] == "Policies" and kb["description"] == "Plan rules"
    assert kb["document_count"] == 0 and kb["chunk_count"] == 0
    other = await make_kb(team, name="FAQ")
    assert len(other["id"]) == 24
    listed = (await team.client.get(KB)).json()
    assert {k["id"] for k in listed["knowledge_bases"]} == {kb["id"], other["id"]}
    assert listed["total"] == 2
    got = await team.client.get(f"{KB}/kb_policies_001")
    assert got.json()["knowledge_base"]["description"] == "Plan rules"
    renamed = await team.client.patch(f"{KB}/kb_policies_001", json={"name": "Rules"})
    assert renamed.json()["knowledge_base"]["name"] == "Rules"
    added = await team.client.post(
        f"{KB}/kb_policies_001/documents", json={"type": "text", "content": "hello"}
    )
    assert added.status_code == 202
    await settle(store, runtime)
    assert (await team.client.delete(f"{KB}/kb_policies_001")).status_code == 204
    assert (await team.client.get(f"{KB}/kb_policies_001")).status_code == 404
    async with store.begin() as tx:
        assert await tx.knowledge().count_chunks(team.team_id, "kb_policies_001") == 0
    # the id is free again, with nothing left over
    again = await make_kb(team, id="kb_policies_001")
    assert again["document_count"] == 0 and again["chunk_count"] == 0


async def test_text_and_markdown_documents_are_ingested_and_searched(
    team: Team, store: Store, runtime: Runtime
):
    kb = await make_kb(team)
    text = await team.client.post(
        f"{KB}/{kb['id']}/documents",
        json={
            "type": "text",
            "name": "returns.txt",
            "content": "Returns are accepted within 30 days of purchase.",
        },
    )
    assert text.status_code == 202
    assert text.json()["document"]["status"] == "queued"
    md = await team.client.post(
        f"{KB}/{kb['id']}/documents",
        json={"type": "markdown", "name": "faq.md", "content": FAQ},
    )
    await settle(store, runtime)
    doc = (
        await team.client.get(
            f"{KB}/{kb['id']}/documents/{md.json()['document']['id']}"
        )
    ).json()["document"]
    assert doc["status"] == "ready" and doc["error"] is None
    assert doc["chunk_count"] >= 1 and doc["type"] == "markdown"
    listed = (await team.client.get(f"{KB}/{kb['id']}/documents")).json()
    assert listed["total"] == 2
    assert {d["status"] for d in listed["documents"]} == {"ready"}
    found = await team.client.post(
        f"{KB}/{kb['id']}/search", json={"query": "How long does delivery take?"}
    )
    assert found.status_code == 200
    out = found.json()
    assert "three to five working days" in out["results"][0]["text"]
    assert out["results"][0]["source"]["document_name"] == "faq.md"
    assert out["results"][0]["source"]["position"] == 0
    assert out["retrieval"]["mode"] == "lexical"
    assert "no embeddings model" in out["retrieval"]["notice"]
    counts = (await team.client.get(f"{KB}/{kb['id']}")).json()["knowledge_base"]
    assert counts["document_count"] == 2 and counts["chunk_count"] >= 2


async def test_pdf_and_html_uploads_are_read_page_by_page_and_without_markup(
    team: Team, store: Store, runtime: Runtime
):
    kb = await make_kb(team)
    pdf = make_pdf([["Cover page"], ["Claims must be filed within 90 days."]])
    up = await team.client.post(
        f"{KB}/{kb['id']}/documents/upload?name=policy.pdf",
        content=pdf,
        headers={"Content-Type": "application/pdf"},
    )
    assert up.status_code == 202, up.text
    html = "<html><head><script>var hidden = 1;</script></head><body><h1>Hours</h1><p>Open from 9 to 5.</p></body></html>"
    page = await team.client.post(
        f"{KB}/{kb['id']}/documents", json={"type": "html", "content": html}
    )
    assert page.status_code == 202
    await settle(store, runtime)
    got = (
        await team.client.get(
            f"{KB}/{kb['id']}/documents/{up.json()['document']['id']}"
        )
    ).json()["document"]
    assert (
        got["status"] == "ready" and got["pages"] == 2 and got["name"] == "policy.pdf"
    )
    claims = (
        await team.client.post(
            f"{KB}/{kb['id']}/search", json={"query": "claims filed"}
        )
    ).json()
    assert claims["results"][0]["source"]["page"] == 2
    assert "90 days" in claims["results"][0]["text"]
    hidden = (
        await team.client.post(f"{KB}/{kb['id']}/search", json={"query": "hidden var"})
    ).json()
    assert hidden["results"] == []
    hours = (
        await team.client.post(f"{KB}/{kb['id']}/search", json={"query": "open hours"})
    ).json()
    assert hours["results"][0]["text"] == "Hours\nOpen from 9 to 5."


async def test_a_broken_pdf_fails_with_its_error_and_the_others_still_ingest(
    team: Team, store: Store, runtime: Runtime
):
    kb = await make_kb(team)
    broken = await team.client.post(
        f"{KB}/{kb['id']}/documents",
        json={
            "type": "pdf",
            "name": "broken.pdf",
            "content_base64": base64.b64encode(b"%PDF-1.4 garbage").decode(),
        },
    )
    assert broken.status_code == 202
    await team.client.post(
        f"{KB}/{kb['id']}/documents", json={"type": "text", "content": "fine"}
    )
    await settle(store, runtime)
    docs = (await team.client.get(f"{KB}/{kb['id']}/documents")).json()["documents"]
    by_name = {d["name"]: d for d in docs}
    assert by_name["broken.pdf"]["status"] == "failed"
    assert "PDF" in by_name["broken.pdf"]["error"]
    assert by_name["document.text"]["status"] == "ready"


@pytest.fixture
def public_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    async def public(host: str, port: int) -> list[Any]:
        return [ipaddress.ip_address("93.184.216.34")]

    monkeypatch.setattr(http_mod, "resolve_host", public)


@pytest.mark.usefixtures("public_dns")
async def test_a_url_is_fetched_through_the_guard_and_read_by_its_content_type(
    team: Team, store: Store, runtime: Runtime
):
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(
            200,
            content=b"<html><body><p>Pets are welcome in the lobby.</p></body></html>",
            headers={"Content-Type": "text/html; charset=utf-8"},
        )

    runtime.http_transport = httpx.MockTransport(handler)
    kb = await make_kb(team)
    added = await team.client.post(
        f"{KB}/{kb['id']}/documents", json={"url": "https://docs.example/pets"}
    )
    assert added.status_code == 202, added.text
    doc = added.json()["document"]
    assert doc["type"] == "url" and doc["name"] == "https://docs.example/pets"
    await settle(store, runtime)
    got = (await team.client.get(f"{KB}/{kb['id']}/documents/{doc['id']}")).json()[
        "document"
    ]
    assert got["status"] == "ready", got
    assert seen and "93.184.216.34" in seen[0]
    found = (
        await team.client.post(f"{KB}/{kb['id']}/search", json={"query": "pets"})
    ).json()
    assert found["results"][0]["text"] == "Pets are welcome in the lobby."
    assert found["results"][0]["source"]["url"] == "https://docs.example/pets"


async def test_a_url_to_a_private_address_is_refused_and_nothing_is_stored(
    team: Team, store: Store, runtime: Runtime
):
    kb = await make_kb(team)
    refused = await team.client.post(
        f"{KB}/{kb['id']}/documents", json={"url": "http://127.0.0.1:9/admin"}
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "address_refused"
    assert "url" in refused.json()["message"]
    assert (await team.client.get(f"{KB}/{kb['id']}/documents")).json()["total"] == 0


async def test_another_teams_knowledge_base_is_not_found(
    team: Team, other_team: Team, store: Store, runtime: Runtime
):
    kb = await make_kb(team, id="kb_private")
    await team.client.post(
        f"{KB}/kb_private/documents", json={"type": "text", "content": "secret plans"}
    )
    await settle(store, runtime)
    doc_id = (await team.client.get(f"{KB}/kb_private/documents")).json()["documents"][
        0
    ]["id"]
    client = other_team.client
    headers = {"Authorization": f"Bearer {other_team.key}"}
    for method, path, body in [
        ("GET", f"{KB}/kb_private", None),
        ("PATCH", f"{KB}/kb_private", {"name": "x"}),
        ("DELETE", f"{KB}/kb_private", None),
        ("GET", f"{KB}/kb_private/documents", None),
        ("GET", f"{KB}/kb_private/documents/{doc_id}", None),
        ("DELETE", f"{KB}/kb_private/documents/{doc_id}", None),
        ("POST", f"{KB}/kb_private/documents", {"type": "text", "content": "x"}),
        ("POST", f"{KB}/kb_private/search", {"query": "secret"}),
    ]:
        got = await client.request(method, path, json=body, headers=headers)
        assert got.status_code == 404, (method, path, got.text)
        assert "kb_private" in got.json()["message"]
    # the other team may use the same id for its own
    mine = await client.post(
        KB, json={"id": "kb_private", "name": "Mine"}, headers=headers
    )
    assert mine.status_code == 200
    assert (await client.get(KB, headers=headers)).json()["total"] == 1
    headers = {"Authorization": f"Bearer {team.key}"}
    found = await client.post(
        f"{KB}/kb_private/search", json={"query": "secret"}, headers=headers
    )
    assert found.json()["results"][0]["text"] == "secret plans"
    assert kb["id"] == "kb_private"


async def test_deleting_a_document_removes_it_from_search(
    team: Team, store: Store, runtime: Runtime
):
    kb = await make_kb(team)
    added = await team.client.post(
        f"{KB}/{kb['id']}/documents", json={"type": "text", "content": "zebra crossing"}
    )
    await settle(store, runtime)
    doc_id = added.json()["document"]["id"]
    assert (
        await team.client.delete(f"{KB}/{kb['id']}/documents/{doc_id}")
    ).status_code == 204
    found = (
        await team.client.post(f"{KB}/{kb['id']}/search", json={"query": "zebra"})
    ).json()
    assert found["results"] == []
    assert (
        await team.client.get(f"{KB}/{kb['id']}/documents/{doc_id}")
    ).status_code == 404
