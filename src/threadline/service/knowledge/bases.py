"""Knowledge bases: create, list, get, delete (team-scoped).

One ``knowledge_bases`` document each; its ``logical_id`` is the public id: one
the team chooses at creation (``id``: letters, digits, ``_ . -``, at most 100
characters, unique in the team, e.g. ``kb_cigna_policies_001`` as workflows name
them in ``target_knowledge_base_ids``) or a fresh 24-hex id. Deleting one deletes
its documents, chunks and pending ingestion jobs in the same transaction.
"""

import re
from dataclasses import replace
from typing import Any

from threadline.errors import Conflict, InvalidField, NotFound
from threadline.ids import new_object_id
from threadline.service.caller import Caller
from threadline.service.definitions.workflows import now
from threadline.service.runtime import Runtime
from threadline.store import Document, Query, Store, Transaction

JsonDict = dict[str, Any]
KIND = "knowledge_bases"
DOCUMENTS = "kb_documents"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
MAX_NAME = 200
MAX_DESCRIPTION = 2_000


def _text(body: JsonDict, name: str, most: int, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidField(f"{name}: must be a non-empty string")
    if len(value) > most or "\x00" in value:
        raise InvalidField(f"{name}: at most {most} characters, no NUL")
    return value.strip() if required else value


def _search_text(kb_id: str, name: Any, description: Any) -> str:
    return f"{kb_id} {name} {description or ''}".lower()


def _body(raw: Any) -> JsonDict:
    if not isinstance(raw, dict):
        raise InvalidField("body: must be a JSON object")
    return raw


async def find(tx: Transaction, team_id: str, kb_id: Any) -> Document | None:
    """The team's knowledge base with public id ``kb_id`` (None: no such)."""
    if not isinstance(kb_id, str) or not _ID.match(kb_id):
        return None
    docs, _ = await tx.documents(KIND).find(
        team_id, Query(equals={"logical_id": kb_id}, size=1)
    )
    return docs[0] if docs else None


async def get_doc(tx: Transaction, caller: Caller, kb_id: str) -> Document:
    doc = await find(tx, caller.team_id, kb_id)
    if doc is None:
        raise NotFound(f"knowledge base {kb_id!r} not found")
    return doc


async def render(tx: Transaction, doc: Document, runtime: Runtime) -> JsonDict:
    """The API shape of a knowledge base, with its counts."""
    kb_id = str(doc.logical_id)
    count = await tx.documents(DOCUMENTS).count(doc.team_id, {"logical_id": kb_id})
    chunks = await tx.knowledge().count_chunks(doc.team_id, kb_id)
    model = runtime.embeddings.model if runtime.embeddings else None
    return {
        "id": kb_id,
        "name": doc.body.get("name"),
        "description": doc.body.get("description"),
        "team_id": doc.team_id,
        "document_count": count,
        "chunk_count": chunks,
        "embeddings_model": model,
        "created_by": doc.created_by,
        "created_at": doc.created_at.isoformat(),
        "updated_at": doc.updated_at.isoformat(),
    }


async def create(store: Store, caller: Caller, runtime: Runtime, raw: Any) -> JsonDict:
    """Create a knowledge base (409 for a taken id or past the team's ceiling)."""
    body = _body(raw)
    name = _text(body, "name", MAX_NAME, required=True)
    description = _text(body, "description", MAX_DESCRIPTION, required=False)
    kb_id = body.get("id")
    if kb_id is None:
        kb_id = new_object_id()
    elif not isinstance(kb_id, str) or not _ID.match(kb_id):
        raise InvalidField(
            "id: letters, digits, '_', '.' and '-' (at most 100 characters, "
            "starting with a letter or digit)"
        )
    most = runtime.knowledge_limits.max_knowledge_bases
    at = now()
    async with store.begin() as tx:
        await tx.lock(f"knowledge_bases:{caller.team_id}")
        if await find(tx, caller.team_id, kb_id) is not None:
            raise Conflict(f"id: the team already has a knowledge base {kb_id!r}")
        if await tx.documents(KIND).count(caller.team_id, {}) >= most:
            raise Conflict(
                f"the team has {most} knowledge bases, the most this server allows "
                "(THREADLINE_KB_MAX_KNOWLEDGE_BASES)",
                code="over_limit",
            )
        doc = Document(
            id=new_object_id(),
            team_id=caller.team_id,
            body={"name": name, "description": description},
            created_at=at,
            updated_at=at,
            created_by=caller.user_id,
            updated_by=caller.user_id,
            logical_id=kb_id,
            name=name,
            search_text=_search_text(kb_id, name, description),
        )
        await tx.documents(KIND).insert(doc)
        return await render(tx, doc, runtime)


async def list_(
    store: Store, caller: Caller, runtime: Runtime, paging: Query
) -> tuple[list[JsonDict], int]:
    async with store.begin() as tx:
        docs, total = await tx.documents(KIND).find(caller.team_id, paging)
        return [await render(tx, d, runtime) for d in docs], total


async def get(store: Store, caller: Caller, runtime: Runtime, kb_id: str) -> JsonDict:
    async with store.begin() as tx:
        return await render(tx, await get_doc(tx, caller, kb_id), runtime)


async def update(
    store: Store, caller: Caller, runtime: Runtime, kb_id: str, raw: Any
) -> JsonDict:
    """Rename or redescribe a knowledge base (its id never changes)."""
    body = _body(raw)
    async with store.begin() as tx:
        doc = await get_doc(tx, caller, kb_id)
        values = dict(doc.body)
        if "name" in body:
            values["name"] = _text(body, "name", MAX_NAME, required=True)
        if "description" in body:
            values["description"] = _text(
                body, "description", MAX_DESCRIPTION, required=False
            )
        doc = replace(
            doc,
            body=values,
            name=values["name"],
            updated_at=now(),
            updated_by=caller.user_id,
            search_text=_search_text(kb_id, values["name"], values["description"]),
        )
        await tx.documents(KIND).replace(doc)
        return await render(tx, doc, runtime)


async def delete(store: Store, caller: Caller, kb_id: str) -> None:
    """Delete a knowledge base with its documents, chunks and jobs."""
    async with store.begin() as tx:
        doc = await get_doc(tx, caller, kb_id)
        await tx.knowledge().delete_chunks(caller.team_id, kb_id)
        await tx.knowledge().delete_jobs(caller.team_id, kb_id)
        await tx.documents(DOCUMENTS).delete_where(
            caller.team_id, {"logical_id": kb_id}
        )
        await tx.documents(KIND).delete(caller.team_id, doc.id)
