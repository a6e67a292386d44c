"""A knowledge base's documents: add (queued for ingestion), list, get, delete.

One ``kb_documents`` document each (``logical_id``: its knowledge base's id,
``type``: its kind, ``status``: ``queued`` -> ``processing`` -> ``ready`` or
``failed`` with ``error``), written in one transaction with its ingestion job
(``kb_jobs``, which holds the uploaded bytes until the document is ingested), so
an accepted document is never lost: a worker (``ingest.py``) takes the job.

Adding checks everything it can before anything is stored: the kind, the
content (UTF-8 text; a PDF that starts like one; an http(s) URL the SSRF guard
lets through), ``THREADLINE_KB_MAX_DOCUMENT_BYTES`` (413) and
``THREADLINE_KB_MAX_DOCUMENTS`` (409 ``over_limit``).
"""

import base64
import binascii
from typing import Any

import httpx

from threadline.errors import (
    AddressRefused,
    Conflict,
    InvalidField,
    NotFound,
    PayloadTooLarge,
)
from threadline.ids import is_object_id, new_object_id
from threadline.service.caller import Caller
from threadline.service.definitions.workflows import now
from threadline.service.knowledge import bases, ingest
from threadline.service.knowledge.extract import KINDS, TEXT_KINDS
from threadline.service.runtime import Runtime
from threadline.store import Document, IngestJob, Query, Store, Transaction
from threadline.tools.http import check_url
from threadline.tools.http_call import BlockedAddress, HttpPolicy

JsonDict = dict[str, Any]
KIND = bases.DOCUMENTS
MAX_NAME = 300
MAX_URL = 2_000
CONTENT_TYPES = {
    "text/plain": "text",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/html": "html",
    "application/pdf": "pdf",
}


def render(doc: Document) -> JsonDict:
    """The API shape of a document (never its content)."""
    body = doc.body
    return {
        "id": doc.id,
        "knowledge_base_id": doc.logical_id,
        "name": body.get("name"),
        "type": doc.type,
        "url": body.get("url"),
        "status": doc.status,
        "error": body.get("error"),
        "size_bytes": body.get("size_bytes"),
        "chunk_count": body.get("chunk_count", 0),
        "pages": body.get("pages"),
        "embeddings": body.get("embeddings"),
        "created_by": doc.created_by,
        "created_at": doc.created_at.isoformat(),
        "updated_at": doc.updated_at.isoformat(),
    }


def _name(value: Any, fallback: str) -> str:
    if value is None:
        return fallback
    if not isinstance(value, str) or not value.strip():
        raise InvalidField("name: must be a non-empty string")
    if len(value) > MAX_NAME or "\x00" in value:
        raise InvalidField(f"name: at most {MAX_NAME} characters, no NUL")
    return value.strip()


def _sized(data: bytes, runtime: Runtime) -> bytes:
    most = runtime.knowledge_limits.max_document_bytes
    if len(data) > most:
        raise PayloadTooLarge(
            f"content: {len(data)} bytes; a document may have at most {most} "
            "(THREADLINE_KB_MAX_DOCUMENT_BYTES)"
        )
    return data


def _pdf(data: bytes) -> bytes:
    if not data.lstrip()[:5] == b"%PDF-":
        raise InvalidField("content: is not a PDF (it does not start with %PDF-)")
    return data


async def _checked_url(value: Any, runtime: Runtime) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_URL:
        raise InvalidField(
            f"url: must be an http(s) URL of at most {MAX_URL} characters"
        )
    try:
        url = httpx.URL(value.strip())
    except (httpx.InvalidURL, ValueError):
        raise InvalidField(f"url: {value!r} is not a URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidField("url: must be an http or https URL with a host")
    policy = HttpPolicy(allow_private=runtime.http_allow_private)
    try:
        await check_url(url, policy)
    except BlockedAddress as exc:
        raise AddressRefused(f"url: {exc}") from None
    except Exception:  # e.g. no DNS answer now: the fetch reports it
        pass
    return str(url)


async def _from_json(
    raw: Any, runtime: Runtime
) -> tuple[str, str, bytes | None, str | None]:
    """``(kind, name, content, url)`` of a JSON body."""
    if not isinstance(raw, dict):
        raise InvalidField("body: must be a JSON object")
    kind = raw.get("type", "url" if "url" in raw else None)
    if kind not in KINDS:
        raise InvalidField(f"type: must be one of {', '.join(KINDS)}")
    if kind == "url":
        url = await _checked_url(raw.get("url"), runtime)
        return kind, _name(raw.get("name"), url), None, url
    if kind == "pdf":
        encoded = raw.get("content_base64")
        if not isinstance(encoded, str) or not encoded:
            raise InvalidField("content_base64: a PDF is sent base64-encoded here")
        most = runtime.knowledge_limits.max_document_bytes
        if len(encoded) > most * 4 // 3 + 4:
            _sized(b"\x00" * (most + 1), runtime)
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidField("content_base64: is not valid base64") from None
        return (
            kind,
            _name(raw.get("name"), "document.pdf"),
            _pdf(_sized(data, runtime)),
            None,
        )
    content = raw.get("content")
    if not isinstance(content, str) or not content.strip():
        raise InvalidField(f"content: a {kind} document needs its text in 'content'")
    if "\x00" in content:
        raise InvalidField("content: must not contain NUL characters")
    data = _sized(content.encode("utf-8", "surrogatepass"), runtime)
    return kind, _name(raw.get("name"), f"document.{kind}"), data, None


def _from_upload(content_type: str | None, data: bytes, runtime: Runtime) -> str:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    kind = CONTENT_TYPES.get(media)
    if kind is None:
        known = ", ".join(CONTENT_TYPES)
        raise InvalidField(f"Content-Type: {media or 'none'}; send one of {known}")
    _sized(data, runtime)
    if not data.strip():
        raise InvalidField("body: the document is empty")
    if kind == "pdf":
        _pdf(data)
    elif kind in TEXT_KINDS:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidField("body: a text document must be UTF-8") from None
    return kind


async def _store(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    kb_id: str,
    kind: str,
    name: str,
    data: bytes | None,
    url: str | None,
) -> JsonDict:
    at = now()
    most = runtime.knowledge_limits.max_documents
    async with store.begin() as tx:
        await tx.lock(f"knowledge_bases:{caller.team_id}")
        await bases.get_doc(tx, caller, kb_id)
        if (
            await tx.documents(KIND).count(caller.team_id, {"logical_id": kb_id})
            >= most
        ):
            raise Conflict(
                f"knowledge base {kb_id!r} has {most} documents, the most this server "
                "allows (THREADLINE_KB_MAX_DOCUMENTS)",
                code="over_limit",
            )
        doc = Document(
            id=new_object_id(),
            team_id=caller.team_id,
            body={"name": name, "url": url, "size_bytes": len(data) if data else None},
            created_at=at,
            updated_at=at,
            created_by=caller.user_id,
            updated_by=caller.user_id,
            logical_id=kb_id,
            type=kind,
            name=name,
            status="queued",
            search_text=name.lower(),
        )
        await tx.documents(KIND).insert(doc)
        job = IngestJob(doc.id, caller.team_id, kb_id, "queued", at, at, payload=data)
        await tx.knowledge().add_job(job)
    ingest.kick(store, runtime)
    return render(doc)


async def add(
    store: Store, caller: Caller, runtime: Runtime, kb_id: str, raw: Any
) -> JsonDict:
    """Add a document from a JSON body (text, Markdown, HTML, base64 PDF, URL)."""
    async with store.begin() as tx:
        await bases.get_doc(tx, caller, kb_id)
    kind, name, data, url = await _from_json(raw, runtime)
    return await _store(store, caller, runtime, kb_id, kind, name, data, url)


async def upload(
    store: Store,
    caller: Caller,
    runtime: Runtime,
    kb_id: str,
    *,
    name: str | None,
    content_type: str | None,
    data: bytes,
) -> JsonDict:
    """Add a document sent as the raw request body, its kind by ``Content-Type``."""
    async with store.begin() as tx:
        await bases.get_doc(tx, caller, kb_id)
    kind = _from_upload(content_type, data, runtime)
    label = _name(name, f"document.{'md' if kind == 'markdown' else kind}")
    return await _store(store, caller, runtime, kb_id, kind, label, data, None)


async def _get_doc(
    tx: Transaction, caller: Caller, kb_id: str, doc_id: str
) -> Document:
    await bases.get_doc(tx, caller, kb_id)
    doc = None
    if is_object_id(doc_id):
        doc = await tx.documents(KIND).get(caller.team_id, doc_id)
    if doc is None or doc.logical_id != kb_id:
        raise NotFound(f"document {doc_id!r} not found in knowledge base {kb_id!r}")
    return doc


async def list_(
    store: Store, caller: Caller, kb_id: str, paging: Query
) -> tuple[list[JsonDict], int]:
    async with store.begin() as tx:
        await bases.get_doc(tx, caller, kb_id)
        query = Query(
            equals={"logical_id": kb_id},
            search=paging.search,
            page=paging.page,
            size=paging.size,
        )
        docs, total = await tx.documents(KIND).find(caller.team_id, query)
    return [render(d) for d in docs], total


async def get(store: Store, caller: Caller, kb_id: str, doc_id: str) -> JsonDict:
    async with store.begin() as tx:
        return render(await _get_doc(tx, caller, kb_id, doc_id))


async def delete(store: Store, caller: Caller, kb_id: str, doc_id: str) -> None:
    """Delete a document, its chunks and its job (a worker ingesting it drops
    its work: the job it holds is gone)."""
    async with store.begin() as tx:
        doc = await _get_doc(tx, caller, kb_id, doc_id)
        await tx.knowledge().delete_chunks(caller.team_id, kb_id, doc.id)
        await tx.knowledge().delete_job(caller.team_id, doc.id)
        await tx.documents(KIND).delete(caller.team_id, doc.id)
