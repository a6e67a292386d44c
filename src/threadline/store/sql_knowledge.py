"""Knowledge-base chunks and ingestion jobs in SQL.

Full-text search runs in the database: SQLite's FTS5 table ``kb_chunks_fts`` (bm25)
or PostgreSQL's ``tsv`` column (``ts_rank``), both made with the table
(``schema.kb_chunks``). Nearest vectors: sqlite-vec's ``vec_distance_cosine`` when
the extension is loaded into the SQLite connections (``dialect``), else an exact
cosine scan here, over the chunks of the knowledge bases asked (each bounded by the
operator's ``THREADLINE_KB_MAX_CHUNKS``).
"""

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from threadline.store import schema
from threadline.store.base import Chunk, IngestJob

_CLAIM_BATCH = 5

OFF_LOOP = {"sqlite_off_loop": True}
"""Searches scan a knowledge base: on SQLite they run on a thread (``sqlite_loop``)."""


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _to_chunk(row: Mapping[Any, Any]) -> Chunk:
    values = {f.name: row[f.name] for f in fields(Chunk)}
    values["created_at"] = _aware(values["created_at"])
    return Chunk(**values)


def _to_job(row: Mapping[Any, Any]) -> IngestJob:
    values = {f.name: row[f.name] for f in fields(IngestJob)}
    for name in ("created_at", "updated_at", "lease_until"):
        values[name] = _aware(values[name])
    return IngestJob(**values)


def unpack_vector(blob: bytes) -> list[float]:
    """A stored embedding (little-endian float32) as floats."""
    return list(struct.unpack(f"<{len(blob) // 4}f", blob))


def pack_vector(vector: Sequence[float]) -> bytes:
    """Floats as a stored embedding (sqlite-vec's float32 BLOB layout)."""
    return struct.pack(f"<{len(vector)}f", *vector)


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) != len(b):
        return -1.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


class SqlKnowledge:
    """``kb_chunks`` (and their full-text index) and ``kb_jobs``."""

    def __init__(self, conn: AsyncConnection, *, sqlite_vec: bool = False) -> None:
        self._conn = conn
        self._dialect = conn.dialect.name
        self._sqlite_vec = sqlite_vec and self._dialect == "sqlite"

    # ------------------------------------------------------------- chunks

    async def add_chunks(self, chunks: Sequence[Chunk]) -> None:
        rows = [
            {f.name: getattr(c, f.name) for f in fields(Chunk) if f.name != "id"}
            for c in chunks
        ]
        for start in range(0, len(rows), 500):
            await self._conn.execute(
                schema.kb_chunks.insert(), rows[start : start + 500]
            )

    async def delete_chunks(
        self, team_id: str, kb_id: str, document_id: str | None = None
    ) -> int:
        t = schema.kb_chunks
        conds = [t.c.team_id == team_id, t.c.kb_id == kb_id]
        if document_id is not None:
            conds.append(t.c.document_id == document_id)
        return (await self._conn.execute(delete(t).where(*conds))).rowcount

    async def count_chunks(self, team_id: str, kb_id: str) -> int:
        t = schema.kb_chunks
        stmt = select(func.count()).where(t.c.team_id == team_id, t.c.kb_id == kb_id)
        return int((await self._conn.execute(stmt)).scalar_one())

    async def chunks(self, team_id: str, ids: Sequence[int]) -> list[Chunk]:
        if not ids:
            return []
        t = schema.kb_chunks
        stmt = select(t).where(t.c.team_id == team_id, t.c.id.in_(list(ids)))
        rows = (await self._conn.execute(stmt)).mappings().all()
        by_id = {r["id"]: _to_chunk(r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    async def lexical(
        self, team_id: str, kb_ids: Sequence[str], terms: Sequence[str], limit: int
    ) -> list[int]:
        words = [w for w in terms if w.isalnum()]
        if not words or not kb_ids:
            return []
        params: dict[str, Any] = {"team": team_id, "kbs": list(kb_ids), "n": limit}
        if self._dialect == "sqlite":
            params["q"] = " OR ".join(f'"{w}"' for w in words)
            sql = (
                "SELECT c.id FROM kb_chunks_fts JOIN kb_chunks c "
                "ON c.id = kb_chunks_fts.rowid WHERE kb_chunks_fts MATCH :q "
                "AND c.team_id = :team AND c.kb_id IN :kbs "
                "ORDER BY bm25(kb_chunks_fts), c.id LIMIT :n"
            )
        else:
            params["q"] = " | ".join(words)
            sql = (
                "SELECT id FROM kb_chunks WHERE team_id = :team AND kb_id IN :kbs "
                "AND tsv @@ to_tsquery('english', :q) "
                "ORDER BY ts_rank(tsv, to_tsquery('english', :q)) DESC, id LIMIT :n"
            )
        stmt = text(sql).bindparams(bindparam("kbs", expanding=True))
        stmt = stmt.execution_options(**OFF_LOOP)
        return [int(r[0]) for r in (await self._conn.execute(stmt, params)).all()]

    def vector_search(self) -> str:
        return "sqlite-vec" if self._sqlite_vec else "exact"

    async def nearest(
        self,
        team_id: str,
        kb_ids: Sequence[str],
        model: str,
        vector: Sequence[float],
        limit: int,
    ) -> list[int]:
        if not kb_ids or not vector:
            return []
        t = schema.kb_chunks
        where = (
            t.c.team_id == team_id,
            t.c.kb_id.in_(list(kb_ids)),
            t.c.embedding_model == model,
            t.c.embedding.is_not(None),
        )
        if self._sqlite_vec:
            distance = func.vec_distance_cosine(t.c.embedding, pack_vector(vector))
            stmt = select(t.c.id).where(*where).order_by(distance, t.c.id).limit(limit)
            stmt = stmt.execution_options(**OFF_LOOP)
            return [int(i) for i in (await self._conn.execute(stmt)).scalars()]
        rows = (
            await self._conn.execute(
                select(t.c.id, t.c.embedding)
                .where(*where)
                .execution_options(**OFF_LOOP)
            )
        ).all()
        scored = [(-_cosine(unpack_vector(blob), vector), int(i)) for i, blob in rows]
        scored.sort()
        return [i for _, i in scored[:limit]]

    # --------------------------------------------------------------- jobs

    async def add_job(self, job: IngestJob) -> None:
        values = {f.name: getattr(job, f.name) for f in fields(IngestJob)}
        await self._conn.execute(schema.kb_jobs.insert(), values)

    async def get_job(self, team_id: str, job_id: str) -> IngestJob | None:
        t = schema.kb_jobs
        stmt = select(t).where(t.c.team_id == team_id, t.c.id == job_id)
        row = (await self._conn.execute(stmt)).mappings().first()
        return _to_job(row) if row is not None else None

    async def claim_job(
        self, worker_id: str, now: datetime, until: datetime
    ) -> IngestJob | None:
        t = schema.kb_jobs
        claimable = or_(
            t.c.status == "queued", (t.c.status == "running") & (t.c.lease_until < now)
        )
        stmt = select(t.c.id).where(claimable).order_by(t.c.created_at, t.c.id)
        ids = (await self._conn.execute(stmt.limit(_CLAIM_BATCH))).scalars().all()
        for job_id in ids:
            taken = await self._conn.execute(
                update(t)
                .where(t.c.id == job_id, claimable)
                .values(
                    status="running",
                    worker_id=worker_id,
                    lease_until=until,
                    attempts=t.c.attempts + 1,
                    updated_at=now,
                )
            )
            if taken.rowcount:
                row = (
                    (await self._conn.execute(select(t).where(t.c.id == job_id)))
                    .mappings()
                    .one()
                )
                return _to_job(row)
        return None

    async def delete_job(
        self, team_id: str, job_id: str, worker_id: str | None = None
    ) -> bool:
        t = schema.kb_jobs
        conds = [t.c.team_id == team_id, t.c.id == job_id]
        if worker_id is not None:
            conds.append(t.c.worker_id == worker_id)
        return (await self._conn.execute(delete(t).where(*conds))).rowcount > 0

    async def delete_jobs(self, team_id: str, kb_id: str) -> int:
        t = schema.kb_jobs
        stmt = delete(t).where(t.c.team_id == team_id, t.c.kb_id == kb_id)
        return (await self._conn.execute(stmt)).rowcount
