"""Durable ingestion: a job is never lost, a crashed worker's job is taken over
once its lease runs out, a late write of the dead worker changes nothing."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from threadline.ids import new_object_id
from threadline.providers.fake import ScriptedLLM
from threadline.service.caller import Caller
from threadline.service.knowledge import bases, documents, ingest, search
from threadline.service.runtime import Runtime
from threadline.store import IngestJob, Store
from threadline.tools.knowledge import KnowledgeLimits


@pytest.fixture(autouse=True)
def no_kick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding a document starts no pass here: the tests play the workers."""
    monkeypatch.setattr(ingest, "kick", lambda store, runtime: None)


def worker(name: str) -> Runtime:
    return Runtime(llm=ScriptedLLM(), worker_id=name)


async def add_doc(
    store: Store, text: str = "The lobby opens at seven."
) -> tuple[Caller, Any]:
    caller = Caller(new_object_id(), new_object_id())
    runtime = worker("api")
    await bases.create(store, caller, runtime, {"id": "kb", "name": "KB"})
    doc = await documents.add(
        store, caller, runtime, "kb", {"type": "text", "content": text}
    )
    return caller, doc


async def claim(store: Store, name: str, job_id: str, *, at: datetime) -> IngestJob:
    """``name`` claims the job (skipping other tests' jobs) at ``at``."""
    while True:
        async with store.begin() as tx:
            got = await tx.knowledge().claim_job(name, at, at + ingest.LEASE)
        assert got is not None, "the job was not claimable"
        if got.id == job_id:
            return got


async def status(store: Store, caller: Caller, doc_id: str) -> dict[str, Any]:
    return await documents.get(store, caller, "kb", doc_id)


async def test_a_job_left_by_a_crashed_worker_is_ingested_after_its_lease(
    store: Store,
):
    caller, doc = await add_doc(store)
    assert doc["status"] == "queued"
    # worker A claimed it 200 s ago and died (its lease ran out 80 s ago)
    dead = await claim(
        store, "w-dead", doc["id"], at=datetime.now(UTC) - timedelta(seconds=200)
    )
    assert dead.worker_id == "w-dead"
    await ingest.run_pending(store, worker("w-live"))
    got = await status(store, caller, doc["id"])
    assert got["status"] == "ready" and got["chunk_count"] == 1
    found = await search.hybrid(store, worker("x"), caller.team_id, ["kb"], "lobby", 5)
    assert [r["text"] for r in found["results"]] == ["The lobby opens at seven."]
    # the dead worker wakes up and records its (stale) outcome: nothing changes
    await ingest._record(store, worker("w-dead"), dead, [], {"error": "late"})
    assert (await status(store, caller, doc["id"]))["status"] == "ready"


async def test_a_job_still_leased_is_left_to_its_worker(store: Store):
    caller, doc = await add_doc(store)
    await claim(store, "w-busy", doc["id"], at=datetime.now(UTC))
    await ingest.run_pending(store, worker("w-other"))
    got = await status(store, caller, doc["id"])
    assert got["status"] == "queued" and got["chunk_count"] == 0
    async with store.begin() as tx:
        job = await tx.knowledge().get_job(caller.team_id, doc["id"])
    assert job is not None and job.worker_id == "w-busy"


async def test_a_document_that_keeps_killing_its_worker_fails_with_a_clear_error(
    store: Store,
):
    caller, doc = await add_doc(store)
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    for attempt in range(ingest.MAX_ATTEMPTS):
        at = long_ago + timedelta(seconds=attempt * 300)
        await claim(store, f"w-{attempt}", doc["id"], at=at)
    await ingest.run_pending(store, worker("w-last"))
    got = await status(store, caller, doc["id"])
    assert got["status"] == "failed"
    assert "interrupted 3 times" in got["error"]


async def test_reingesting_replaces_the_chunks_instead_of_adding_to_them(
    store: Store,
):
    caller, doc = await add_doc(store)
    job = await claim(
        store, "w-a", doc["id"], at=datetime.now(UTC) - timedelta(hours=1)
    )
    async with store.begin() as tx:
        stored = await tx.documents(bases.DOCUMENTS).get(caller.team_id, doc["id"])
    assert stored is not None
    # chunks already recorded for the document (an earlier ingestion), then the
    # job runs again: the document still has its one chunk, not two
    runtime = worker("w-b")
    chunks, info = await ingest._prepare(store, runtime, stored, job)
    async with store.begin() as tx:
        await tx.knowledge().add_chunks(chunks)  # as if a first recording happened
    await ingest.run_pending(store, runtime)
    async with store.begin() as tx:
        assert await tx.knowledge().count_chunks(caller.team_id, "kb") == 1
    assert info["chunk_count"] == 1


async def test_a_document_deleted_while_queued_leaves_no_job(store: Store):
    caller, doc = await add_doc(store)
    await documents.delete(store, caller, "kb", doc["id"])
    async with store.begin() as tx:
        assert await tx.knowledge().get_job(caller.team_id, doc["id"]) is None


async def test_the_chunk_ceiling_fails_the_document_naming_the_setting(store: Store):
    caller, doc = await add_doc(store, "word " * 600)
    runtime = worker("w")
    runtime.knowledge_limits = KnowledgeLimits(
        max_chunks=2, chunk_chars=200, chunk_overlap_chars=0
    )
    await ingest.run_pending(store, runtime)
    got = await status(store, caller, doc["id"])
    assert got["status"] == "failed"
    assert "THREADLINE_KB_MAX_CHUNKS" in got["error"]
    async with store.begin() as tx:
        assert await tx.knowledge().count_chunks(caller.team_id, "kb") == 0
