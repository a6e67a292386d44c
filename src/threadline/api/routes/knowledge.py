"""Knowledge bases (our extension, in the Interactly style): ``/knowledge-bases``.

Single objects come wrapped (``{"knowledge_base": ...}``, ``{"document": ...}``),
lists as ``{"knowledge_bases" | "documents": [...], "total", "page", "size"}``.
Documents are added from JSON (``POST .../documents``) or as a raw body
(``POST .../documents/upload?name=...`` with ``Content-Type: application/pdf``,
``text/plain``, ``text/markdown`` or ``text/html``); both answer 202 with the
document ``queued`` for ingestion. See docs/knowledge-bases.md.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from threadline.api.deps import CallerDep, PagingDep, StoreDep, get_runtime
from threadline.api.routes.common import JsonBody
from threadline.service.knowledge import bases, documents, search

router = APIRouter(tags=["knowledge_bases"])
BASE = "/knowledge-bases"
AnyBody = Annotated[Any, Body()]


@router.post(BASE, name="create_knowledge_base")
async def create(
    request: Request, store: StoreDep, caller: CallerDep, body: AnyBody
) -> JsonBody:
    """Create a knowledge base (``name``, optional ``description`` and ``id``)."""
    runtime = get_runtime(request)
    return {"knowledge_base": await bases.create(store, caller, runtime, body)}


@router.get(BASE, name="list_knowledge_bases")
async def list_(
    request: Request, store: StoreDep, caller: CallerDep, paging: PagingDep
) -> JsonBody:
    """The team's knowledge bases (``page``, ``size``, ``search``)."""
    items, total = await bases.list_(store, caller, get_runtime(request), paging)
    return {
        "knowledge_bases": items,
        "total": total,
        "page": paging.page,
        "size": paging.size,
    }


@router.get(f"{BASE}/{{kb_id}}", name="get_knowledge_base")
async def get(
    request: Request, store: StoreDep, caller: CallerDep, kb_id: str
) -> JsonBody:
    """One knowledge base, with its document and chunk counts."""
    runtime = get_runtime(request)
    return {"knowledge_base": await bases.get(store, caller, runtime, kb_id)}


@router.patch(f"{BASE}/{{kb_id}}", name="update_knowledge_base")
async def update(
    request: Request, store: StoreDep, caller: CallerDep, kb_id: str, body: AnyBody
) -> JsonBody:
    """Change ``name`` or ``description``."""
    runtime = get_runtime(request)
    kb = await bases.update(store, caller, runtime, kb_id, body)
    return {"knowledge_base": kb}


@router.delete(f"{BASE}/{{kb_id}}", status_code=204, name="delete_knowledge_base")
async def delete(store: StoreDep, caller: CallerDep, kb_id: str) -> Response:
    """Delete a knowledge base with its documents and chunks."""
    await bases.delete(store, caller, kb_id)
    return Response(status_code=204)


@router.post(
    f"{BASE}/{{kb_id}}/documents/upload",
    status_code=202,
    name="upload_knowledge_base_document",
)
async def upload(
    request: Request,
    store: StoreDep,
    caller: CallerDep,
    kb_id: str,
    name: str | None = None,
) -> JsonBody:
    """Add the raw request body as a document; its kind by ``Content-Type``."""
    data = await request.body()
    document = await documents.upload(
        store,
        caller,
        get_runtime(request),
        kb_id,
        name=name,
        content_type=request.headers.get("content-type"),
        data=data,
    )
    return {"document": document}


@router.post(
    f"{BASE}/{{kb_id}}/documents", status_code=202, name="add_knowledge_base_document"
)
async def add(
    request: Request, store: StoreDep, caller: CallerDep, kb_id: str, body: AnyBody
) -> JsonBody:
    """Add a document: ``{type, name, content | content_base64 | url}``."""
    runtime = get_runtime(request)
    return {"document": await documents.add(store, caller, runtime, kb_id, body)}


@router.get(f"{BASE}/{{kb_id}}/documents", name="list_knowledge_base_documents")
async def list_documents(
    store: StoreDep, caller: CallerDep, kb_id: str, paging: PagingDep
) -> JsonBody:
    """The knowledge base's documents, with their ingestion status and error."""
    items, total = await documents.list_(store, caller, kb_id, paging)
    return {
        "documents": items,
        "total": total,
        "page": paging.page,
        "size": paging.size,
    }


@router.get(
    f"{BASE}/{{kb_id}}/documents/{{document_id}}", name="get_knowledge_base_document"
)
async def get_document(
    store: StoreDep, caller: CallerDep, kb_id: str, document_id: str
) -> JsonBody:
    """One document: status (queued, processing, ready, failed), error, counts."""
    return {"document": await documents.get(store, caller, kb_id, document_id)}


@router.delete(
    f"{BASE}/{{kb_id}}/documents/{{document_id}}",
    status_code=204,
    name="delete_knowledge_base_document",
)
async def delete_document(
    store: StoreDep, caller: CallerDep, kb_id: str, document_id: str
) -> Response:
    """Delete a document and its chunks."""
    await documents.delete(store, caller, kb_id, document_id)
    return Response(status_code=204)


@router.post(f"{BASE}/{{kb_id}}/search", name="search_knowledge_base")
async def search_(
    request: Request, store: StoreDep, caller: CallerDep, kb_id: str, body: AnyBody
) -> JsonBody:
    """Hybrid search: ``{query, top_k}`` -> ``{query, results, retrieval}``."""
    return await search.search(store, caller, get_runtime(request), kb_id, body)
