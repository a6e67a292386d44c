"""Durable ingestion of knowledge-base documents.

Each document has a job row (``kb_jobs``) written with it. Every process runs
:func:`ingest_forever` (``service.processes``; ``serve`` also starts a pass right
after a document is added, :func:`kick`). A pass claims the oldest claimable job
(queued, or running with a lease that ran out: its worker died), marks the
document ``processing``, then, outside any transaction: reads the text
(``extract``; a URL is fetched now), chunks it (``chunking``) and embeds the
chunks (when an embeddings model is configured). One transaction then records
the outcome, only if the job is still this worker's: the document's chunks
replaced, the document ``ready`` (or ``failed`` with the error) and the job
deleted. A worker that crashes mid-ingest leaves the job leased; when the lease
(:data:`LEASE`) runs out, another worker ingests the document again from its
stored bytes. A job claimed :data:`MAX_ATTEMPTS` times fails the document.
"""

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from threadline.providers.base import LLMError
from threadline.service.knowledge import bases
from threadline.service.knowledge.chunking import Piece, chunk_segments
from threadline.service.knowledge.extract import ExtractError, fetch, segments
from threadline.service.runtime import Runtime
from threadline.service.team.vendor_credentials import for_team
from threadline.store import Chunk, Document, IngestJob, Store
from threadline.store.sql_knowledge import pack_vector

log = logging.getLogger("threadline.knowledge")
JsonDict = dict[str, Any]
LEASE = timedelta(seconds=120)
MAX_ATTEMPTS = 3
POLL_SECONDS = 1.0


class IngestFailed(Exception):
    """The document cannot be ingested; the message is its ``error``."""


async def team_key(store: Store, team_id: str) -> str | None:
    """The team's OpenAI key (its ``openai`` vendor credential), if any."""
    creds = (await for_team(store, team_id)).credentials.get("openai") or {}
    return creds.get("api_key") or None


async def _text_of(
    doc: Document, job: IngestJob, runtime: Runtime
) -> tuple[str, list[tuple[str, JsonDict]]]:
    kind = str(doc.type)
    data = job.payload or b""
    if kind == "url":
        kind, data = await fetch(
            str(doc.body.get("url")),
            max_bytes=runtime.knowledge_limits.max_document_bytes,
            allow_private=runtime.http_allow_private,
            transport=runtime.http_transport,
        )
    return kind, segments(kind, data)


def _chunks(doc: Document, pieces: list[Piece], at: datetime) -> list[Chunk]:
    return [
        Chunk(
            team_id=doc.team_id,
            kb_id=str(doc.logical_id),
            document_id=doc.id,
            position=i,
            text=p.text,
            source={
                "document_id": doc.id,
                "document_name": doc.body.get("name"),
                "knowledge_base_id": doc.logical_id,
                "url": doc.body.get("url"),
                "position": i,
                "char_start": p.start,
                "char_end": p.end,
                **p.segment,
            },
            created_at=at,
        )
        for i, p in enumerate(pieces)
    ]


async def _embedded(
    store: Store, runtime: Runtime, team_id: str, chunks: list[Chunk]
) -> tuple[list[Chunk], JsonDict | None]:
    if runtime.embeddings is None or not chunks:
        return chunks, None
    key = await team_key(store, team_id)
    try:
        got = await runtime.embeddings.embed([c.text for c in chunks], team_key=key)
    except LLMError as exc:
        raise IngestFailed(f"embedding the chunks failed: {exc.message}") from None
    usage = {
        "model": got.model,
        "input_tokens": got.input_tokens,
        "requests": got.requests,
        "cost_usd": got.cost_usd,
    }
    out = [
        replace(c, embedding_model=got.model, embedding=pack_vector(v))
        for c, v in zip(chunks, got.vectors, strict=True)
    ]
    return out, usage


async def _prepare(
    store: Store, runtime: Runtime, doc: Document, job: IngestJob
) -> tuple[list[Chunk], JsonDict]:
    limits = runtime.knowledge_limits
    if job.attempts > MAX_ATTEMPTS:
        raise IngestFailed(
            f"ingestion was interrupted {MAX_ATTEMPTS} times (the worker stopped "
            "while ingesting this document)"
        )
    try:
        kind, parts = await _text_of(doc, job, runtime)
    except ExtractError as exc:
        raise IngestFailed(str(exc)) from None
    pieces = chunk_segments(parts, limits.chunk_chars, limits.chunk_overlap_chars)
    async with store.begin() as tx:
        have = await tx.knowledge().count_chunks(doc.team_id, str(doc.logical_id))
    if have + len(pieces) > limits.max_chunks:
        raise IngestFailed(
            f"the document makes {len(pieces)} chunks and the knowledge base has "
            f"{have}; it may have at most {limits.max_chunks} "
            "(THREADLINE_KB_MAX_CHUNKS)"
        )
    chunks, usage = await _embedded(
        store, runtime, doc.team_id, _chunks(doc, pieces, _now())
    )
    info: JsonDict = {"chunk_count": len(chunks), "embeddings": usage, "error": None}
    if kind == "pdf":
        info["pages"] = len(parts)
    if doc.type == "url":
        info["content_kind"] = kind
    return chunks, info


def _now() -> datetime:
    return datetime.now(UTC)


async def _record(
    store: Store, runtime: Runtime, job: IngestJob, chunks: list[Chunk], info: JsonDict
) -> None:
    async with store.begin() as tx:
        kb = tx.knowledge()
        if not await kb.delete_job(job.team_id, job.id, worker_id=runtime.worker_id):
            return  # deleted, or taken over by another worker: theirs to record
        doc = await tx.documents(bases.DOCUMENTS).get(job.team_id, job.id)
        if doc is None:
            return
        await kb.delete_chunks(job.team_id, job.kb_id, job.id)
        await kb.add_chunks(chunks)
        status = "failed" if info.get("error") else "ready"
        body = {**doc.body, **info}
        await tx.documents(bases.DOCUMENTS).replace(
            replace(doc, body=body, status=status, updated_at=_now())
        )


async def ingest_one(store: Store, runtime: Runtime) -> bool:
    """Claim and ingest one job; False when none was claimable."""
    now = _now()
    async with store.begin() as tx:
        job = await tx.knowledge().claim_job(runtime.worker_id, now, now + LEASE)
        doc = None
        if job is not None:
            doc = await tx.documents(bases.DOCUMENTS).get(job.team_id, job.id)
            if doc is None:
                await tx.knowledge().delete_job(job.team_id, job.id)
            else:
                await tx.documents(bases.DOCUMENTS).set_status(
                    job.team_id, doc.id, "processing", expected_status=doc.status,
                    at=now, by=None,
                )  # fmt: skip
    if job is None:
        return False
    if doc is None:
        return True
    try:
        chunks, info = await _prepare(store, runtime, doc, job)
    except IngestFailed as exc:
        chunks, info = [], {"error": str(exc), "chunk_count": 0}
    except Exception as exc:  # a bug must fail the document, not the worker loop
        log.exception("ingesting knowledge-base document %s failed", job.id)
        chunks, info = (
            [],
            {"error": f"ingestion failed: {type(exc).__name__}", "chunk_count": 0},
        )
    await _record(store, runtime, job, chunks, info)
    return True


async def run_pending(store: Store, runtime: Runtime, limit: int = 1_000) -> int:
    """Ingest claimable jobs until none is left (or ``limit``); how many."""
    done = 0
    while done < limit and await ingest_one(store, runtime):
        done += 1
    return done


def kick(store: Store, runtime: Runtime) -> None:
    """Start a pass now in this process (after a document is added)."""
    runtime.spawn(_quiet_pass(store, runtime))


async def _quiet_pass(store: Store, runtime: Runtime) -> None:
    try:
        await run_pending(store, runtime)
    except Exception:  # the loop retries; a request never fails for it
        log.exception("knowledge-base ingestion pass failed")


async def ingest_forever(store: Store, runtime: Runtime) -> None:
    """Ingest pending documents every :data:`POLL_SECONDS` (``serve``, ``worker``)."""
    while True:
        await _quiet_pass(store, runtime)
        await asyncio.sleep(POLL_SECONDS)
