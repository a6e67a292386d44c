"""Every bad input to the knowledge-base API: a clear 4xx naming the field, and
nothing changed."""

import base64
from typing import Any

import pytest

from tests.api.conftest import Team
from threadline.service.runtime import Runtime
from threadline.store import Store
from threadline.tools.knowledge import KnowledgeLimits

KB = "/v1/knowledge-bases"


async def snapshot(team: Team, store: Store) -> Any:
    """What the team has: knowledge bases, documents, chunks and jobs."""
    kbs = (await team.client.get(KB)).json()
    docs = {}
    for kb in kbs["knowledge_bases"]:
        listed = (await team.client.get(f"{KB}/{kb['id']}/documents")).json()
        docs[kb["id"]] = [(d["id"], d["status"]) for d in listed["documents"]]
    async with store.begin() as tx:
        chunks = {k: await tx.knowledge().count_chunks(team.team_id, k) for k in docs}
        jobs = [
            await tx.knowledge().get_job(team.team_id, d)
            for ids in docs.values()
            for d, _ in ids
        ]
    return kbs, docs, chunks, [j.id for j in jobs if j]


@pytest.fixture
async def kb(team: Team) -> str:
    got = await team.client.post(KB, json={"id": "kb_main", "name": "Main"})
    assert got.status_code == 200
    return "kb_main"


CREATE_CASES = [
    ([], 422, "body"),
    ({}, 422, "name"),
    ({"name": ""}, 422, "name"),
    ({"name": 7}, 422, "name"),
    ({"name": "x" * 201}, 422, "name"),
    ({"name": "ok", "description": 5}, 422, "description"),
    ({"name": "ok", "id": "has space"}, 422, "id"),
    ({"name": "ok", "id": "x" * 101}, 422, "id"),
    ({"name": "ok", "id": 12}, 422, "id"),
    ({"name": "ok", "id": "kb_main"}, 409, "kb_main"),
]


@pytest.mark.parametrize(("body", "status", "named"), CREATE_CASES)
async def test_a_bad_knowledge_base_is_refused(
    team: Team, store: Store, kb: str, body: Any, status: int, named: str
):
    before = await snapshot(team, store)
    got = await team.client.post(KB, json=body)
    assert got.status_code == status, got.text
    assert named in got.json()["message"]
    assert await snapshot(team, store) == before


PDF = base64.b64encode(b"%PDF-1.4 tiny").decode()
ADD_CASES = [
    ("nope", {"type": "text", "content": "x"}, 404, "nope"),
    ("kb_main", [], 422, "body"),
    ("kb_main", {"content": "x"}, 422, "type"),
    ("kb_main", {"type": "docx", "content": "x"}, 422, "type"),
    ("kb_main", {"type": "text"}, 422, "content"),
    ("kb_main", {"type": "text", "content": "   "}, 422, "content"),
    ("kb_main", {"type": "markdown", "content": 5}, 422, "content"),
    ("kb_main", {"type": "text", "content": "a\u0000b"}, 422, "content"),
    ("kb_main", {"type": "text", "content": "x", "name": ""}, 422, "name"),
    ("kb_main", {"type": "pdf"}, 422, "content_base64"),
    ("kb_main", {"type": "pdf", "content_base64": "%%%"}, 422, "content_base64"),
    (
        "kb_main",
        {"type": "pdf", "content_base64": base64.b64encode(b"hello").decode()},
        422,
        "PDF",
    ),
    ("kb_main", {"type": "url"}, 422, "url"),
    ("kb_main", {"type": "url", "url": "ftp://example.com/x"}, 422, "url"),
    ("kb_main", {"type": "url", "url": "not a url"}, 422, "url"),
    ("kb_main", {"url": "http://10.0.0.1/"}, 422, "url"),
    ("kb_main", {"url": "https://x.example/" + "a" * 2000}, 422, "url"),
]


@pytest.mark.parametrize(("kb_id", "body", "status", "named"), ADD_CASES)
async def test_a_bad_document_is_refused(
    team: Team, store: Store, kb: str, kb_id: str, body: Any, status: int, named: str
):
    before = await snapshot(team, store)
    got = await team.client.post(f"{KB}/{kb_id}/documents", json=body)
    assert got.status_code == status, got.text
    assert named in got.json()["message"]
    assert await snapshot(team, store) == before


UPLOAD_CASES = [
    ("application/msword", b"doc", 422, "Content-Type"),
    (None, b"doc", 422, "Content-Type"),
    ("text/plain", b"", 422, "empty"),
    ("text/plain", b"\xff\xfe bad", 422, "UTF-8"),
    ("application/pdf", b"not a pdf", 422, "PDF"),
]


@pytest.mark.parametrize(("ctype", "data", "status", "named"), UPLOAD_CASES)
async def test_a_bad_upload_is_refused(
    team: Team,
    store: Store,
    kb: str,
    ctype: str | None,
    data: bytes,
    status: int,
    named: str,
):
    before = await snapshot(team, store)
    headers = {"Content-Type": ctype} if ctype else {}
    got = await team.client.post(
        f"{KB}/{kb}/documents/upload", content=data, headers=headers
    )
    assert got.status_code == status, got.text
    assert named in got.json()["message"]
    assert await snapshot(team, store) == before


SEARCH_CASES = [
    ([], "body"),
    ({}, "query"),
    ({"query": ""}, "query"),
    ({"query": 5}, "query"),
    ({"query": "x" * 101}, "THREADLINE_KB_MAX_QUERY_CHARS"),
    ({"query": "ok", "top_k": 0}, "top_k"),
    ({"query": "ok", "top_k": 4}, "THREADLINE_KB_MAX_TOP_K"),
    ({"query": "ok", "top_k": "2"}, "top_k"),
    ({"query": "ok", "top_k": True}, "top_k"),
]


@pytest.mark.parametrize(("body", "named"), SEARCH_CASES)
async def test_a_bad_search_is_refused(
    team: Team, runtime: Runtime, kb: str, body: Any, named: str
):
    runtime.knowledge_limits = KnowledgeLimits(
        max_query_chars=100, max_top_k=3, default_top_k=2
    )
    got = await team.client.post(f"{KB}/{kb}/search", json=body)
    assert got.status_code == 422, got.text
    assert named in got.json()["message"]


async def test_the_ceilings_refuse_what_is_over_them_and_say_which(
    team: Team, store: Store, runtime: Runtime, kb: str
):
    runtime.knowledge_limits = KnowledgeLimits(
        max_knowledge_bases=1, max_documents=1, max_document_bytes=10
    )
    before = await snapshot(team, store)
    more = await team.client.post(KB, json={"name": "second"})
    assert more.status_code == 409
    assert "THREADLINE_KB_MAX_KNOWLEDGE_BASES" in more.json()["message"]
    big = await team.client.post(
        f"{KB}/{kb}/documents", json={"type": "text", "content": "x" * 11}
    )
    assert big.status_code == 413
    assert "THREADLINE_KB_MAX_DOCUMENT_BYTES" in big.json()["message"]
    big_pdf = base64.b64encode(b"%PDF-" + b"x" * 50).decode()
    got = await team.client.post(
        f"{KB}/{kb}/documents", json={"type": "pdf", "content_base64": big_pdf}
    )
    assert got.status_code == 413
    upload = await team.client.post(
        f"{KB}/{kb}/documents/upload",
        content=b"y" * 11,
        headers={"Content-Type": "text/plain"},
    )
    assert upload.status_code == 413
    assert await snapshot(team, store) == before
    first = await team.client.post(
        f"{KB}/{kb}/documents", json={"type": "text", "content": "one"}
    )
    assert first.status_code == 202
    await runtime.drain()  # its ingestion, started by the request
    after_first = await snapshot(team, store)
    second = await team.client.post(
        f"{KB}/{kb}/documents", json={"type": "text", "content": "two"}
    )
    assert second.status_code == 409
    assert "THREADLINE_KB_MAX_DOCUMENTS" in second.json()["message"]
    assert await snapshot(team, store) == after_first


async def test_unknown_ids_are_404_naming_them(team: Team, kb: str):
    for method, path in [
        ("GET", f"{KB}/missing"),
        ("PATCH", f"{KB}/missing"),
        ("DELETE", f"{KB}/missing"),
        ("GET", f"{KB}/missing/documents"),
        ("POST", f"{KB}/missing/search"),
        ("GET", f"{KB}/{kb}/documents/0123456789abcdef01234567"),
        ("DELETE", f"{KB}/{kb}/documents/0123456789abcdef01234567"),
        ("GET", f"{KB}/{kb}/documents/not-an-id%00"),
        ("GET", f"{KB}/missing%00"),
    ]:
        got = await team.client.request(method, path, json={"query": "x", "name": "n"})
        assert got.status_code == 404, (method, path)
        message = got.json()["message"]
        assert (
            "missing" in message
            or "0123456789abcdef01234567" in message
            or ("not-an-id" in message)
        )


async def test_a_bad_rename_changes_nothing(team: Team, store: Store, kb: str):
    before = await snapshot(team, store)
    bodies: list[Any] = [[], {"name": ""}, {"name": None}, {"description": 3}]
    for body in bodies:
        got = await team.client.patch(f"{KB}/{kb}", json=body)
        assert got.status_code == 422, body
    assert await snapshot(team, store) == before
