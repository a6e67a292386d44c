"""The knowledge-base part of the store contract (SQLite, and PostgreSQL in CI)."""

from datetime import UTC, datetime, timedelta

from threadline.ids import new_object_id
from threadline.store import Chunk, IngestJob, Store, dialect
from threadline.store.sql_knowledge import pack_vector

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def chunk(
    team: str, kb: str, doc: str, position: int, text: str, **kw: object
) -> Chunk:
    values: dict[str, object] = {
        "team_id": team,
        "kb_id": kb,
        "document_id": doc,
        "position": position,
        "text": text,
        "source": {"document_name": "doc.md", "position": position},
        "created_at": T0,
    }
    values.update(kw)
    return Chunk(**values)  # type: ignore[arg-type]  # test helper with loose kwargs


async def test_chunks_read_back_with_their_source_and_are_found_by_their_words(
    store: Store,
):
    team, doc = new_object_id(), new_object_id()
    async with store.begin() as tx:
        await tx.knowledge().add_chunks(
            [
                chunk(team, "kb1", doc, 0, "Refunds are paid within fourteen days."),
                chunk(team, "kb1", doc, 1, "Our office opens at nine in the morning."),
                chunk(team, "kb2", doc, 0, "Refunds for damaged parcels are doubled."),
            ]
        )
    async with store.begin() as tx:
        kb = tx.knowledge()
        found = await kb.lexical(team, ["kb1"], ["when", "refunds", "paid"], 10)
        assert len(found) == 1
        [got] = await kb.chunks(team, found)
        assert got.text == "Refunds are paid within fourteen days."
        assert got.source == {"document_name": "doc.md", "position": 0}
        assert got.position == 0 and got.kb_id == "kb1" and got.document_id == doc
        both = await kb.lexical(team, ["kb1", "kb2"], ["refunds"], 10)
        assert len(both) == 2
        # stemming: "opening" finds "opens"
        assert len(await kb.lexical(team, ["kb1"], ["opening"], 10)) == 1
        assert await kb.lexical(team, ["kb1"], ["zebra"], 10) == []
        assert await kb.count_chunks(team, "kb1") == 2


async def test_a_better_match_ranks_first_and_the_limit_holds(store: Store):
    team, doc = new_object_id(), new_object_id()
    async with store.begin() as tx:
        await tx.knowledge().add_chunks(
            [
                chunk(team, "kb", doc, 0, "parking is free"),
                chunk(team, "kb", doc, 1, "parking permits: parking for staff parking"),
                chunk(team, "kb", doc, 2, "nothing relevant here"),
            ]
        )
    async with store.begin() as tx:
        kb = tx.knowledge()
        ids = await kb.lexical(team, ["kb"], ["parking", "permits"], 10)
        [first, second] = await kb.chunks(team, ids)
        assert first.position == 1 and second.position == 0
        assert len(await kb.lexical(team, ["kb"], ["parking"], 1)) == 1


async def test_another_team_sees_no_chunk_and_deletes_none(store: Store):
    team, intruder, doc = new_object_id(), new_object_id(), new_object_id()
    async with store.begin() as tx:
        await tx.knowledge().add_chunks([chunk(team, "kb", doc, 0, "secret plans")])
    async with store.begin() as tx:
        kb = tx.knowledge()
        assert await kb.lexical(intruder, ["kb"], ["secret"], 10) == []
        ids = await kb.lexical(team, ["kb"], ["secret"], 10)
        assert await kb.chunks(intruder, ids) == []
        assert await kb.delete_chunks(intruder, "kb") == 0
        assert await kb.count_chunks(team, "kb") == 1


async def test_deleting_a_documents_chunks_removes_them_from_the_search(store: Store):
    team, doc1, doc2 = new_object_id(), new_object_id(), new_object_id()
    async with store.begin() as tx:
        await tx.knowledge().add_chunks(
            [
                chunk(team, "kb", doc1, 0, "alpha beta"),
                chunk(team, "kb", doc2, 0, "alpha"),
            ]
        )
    async with store.begin() as tx:
        assert await tx.knowledge().delete_chunks(team, "kb", doc1) == 1
    async with store.begin() as tx:
        kb = tx.knowledge()
        [left] = await kb.chunks(team, await kb.lexical(team, ["kb"], ["alpha"], 10))
        assert left.document_id == doc2
        assert await kb.lexical(team, ["kb"], ["beta"], 10) == []


async def test_nearest_orders_by_cosine_and_keeps_to_the_model(store: Store):
    team, doc = new_object_id(), new_object_id()
    rows = [
        chunk(
            team, "kb", doc, 0, "a", embedding_model="m", embedding=pack_vector([1, 0])
        ),
        chunk(
            team, "kb", doc, 1, "b", embedding_model="m", embedding=pack_vector([0, 1])
        ),
        chunk(
            team, "kb", doc, 2, "c", embedding_model="m", embedding=pack_vector([1, 1])
        ),
        chunk(
            team,
            "kb",
            doc,
            3,
            "d",
            embedding_model="other",
            embedding=pack_vector([1, 0]),
        ),
        chunk(team, "kb", doc, 4, "e"),
    ]
    async with store.begin() as tx:
        await tx.knowledge().add_chunks(rows)
    async with store.begin() as tx:
        kb = tx.knowledge()
        ids = await kb.nearest(team, ["kb"], "m", [1.0, 0.1], 10)
        got = [c.text for c in await kb.chunks(team, ids)]
        assert got == ["a", "c", "b"]
        assert await kb.nearest(new_object_id(), ["kb"], "m", [1.0, 0.0], 10) == []
        assert kb.vector_search() in ("exact", "sqlite-vec", "pgvector")


def job(team: str, **kw: object) -> IngestJob:
    values: dict[str, object] = {
        "id": new_object_id(),
        "team_id": team,
        "kb_id": "kb",
        "status": "queued",
        "created_at": T0,
        "updated_at": T0,
        "payload": b"%PDF-bytes\x00\xff",
    }
    values.update(kw)
    return IngestJob(**values)  # type: ignore[arg-type]  # test helper


async def test_a_job_is_claimed_once_until_its_lease_runs_out(store: Store):
    team = new_object_id()
    queued = job(team)
    async with store.begin() as tx:
        await tx.knowledge().add_job(queued)
    now = datetime.now(UTC) + timedelta(days=3650)  # after every other test's jobs
    async with store.begin() as tx:
        claimed = await _claim_mine(tx.knowledge(), "w1", now, queued.id)
    assert claimed is not None
    assert claimed.status == "running" and claimed.worker_id == "w1"
    assert claimed.attempts == 1 and claimed.payload == b"%PDF-bytes\x00\xff"
    async with store.begin() as tx:
        # leased: another worker does not get it before the lease ends
        assert await _claim_mine(tx.knowledge(), "w2", now, queued.id) is None
        later = now + timedelta(minutes=10)
        again = await _claim_mine(tx.knowledge(), "w2", later, queued.id)
    assert again is not None and again.worker_id == "w2" and again.attempts == 2
    async with store.begin() as tx:
        kb = tx.knowledge()
        assert not await kb.delete_job(team, queued.id, worker_id="w1")
        assert not await kb.delete_job(new_object_id(), queued.id)
        assert await kb.delete_job(team, queued.id, worker_id="w2")
        assert await kb.get_job(team, queued.id) is None


async def _claim_mine(kb, worker: str, now: datetime, job_id: str):
    """Claim jobs until ours comes (other tests' jobs may be queued too)."""
    until = now + timedelta(minutes=5)
    while True:
        got = await kb.claim_job(worker, now, until)
        if got is None or got.id == job_id:
            return got


async def test_a_knowledge_bases_jobs_are_deleted_with_it(store: Store):
    team = new_object_id()
    first, second = job(team), job(team, kb_id="other")
    async with store.begin() as tx:
        await tx.knowledge().add_job(first)
        await tx.knowledge().add_job(second)
    async with store.begin() as tx:
        assert await tx.knowledge().delete_jobs(new_object_id(), "kb") == 0
        assert await tx.knowledge().delete_jobs(team, "kb") == 1
        assert await tx.knowledge().get_job(team, first.id) is None
        assert await tx.knowledge().get_job(team, second.id) is not None


async def test_vectors_are_compared_by_sqlite_vec_where_this_python_can_load_it(
    store: Store,
):
    async with store.begin() as tx:
        kind = tx.knowledge().vector_search()
    if store.dialect == "sqlite":
        assert kind == ("sqlite-vec" if dialect._probe_sqlite_vec() else "exact")
    else:
        assert kind == "exact"
